import { shortJobId } from "../core/job-id.ts"
import type { HeliosClient } from "./client.ts"
import { aboutGroup, groupPath } from "./deployment-group.ts"
import { ApiError, CliError } from "./errors.ts"
import { formatTable, formatTimestamp } from "./output.ts"
import type { ChangedSincePositionJson, PlanJson, ReplayJson, ReplayStepJson, RolloutOptionsJson, RolloutSummaryJson, RolloutsJson } from "./wire.ts"
import { Replay, Rollouts } from "./answers.ts"

/*
 * What the rollout verbs share (`rollout history`, `rollout replay`, `rolling-update --plan`,
 * `rollback`, `promote`): the requests about a group's rollouts and the text they print, as pure
 * functions of the master's answers (tested with response objects in cli/rollout-units.test.ts).
 */

// ---------------------------------------------------------------------------------------------
// Requests

export const fetchRollouts = (client: HeliosClient, group: string, signal?: AbortSignal): Promise<RolloutsJson> =>
  aboutGroup(group, client.getDecoded(groupPath(group, "/rollouts"), Rollouts, {}, signal ? { signal } : {}))

/** One rollout rebuilt from the log; `which` is its number or "latest". ROLLOUT_NOT_FOUND is one clear line. */
export const fetchReplay = async (client: HeliosClient, group: string, which: number | "latest"): Promise<ReplayJson> => {
  try {
    return await aboutGroup(group, client.getDecoded(groupPath(group, `/rollouts/${which}/replay`), Replay))
  } catch (e) {
    if (e instanceof ApiError && e.status === "ROLLOUT_NOT_FOUND")
      throw new CliError(
        which === "latest" ? `Deployment group ${group} has no rollouts yet` : `Deployment group ${group} has no rollout ${which}`,
        { status: "ROLLOUT_NOT_FOUND", name: group, ...(which === "latest" ? {} : { rollout: which }) },
      )
    throw e
  }
}

/**
 * The rollout a write at `position` started (rolling-update, rollback) or acted on (promote): the
 * group's latest rollout started at or before that position (the write's events are one batch, so
 * no later rollout can be in it).
 */
export const rolloutAt = (rollouts: RolloutsJson, position: number): RolloutSummaryJson | undefined =>
  rollouts.rollouts.filter((r) => r.startedAt <= position).at(-1)

// ---------------------------------------------------------------------------------------------
// Small formats

