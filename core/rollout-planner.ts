import type { DeploymentGroup, MergedRolloutOptions, RolloutReason, RolloutStep } from "./deployment-group.ts"
import type { DomainEvent } from "./events.ts"
import { allSelectorsMatch } from "./host-selector.ts"
import type { HostName } from "./ids.ts"
import type { JobId } from "./job.ts"
import { sortedNaturally } from "./natural-order.ts"
import type { FleetState, GroupRecord } from "./state.ts"

/*
 * Helios's rollout planning (HostMatcher, RollingUpdatePlanner, RollingUndeployPlanner,
 * getInitRollingUpdateOps), pure: which hosts a group has, and the steps of a rollout to them.
 */

/** A host as the planner sees it. `labels` undefined: not known (no host info), so it neither matches nor counts as having left. */
export interface HostView {
  readonly name: HostName
  readonly labels: Readonly<Record<string, string>> | undefined
  readonly up: boolean
}

/** The hosts (up or down) matching every selector of the group, in Helios's order. No selectors: none. */
export const matchingHosts = (group: DeploymentGroup, hosts: ReadonlyArray<HostView>): HostName[] =>
  group.hostSelectors.length === 0
    ? []
    : (sortedNaturally(hosts.filter((h) => h.labels !== undefined && allSelectorsMatch(group.hostSelectors, h.labels)).map((h) => h.name)) as HostName[])

export interface RolloutPlan {
  /** Every matching host, up or down (what RolloutStarted records as the group's hosts). */
  readonly hosts: ReadonlyArray<HostName>
  /** Matching hosts that are up: the ones the rollout deploys to, in order. */
  readonly targets: ReadonlyArray<HostName>
  /** Up hosts that carry a deployment of the group but no longer match: they are undeployed first. */
  readonly leaving: ReadonlyArray<HostName>
  /** The steps by partition of at most `parallelism` hosts: the hosts that left first, then the targets. */
  readonly partitions: ReadonlyArray<{ readonly hosts: ReadonlyArray<HostName>; readonly steps: ReadonlyArray<RolloutStep> }>
  /** All steps in order (the partitions' steps, concatenated). */
  readonly steps: ReadonlyArray<RolloutStep>
  /** With a canary smaller than the targets: the index of the first step after the canary hosts' steps. */
  readonly canaryUntilStep?: number
}

const chunks = <T>(xs: ReadonlyArray<T>, size: number): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size))
  return out
}

/** Steps of one partition of targets (Helios's RollingUpdatePlanner). */
const updateSteps = (hosts: ReadonlyArray<HostName>, overlap: boolean): RolloutStep[] =>
  overlap
    ? [
        ...hosts.map((host): RolloutStep => ({ host, kind: "DEPLOY_NEW_JOB" })),
        ...hosts.map((host): RolloutStep => ({ host, kind: "AWAIT_RUNNING" })),
        ...hosts.map((host): RolloutStep => ({ host, kind: "UNDEPLOY_OLD_JOBS" })),
      ]
    : [
        ...hosts.flatMap((host): RolloutStep[] => [
          { host, kind: "UNDEPLOY_OLD_JOBS" },
          { host, kind: "DEPLOY_NEW_JOB" },
        ]),
        ...hosts.map((host): RolloutStep => ({ host, kind: "AWAIT_RUNNING" })),
      ]

/**
 * The plan of a rollout of `group` with `options` over `hosts` (every registered host, with its
 * labels and whether it is up) given the fleet state. Only up hosts get steps (Helios). Hosts that
 * left are found from the deployments the group made, so a host that left while down is undeployed
 * by the first rollout after it comes back up.
 */
export const planRollout = (
  group: DeploymentGroup,
  hosts: ReadonlyArray<HostView>,
  state: FleetState,
  options: Pick<MergedRolloutOptions, "parallelism" | "overlap" | "canary">,
): RolloutPlan => planOverHosts(group.name, matchingHosts(group, hosts), hosts, state, options)

/**
 * The plan over hosts already matched (`matching`, in order), e.g. the hosts a failed rollout
 * covered, which its automatic rollback restores. With a canary of N, the first N targets form
 * their own partitions, before the others.
 */