/** A duration: `4.21 s` under a minute, `3 min 05 s` under an hour, else `2 h 03 min`. */
export const formatDuration = (ms: number): string => {
  const s = Math.max(0, ms) / 1000
  if (s < 60) return `${s.toFixed(2)} s`
  const whole = Math.floor(s)
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`
  return `${Math.floor(whole / 3600)} h ${String(Math.floor((whole % 3600) / 60)).padStart(2, "0")} min`
}

/** `yyyy-MM-dd HH:mm:ss` (local time, as history's TIMESTAMP without the milliseconds). */
export const formatStarted = (ms: number): string => formatTimestamp(ms).slice(0, 19)

/** `HH:mm:ss.SSS` (local time): a step's times, whose date the header gives. */
export const formatClock = (ms: number): string => formatTimestamp(ms).slice(11)

const jobText = (id: string, full: boolean): string => (full ? id : shortJobId(id))

/**
 * A rollout's options as Helios's rolling-update prints them (`parallelism=…, timeout=…,
 * overlap=…, token=…, ignoreFailures=…, migrate=…`), then ours, only when set.
 */
export const optionsText = (o: RolloutOptionsJson): string => {
  const parts = [
    `parallelism=${o.parallelism}`,
    `timeout=${o.timeout}`,
    `overlap=${o.overlap}`,
    `token=${o.token ?? ""}`, // masters never show a token in reads
    `ignoreFailures=${o.ignoreFailures}`,
    `migrate=${o.migrate}`,
  ]
  if (o.canary !== undefined) parts.push(`canary=${o.canary}`)
  if (o.autoRevert !== undefined) parts.push(`autoRevert=${o.autoRevert}`)
  if (o.maxFailures !== undefined) parts.push(`maxFailures=${o.maxFailures}`)
  if (o.failureRatio !== undefined) parts.push(`failureRatio=${o.failureRatio}`)
  return parts.join(", ")
}

// ---------------------------------------------------------------------------------------------
// rollout history

export const ROLLOUT_HISTORY_COLUMNS = ["NUMBER", "JOB", "REASON", "ACTOR", "STARTED", "DURATION", "OUTCOME"]

/** `ROLLBACK→N` for a rollback of rollout N, else the reason. */
export const reasonText = (r: { readonly reason: string; readonly rollbackTo?: number | undefined }): string =>
  r.reason === "ROLLBACK" && r.rollbackTo !== undefined ? `ROLLBACK→${r.rollbackTo}` : r.reason

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

/** The status, with the number of failed steps when some failed (FAILED, or ACTIVE within a failure budget). */
export const outcomeOfSummary = (r: RolloutSummaryJson): string => (r.failedSteps > 0 ? `${r.status} (${plural(r.failedSteps, "failed step")})` : r.status)

/** One row per rollout, oldest first. Job ids are short unless `full`; a rollout not ended has no duration. */
export const rolloutHistoryRows = (rollouts: ReadonlyArray<RolloutSummaryJson>, full: boolean): string[][] =>
  rollouts.map((r) => [
    String(r.number),
    jobText(r.jobId, full),
    reasonText(r),
    r.actor,
    formatStarted(r.startedAtTime),
    r.durationMs === null ? "-" : formatDuration(r.durationMs),
    outcomeOfSummary(r),
  ])

// ---------------------------------------------------------------------------------------------
// rollout replay

const outcomeOfReplay = (r: ReplayJson): string => {
  if (r.outcome === undefined) return r.awaitingPromotion !== undefined && r.promoted === undefined ? "AWAITING_PROMOTION (in progress)" : "ROLLING_OUT (in progress)"
  if (r.outcome === "SUPERSEDED") return "SUPERSEDED (another rollout of the group started before it ended)"
  return r.error !== undefined ? `${r.outcome}: ${r.error}` : r.outcome
}

/** The header of a replay: which rollout, why, by whom, when (with log positions), how it ended, its options. */
export const replayHeaderLines = (r: ReplayJson, full: boolean): string[] => {
  const lines = [
    `Rollout ${r.number} of ${r.group}: ${jobText(r.jobId, full)}`,
    `Reason:    ${r.reason === "ROLLBACK" && r.rollbackTo !== undefined ? `ROLLBACK to rollout ${r.rollbackTo}` : r.reason}`,
    `Actor:     ${r.actor}`,
    `Started:   ${formatTimestamp(r.started.time)} at position ${r.started.position}`,
    `Ended:     ${r.ended === undefined ? "- (in progress)" : `${formatTimestamp(r.ended.time)} at position ${r.ended.position}${r.durationMs !== null ? ` (${formatDuration(r.durationMs)})` : ""}`}`,
    `Outcome:   ${outcomeOfReplay(r)}`,
    `Options:   ${optionsText(r.options)}`,
    `Hosts:     ${r.hosts.length === 0 ? "-" : r.hosts.join(", ")}`,
  ]
  if (r.canaryUntilStep !== undefined) {
    const parts = [`steps #1-#${r.canaryUntilStep}`]
    if (r.awaitingPromotion) parts.push(`awaited promotion from ${formatTimestamp(r.awaitingPromotion.time)} at position ${r.awaitingPromotion.position}`)
    if (r.promoted) parts.push(`promoted ${formatTimestamp(r.promoted.time)} at position ${r.promoted.position}`)
    lines.push(`Canary:    ${parts.join("; ")}`)
  }
  return lines
}

const TRANSITION_COLUMNS = ["TIME", "POSITION", "JOB", "STATE", "THROTTLED", "CONTAINER ID", "ERROR"]

const stepHead = (step: ReplayStepJson): string => `#${step.index + 1} ${step.kind} ${step.host}`

/** `#i KIND host  start→end (positions a→b) duration outcome`, or `... not started`. */
export const stepLine = (step: ReplayStepJson): string => {
  if (step.started === undefined) return `${stepHead(step)}  not started`
  const end = step.ended
  const span = `${formatClock(step.started.time)}→${end ? formatClock(end.time) : "…"} (positions ${step.started.position}→${end ? end.position : "…"})`
  const how = end === undefined ? "in progress" : `${step.durationMs !== null ? formatDuration(step.durationMs) + " " : ""}${step.outcome ?? "ENDED"}`
  return `${stepHead(step)}  ${span} ${how}`
}

/**
 * A step's block: its line, the task transitions on its host while it ran (every job's: another
 * job's STOPPED matters as much), and for a failed step its error code, message and evidence.
 */
export const stepBlock = (step: ReplayStepJson, full: boolean): string[] => {
  const lines = [stepLine(step)]
  if (step.transitions.length > 0) {
    const rows = step.transitions.map((t) => [
      formatClock(t.time),
      String(t.position),
      jobText(t.jobId, full),
      t.state,
      t.throttled,
      t.containerId === undefined ? "-" : full ? t.containerId : t.containerId.slice(0, 7),
      t.error ?? "-",
    ])
    lines.push(...formatTable([TRANSITION_COLUMNS, ...rows]).trimEnd().split("\n").map((l) => `    ${l}`))
  } else if (step.started !== undefined && step.kind === "AWAIT_RUNNING") lines.push("    (no task reports on the host during the step)")
  if (step.outcome === "SKIPPED") lines.push(`    Skipped: ${step.reason ?? "an earlier step on the host failed"}`)
  if (step.outcome === "FAILED") {
    lines.push(`    Failed: ${step.error ?? "UNKNOWN"}: ${step.message ?? ""}`.trimEnd())
    const e = step.evidence
    if (e !== undefined) {
      const parts: string[] = []
      if (e.state !== undefined) parts.push(`state ${e.state}`)
      if (e.throttled !== undefined) parts.push(`throttled ${e.throttled}`)
      if (e.containerError !== undefined) parts.push(`container error: ${e.containerError}`)
      if (e.position !== undefined) parts.push(`reported at position ${e.position}`)
      if (parts.length > 0) lines.push(`    Evidence: ${parts.join("; ")}`)
      if (e.previousStates !== undefined && e.previousStates.length > 0)
        lines.push(`    Previous states: ${e.previousStates.map((p) => `${p.state} (position ${p.position})`).join(", ")}`)
    }
  }
  return lines
}

/** Where a canary's rollout waited for promote, between the canary's steps and the others. */
export const promotionLine = (r: ReplayJson): string => {
  const waited = r.awaitingPromotion
  if (waited === undefined) return "-- canary: the rollout did not get as far as awaiting promotion"
  const since = `awaited promotion from ${formatClock(waited.time)} (position ${waited.position})`
  return r.promoted !== undefined
    ? `-- canary done: ${since}; promoted ${formatClock(r.promoted.time)} (position ${r.promoted.position})`
    : `-- canary done: ${since}; ${r.outcome === undefined ? "still awaiting promotion" : "never promoted"}`
}

/** The whole timeline: the header, then each step (started ones as blocks, the others as "not started"). */
export const replayLines = (r: ReplayJson, full: boolean): string[] => {
  const lines = [...replayHeaderLines(r, full), ""]
  if (r.steps.length === 0) lines.push("No steps (the group had no UP hosts).")
  for (const step of r.steps) {
    if (r.canaryUntilStep !== undefined && step.index === r.canaryUntilStep) lines.push(promotionLine(r))
    lines.push(...stepBlock(step, full))
  }
  return lines
}

// ---------------------------------------------------------------------------------------------
// rolling-update --plan

/** A deployment on a host, as `POST /hosts/statuses` lists them. */
export interface HostDeployment {
  readonly jobId: string
  readonly goal: string
  readonly deploymentGroupName: string | null
}

export interface PlanPartition {
  readonly hosts: ReadonlyArray<string>
  /** Indexes of its steps in the plan. */
  readonly steps: ReadonlyArray<number>
  readonly canary: boolean
}

/** UNDEPLOY_OLD_JOBS, DEPLOY_NEW_JOB, AWAIT_RUNNING (in some order) for each updated host. */
const STEPS_PER_UPDATED_HOST = 3

/**
 * The plan's steps cut back into the planner's partitions (core/rollout-planner.ts): hosts that
 * left the group (FORCE_UNDEPLOY_JOBS) in chunks of `parallelism`, then the canary hosts, then
 * the others, each partition of at most `parallelism` hosts with three steps per host. A new
 * partition starts at the canary's end, at a change between undeploying leavers and updating,
 * or at a new host once the partition is full or each of its hosts has all its steps.
 */
export const planPartitions = (plan: Pick<PlanJson, "steps" | "options" | "canaryUntilStep">): PlanPartition[] => {
  const out: PlanPartition[] = []
  let hosts: string[] = []
  let steps: number[] = []
  const count = new Map<string, number>()
  let leaving = false
  const close = () => {
    if (steps.length > 0) out.push({ hosts, steps, canary: plan.canaryUntilStep !== undefined && steps[0]! < plan.canaryUntilStep })
    hosts = []
    steps = []
    count.clear()
  }
  plan.steps.forEach((step, i) => {
    const isLeaving = step.kind === "FORCE_UNDEPLOY_JOBS"
    const newHost = !count.has(step.host)
    const complete = [...count.values()].every((n) => n >= STEPS_PER_UPDATED_HOST)
    if (steps.length > 0 && (i === plan.canaryUntilStep || isLeaving !== leaving || (newHost && (hosts.length >= plan.options.parallelism || (!isLeaving && complete))))) close()
    leaving = isLeaving
    if (newHost) hosts.push(step.host)
    count.set(step.host, (count.get(step.host) ?? 0) + 1)
    steps.push(i)
  })
  close()
  return out
}