export const planOverHosts = (
  groupName: string,
  matching: ReadonlyArray<HostName>,
  hosts: ReadonlyArray<HostView>,
  state: FleetState,
  options: Pick<MergedRolloutOptions, "parallelism" | "overlap" | "canary">,
): RolloutPlan => {
  const group = { name: groupName }
  const matched = new Set<string>(matching)
  const up = new Set(hosts.filter((h) => h.up).map((h) => h.name as string))
  const targets = matching.filter((h) => up.has(h))
  const known = new Set(hosts.filter((h) => h.labels !== undefined).map((h) => h.name as string))
  const leaving = sortedNaturally(
    [...state.deployments]
      .filter(([host, byJob]) => !matched.has(host) && up.has(host) && known.has(host) && [...byJob.values()].some((d) => d.deploymentGroup === group.name))
      .map(([host]) => host),
  ) as HostName[]
  const canary = options.canary !== undefined && options.canary < targets.length ? options.canary : undefined
  const update = (part: ReadonlyArray<HostName>) => chunks(part, options.parallelism).map((hs) => ({ hosts: hs, steps: updateSteps(hs, options.overlap) }))
  const leavingPartitions = chunks(leaving, options.parallelism).map((part) => ({ hosts: part, steps: part.map((host): RolloutStep => ({ host, kind: "FORCE_UNDEPLOY_JOBS" })) }))
  const canaryPartitions = canary === undefined ? [] : update(targets.slice(0, canary))
  const partitions = [...leavingPartitions, ...canaryPartitions, ...update(canary === undefined ? targets : targets.slice(canary))]
  const steps = partitions.flatMap((p) => p.steps)
  if (canary === undefined) return { hosts: matching, targets, leaving, partitions, steps }
  const canaryUntilStep = [...leavingPartitions, ...canaryPartitions].reduce((n, p) => n + p.steps.length, 0)
  return { hosts: matching, targets, leaving, partitions, steps, canaryUntilStep }
}

/** The registered hosts as the planner sees them: up/down from the fleet state, labels from the host facts (absent: unknown). */
export const hostViews = (state: FleetState, labels: ReadonlyMap<string, Readonly<Record<string, string>>>): HostView[] =>
  [...state.hosts.values()].map((h) => ({ name: h.name, labels: labels.get(h.name), up: h.up }))

/**
 * Whether hosts joined or left `record`'s group since its last rollout, so that a HOSTS_CHANGED
 * rollout of its job is due (Helios's deployment-group host update). A host the plan would deploy
 * to is a change unless the last rollout deployed to it (a DEPLOY_NEW_JOB step there) and it has
 * not registered again since (a new agent); a host the plan would undeploy from (it left the
 * group) is a change unless the last rollout already had a FORCE_UNDEPLOY_JOBS step for it. So a
 * host that only leaves, one that comes back, and one that comes UP after being planned around
 * are all changes, while a HOSTS_CHANGED rollout that FAILED is not retried until something else
 * changes. Never during a rollout, never for a group that never rolled out, and never after a
 * MANUAL rollout that FAILED (or was stopped): a broken job is not pushed to new hosts.
 */
export const hostsChangedSinceLastRollout = (record: GroupRecord, plan: RolloutPlan, state: FleetState): boolean => {
  const last = record.rollout
  if (last === undefined || last.status === "ROLLING_OUT" || last.status === "AWAITING_PROMOTION") return false
  if ((last.reason === "MANUAL" || last.reason === "ROLLBACK") && last.status === "FAILED") return false
  const covered = (kind: RolloutStep["kind"]) => {
    const out = new Set<string>()
    for (const step of last.steps) {
      if (step.kind !== kind) continue
      const host = state.hosts.get(step.host)
      // Registered before the rollout started: by log positions, as the agent's clock and the
      // master's need not agree (an agent's clock ahead made its host "registered again" at every
      // round, and a HOSTS_CHANGED rollout followed the last one for ever). By time only for a
      // registration restored from an older snapshot that kept no position.
      const before = host?.registeredPosition !== undefined ? host.registeredPosition < last.startedAt : host !== undefined && host.registeredAt <= last.startedAtTime
      if (before) out.add(step.host)
    }
    return out
  }
  const deployed = covered("DEPLOY_NEW_JOB")
  const undeployed = covered("FORCE_UNDEPLOY_JOBS")
  return plan.targets.some((h) => !deployed.has(h)) || plan.leaving.some((h) => !undeployed.has(h))
}

/** The events that start a rollout of `jobId` over group `group` with `plan`: the plan, then its first step (or its end, for an empty plan). */
export const rolloutStartEvents = (
  group: string,
  jobId: JobId,
  reason: RolloutReason,
  options: MergedRolloutOptions,
  plan: RolloutPlan,
  rollbackTo?: number,
): DomainEvent[] => {
  const ref = { group, jobId }
  const first = plan.steps[0]
  return [
    {
      _tag: "RolloutStarted",
      ...ref,
      reason,
      options,
      hosts: plan.hosts,
      steps: plan.steps,
      ...(plan.canaryUntilStep !== undefined ? { canaryUntilStep: plan.canaryUntilStep } : {}),
      ...(rollbackTo !== undefined ? { rollbackTo } : {}),
    },
    first === undefined
      ? { _tag: "RolloutFinished", ...ref, status: "ACTIVE" }
      : { _tag: "RolloutStepStarted", ...ref, step: 0, host: first.host, kind: first.kind },
  ]
}