/** What one step of the plan would do on its host, given the host's deployments now (undefined: not known). */
export const planStepDetail = (
  step: PlanJson["steps"][number],
  plan: Pick<PlanJson, "name" | "jobId" | "options">,
  deployments: ReadonlyArray<HostDeployment> | undefined,
  full: boolean,
): string => {
  const job = jobText(plan.jobId, full)
  const list = (ds: ReadonlyArray<HostDeployment>) => ds.map((d) => jobText(d.jobId, full)).join(", ")
  switch (step.kind) {
    case "UNDEPLOY_OLD_JOBS": {
      if (deployments === undefined) return "undeploy the group's other jobs"
      // As core/rollout-step.ts: the group's deployments (and with migrate a hand-made copy of the
      // job), but never the job itself when overlapping, nor the group's own running copy.
      const gone = deployments.filter((d) => {
        const owned = d.deploymentGroupName === plan.name
        const ours = d.jobId === plan.jobId
        if (!owned && !(plan.options.migrate && ours)) return false
        return !(ours && (plan.options.overlap || (owned && d.goal === "START")))
      })
      return gone.length === 0 ? "nothing to undeploy" : `undeploy ${list(gone)}`
    }
    case "DEPLOY_NEW_JOB": {
      const existing = deployments?.find((d) => d.jobId === plan.jobId)
      if (existing === undefined) return `deploy ${job}`
      if (existing.deploymentGroupName === plan.name) return existing.goal === "START" ? `keep ${job} (already deployed)` : `start ${job} (deployed, goal ${existing.goal})`
      if (plan.options.migrate) return plan.options.overlap ? `take ${job} over for the group (deployed outside it)` : `deploy ${job}`
      return `${job} is deployed outside the group: left as is (AWAIT_RUNNING fails with JOB_ALREADY_DEPLOYED; see --migrate)`
    }
    case "AWAIT_RUNNING":
      return `wait until ${job} is RUNNING`
    case "FORCE_UNDEPLOY_JOBS": {
      const gone = deployments?.filter((d) => d.deploymentGroupName === plan.name)
      return `the host left the group: undeploy ${gone === undefined ? "the group's jobs" : gone.length === 0 ? "nothing" : list(gone)}`
    }
    default:
      // A kind a newer master added: its name (in KIND) is all this helios can say.
      return "a step this helios does not know"
  }
}

/**
 * The plan as text: what it rolls out with which options, the position it was planned at, then
 * partition by partition each step with what it undeploys and deploys on its host.
 */
export const planLines = (plan: PlanJson, deployments: Readonly<Record<string, ReadonlyArray<HostDeployment>>>, full: boolean): string[] => {
  const lines = [
    `Plan: ${plan.name} -> ${jobText(plan.jobId, full)} (${optionsText(plan.options)})`,
    `Planned at position ${plan.position}; nothing was written.`,
    "",
  ]
  if (plan.steps.length === 0) {
    lines.push("No steps: the group has no UP hosts (the rollout would be ACTIVE at once).")
    return lines
  }
  const partitions = planPartitions(plan)
  const rows = plan.steps.map((step, i) => [`#${i + 1}`, step.kind, step.host, planStepDetail(step, plan, deployments[step.host], full)])
  const table = formatTable(rows).trimEnd().split("\n")
  partitions.forEach((p, n) => {
    if (plan.canaryUntilStep !== undefined && p.steps[0] === plan.canaryUntilStep)
      lines.push(`-- then wait for "helios promote ${plan.name}" (or "helios rollback ${plan.name}")`)
    lines.push(`Partition ${n + 1} of ${partitions.length}${p.canary ? " (canary)" : ""}: ${p.hosts.join(", ")}`)
    for (const i of p.steps) lines.push(`  ${table[i]}`)
  })
  lines.push("", `To run this plan only if nothing changed since: the same rolling-update without --plan, with --check-position ${plan.position}`)
  return lines
}

// ---------------------------------------------------------------------------------------------
// rolling-update --check-position

/** The first changes a CHANGED_SINCE_POSITION refusal lists (at most `max`), one per line. */
export const changeLines = (body: ChangedSincePositionJson, max = 5): string[] => {
  const lines = [`Changes after position ${body.checkPosition}:`]
  for (const c of body.changes.slice(0, max)) lines.push(`  position ${c.position}: ${c.type}${c.host !== undefined ? ` on ${c.host}` : ""}`)
  if (body.changes.length > max) lines.push(`  ... and ${body.changes.length - max} more`)
  return lines
}
