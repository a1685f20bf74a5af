import fc from "fast-check"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import type { Command } from "../core/commands.ts"
import type { HostSelector } from "../core/host-selector.ts"
import type { DomainEvent, StoredEvent } from "../core/events.ts"
import type { AgentId, HostName, TaskState, ThrottleState } from "../core/ids.ts"
import type { Job, JobId, RolloutOptions } from "../core/job.ts"
import type { MergedRolloutOptions, RolloutReason, RolloutStep } from "../core/deployment-group.ts"
import { applyEvent, emptyState, type FleetState } from "../core/state.ts"
import { decide } from "../core/decide.ts"
import { previousStatesFrom } from "../projections/history.ts"
import { aJob } from "../test/fixtures.ts"
import { RolloutSim } from "../test/rollout-sim.ts"
import { check } from "./support.ts"

/*
 * Model-based test of deployment-group rollouts: random fleets (2-8 hosts, random labels, some
 * missing, some hosts' labels unknown, some hosts DOWN), one group with random selectors, 1-3 jobs
 * (some with the static port another hand-deployed job takes), then random interleavings of
 * rolling updates with random options, agents' reports, time passing, hand-made deploys, undeploys
 * and goal changes, label changes, hosts going down and up, agents re-registering, hosts
 * deregistered, RolloutOnHostsChange, stop, group removal and AdvanceRollout, all decided by the
 * real `decide` and folded by the real fold (test/rollout-sim.ts). After every action, and at every
 * event the decisions wrote, the run is checked against a simple model (its own selector matching,
 * natural order, planner, option merging and HOSTS_CHANGED rule):
 *
 *  (a) A host never has more of the group's jobs (deployed by the group) than when the current
 *      rollout started, or one if it had none: so, from a clean fleet, never two different jobs
 *      unless a rollout has overlap. With overlap, at most one more (never more than two from a
 *      clean fleet). Once the current rollout's UNDEPLOY_OLD_JOBS (or FORCE_UNDEPLOY_JOBS) on a
 *      host succeeded, the group's only job there is the rollout's (or none).
 *  (b) A rollout that finishes ACTIVE with no failed step leaves exactly its targets (the group's
 *      matching UP hosts when it started, as the model computes them) with the new job deployed by
 *      the group, goal START, and no other job of the group; each of them reported RUNNING when its
 *      AWAIT_RUNNING step passed; the UP hosts with known labels that did not match hold none of the
 *      group's deployments. (Hosts a user undeployed, re-goaled or deregistered during the rollout
 *      are exempt.)
 *  (c) Every step index of a rollout is started at most once and ends (succeeded or failed) at
 *      most once, in plan order, each with its plan's host and kind; a step's effects lie between its
 *      start and its end and are only what its kind allows on its own host (no step executed twice,
 *      nothing written outside a step); nothing is written for a rollout after it finished or was
 *      stopped.
 *  (d) A rollout without ignoreFailures that fails has exactly one failed step, the last step event,
 *      followed at once by RolloutFinished FAILED naming its host, ending the batch; with
 *      ignoreFailures a rollout never finishes FAILED. A failure's error code fits the state it was
 *      decided in (a step times out only past its timeout since the rollout's last progress).
 *  (e) Every rollout event a decision writes folds: the group's record changes with it, and the
 *      rollout's next step and status become what the event says.
 *  (f) A rollout's plan is the model's: the matching hosts (up or down), the UP ones as targets in
 *      natural order, hosts that left the group undeployed first, partitions of at most
 *      `parallelism` hosts; options merged request → job → defaults; a rolling update is refused
 *      exactly when the group or job is unknown or the token differs, writing nothing.
 *  (g) Liveness: after the leader advances, a rollout still in progress waits at an AWAIT_RUNNING
 *      step whose task is deployed and not RUNNING, and whose timeout has not run out; advancing
 *      again writes nothing.
 *  (h) A HOSTS_CHANGED rollout starts exactly when the model says hosts joined or left the group
 *      since its last rollout, never during one and never after a FAILED (or stopped) MANUAL one.
 *      No two deployments on a host ever share a static port.
 *
 * The five bugs this test found in core/ (all fixed) keep their minimal examples as regression
 * tests at the end.
 */

const GROUP = "web"
const HOST_NAMES = ["a7", "h1", "h2", "h3", "h9", "h10", "h11", "h20", "h100"] as const
const ROLES = ["web", "db"] as const
const ZONES = ["a", "b", "c"] as const
const STATIC_PORT = 8080

// ---------------------------------------------------------------------------------------------
// The scenario

type Labels = Record<string, string> | undefined

interface HostSpec {
  readonly name: string
  readonly labels: Labels
  readonly up: boolean
}

interface JobSpec {
  readonly version: string
  readonly staticPort: boolean
  readonly token: string | undefined
  readonly rolloutOptions: RolloutOptions | undefined
}

interface Fleet {
  readonly hosts: ReadonlyArray<HostSpec>
  readonly selectors: ReadonlyArray<HostSelector>
  readonly jobs: ReadonlyArray<JobSpec>
}

const labelsArb: fc.Arbitrary<Labels> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 9,
    arbitrary: fc
      .record({ role: fc.constantFrom("web", "web", "web", "db", undefined), zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined, freq: 4 }) })
      .map(({ role, zone }) => ({ ...(role !== undefined ? { role } : {}), ...(zone !== undefined ? { zone } : {}) })),
  },
)

const selectorArb: fc.Arbitrary<HostSelector> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<HostSelector>({ label: "role", operator: "EQUALS", operand: "web" }) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.constantFrom("role", "zone"), fc.constantFrom("EQUALS" as const, "NOT_EQUALS" as const)).chain(([label, operator]) =>
      fc.constantFrom<string>(...(label === "role" ? ROLES : ZONES)).map((operand): HostSelector => ({ label, operator, operand })),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.constantFrom("role", "zone"), fc.constantFrom("IN" as const, "NOT_IN" as const)).chain(([label, operator]) =>
      fc.subarray<string>(label === "role" ? [...ROLES] : [...ZONES], { minLength: 1 }).map((operand): HostSelector => ({ label, operator, operand })),
    ),
  },
)

const optionsArb: fc.Arbitrary<RolloutOptions> = fc.record(
  {
    parallelism: fc.integer({ min: 1, max: 4 }),
    overlap: fc.boolean(),
    migrate: fc.boolean(),
    ignoreFailures: fc.boolean(),
    timeout: fc.constantFrom(1, 5, 30),
  },
  { requiredKeys: [] },
)

const fleetArb: fc.Arbitrary<Fleet> = fc.record({
  // About one host in five DOWN.
  hosts: fc.uniqueArray(fc.record({ name: fc.constantFrom(...HOST_NAMES), labels: labelsArb, up: fc.integer({ min: 0, max: 4 }).map((n) => n !== 0) }), {
    selector: (h) => h.name,
    minLength: 2,
    maxLength: 8,
  }),
  selectors: fc.oneof(
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 12, arbitrary: selectorArb.map((s) => [s]) },
    { weight: 4, arbitrary: fc.array(selectorArb, { minLength: 2, maxLength: 2 }) },
  ),
  jobs: fc
    .array(
      fc.record({
        staticPort: fc.boolean(),
        token: fc.option(fc.constant("s3cret"), { nil: undefined, freq: 6 }),
        rolloutOptions: fc.option(optionsArb, { nil: undefined, freq: 2 }),
      }),
      { minLength: 1, maxLength: 3 },
    )
    .map((js) => js.map((j, i): JobSpec => ({ ...j, version: `v${i + 1}` }))),
})

type Action =
  | { readonly t: "rollingUpdate"; readonly job: number; readonly options: RolloutOptions; readonly token: "job" | "none" | "wrong" }
  | { readonly t: "advance" }
  | { readonly t: "report"; readonly pick: number; readonly state: TaskState; readonly throttled: ThrottleState; readonly error?: string }
  | { readonly t: "runAll" }
  | { readonly t: "time"; readonly ms: number }
  | { readonly t: "deploy"; readonly host: number; readonly job: number }
  | { readonly t: "undeploy"; readonly pick: number }
  | { readonly t: "setGoal"; readonly pick: number; readonly goal: "START" | "STOP" }
  | { readonly t: "relabel"; readonly host: number; readonly labels: Labels }
  | { readonly t: "hostsChanged" }
  | { readonly t: "upDown"; readonly host: number }
  | { readonly t: "reregister"; readonly host: number }
  | { readonly t: "deregister"; readonly host: number }
  | { readonly t: "stop" }
  | { readonly t: "recreateGroup" }
  /** The leader decides its next batch; `other` is decided and appended first; then the leader's append, if its versions still hold (else it decides again). */
  | { readonly t: "race"; readonly other: Action }

const reportArb = fc.record({
  pick: fc.nat(),
  report: fc.constantFrom<{ state: TaskState; throttled: ThrottleState; error?: string }>(
    { state: "RUNNING", throttled: "NO" },
    { state: "RUNNING", throttled: "NO" },
    { state: "PULLING_IMAGE", throttled: "NO" },
    { state: "STARTING", throttled: "NO" },
    { state: "FAILED", throttled: "IMAGE_MISSING", error: "image not found" },
    { state: "FAILED", throttled: "IMAGE_PULL_FAILED", error: "pull failed" },
    { state: "FAILED", throttled: "FLAPPING", error: "exit 1" },
    { state: "FAILED", throttled: "NO", error: "exit 1" },
    { state: "EXITED", throttled: "NO" },
    { state: "STOPPED", throttled: "NO" },
  ),
})

const rollingUpdateArb = fc.record({ t: fc.constant("rollingUpdate" as const), job: fc.nat(), options: optionsArb, token: fc.constantFrom("job" as const, "job" as const, "job" as const, "none" as const, "wrong" as const) })
const deployArb = fc.record({ t: fc.constant("deploy" as const), host: fc.nat(), job: fc.nat() })
const undeployArb = fc.record({ t: fc.constant("undeploy" as const), pick: fc.nat() })
const setGoalArb = fc.record({ t: fc.constant("setGoal" as const), pick: fc.nat(), goal: fc.constantFrom("START" as const, "STOP" as const) })
const deregisterArb = fc.record({ t: fc.constant("deregister" as const), host: fc.nat() })

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: rollingUpdateArb },
  { weight: 14, arbitrary: fc.constant({ t: "advance" as const }) },
  { weight: 8, arbitrary: reportArb.map(({ pick, report }): Action => ({ t: "report", pick, ...report })) },
  { weight: 8, arbitrary: fc.constant({ t: "runAll" as const }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("time" as const), ms: fc.constantFrom(1, 500, 999, 1000, 1001, 4999, 5001, 30_001, 300_001) }) },
  { weight: 2, arbitrary: deployArb },
  { weight: 2, arbitrary: undeployArb },
  { weight: 1, arbitrary: setGoalArb },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("relabel" as const), host: fc.nat(), labels: labelsArb }) },
  { weight: 5, arbitrary: fc.constant({ t: "hostsChanged" as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("upDown" as const), host: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("reregister" as const), host: fc.nat() }) },
  { weight: 1, arbitrary: deregisterArb },
  { weight: 1, arbitrary: fc.constant({ t: "stop" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "recreateGroup" as const }) },
  {
    weight: 3,
    arbitrary: fc
      .oneof<fc.Arbitrary<Action>[]>(undeployArb, undeployArb, setGoalArb, deployArb, rollingUpdateArb, deregisterArb, fc.constant({ t: "stop" as const }))
      .map((other): Action => ({ t: "race", other })),
  },
)

// ---------------------------------------------------------------------------------------------
// The simple model: matching, order, plan, options

/** Helios's matching, written again: every selector's label present; no selectors match nothing. */
const matches = (selectors: ReadonlyArray<HostSelector>, labels: Labels): boolean =>
  labels !== undefined &&
  selectors.length > 0 &&
  selectors.every((s) => {
    const v = labels[s.label]
    if (v === undefined) return false
    switch (s.operator) {
      case "EQUALS":
        return v === s.operand
      case "NOT_EQUALS":
        return v !== s.operand
      case "IN":
        return s.operand.includes(v)
      case "NOT_IN":
        return !s.operand.includes(v)
    }
  })

/** Natural order of this test's host names (letters, then a number without leading zeros). */
const natural = (names: Iterable<string>): string[] => {
  const key = (n: string) => {
    const m = /^([a-z]+)(\d+)$/.exec(n)!
    return [m[1]!, Number(m[2])] as const
  }
  return [...names].sort((a, b) => {
    const [pa, na] = key(a)
    const [pb, nb] = key(b)
    return pa < pb ? -1 : pa > pb ? 1 : na - nb
  })
}

const chunk = <T>(xs: ReadonlyArray<T>, n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n))

interface ModelPlan {
  readonly hosts: string[]
  readonly targets: string[]
  readonly leaving: string[]
  readonly steps: RolloutStep[]
}

const DEFAULTS: MergedRolloutOptions = { timeout: 300, parallelism: 1, migrate: false, overlap: false, token: "", ignoreFailures: false }

const merge = (request: RolloutOptions, job: Job): MergedRolloutOptions => {
  const pick = <K extends keyof RolloutOptions>(k: K) => (request[k] ?? job.rolloutOptions?.[k] ?? DEFAULTS[k]) as MergedRolloutOptions[K]
  return { timeout: pick("timeout"), parallelism: pick("parallelism"), migrate: pick("migrate"), overlap: pick("overlap"), token: pick("token"), ignoreFailures: pick("ignoreFailures") }
}

const staticPortsOf = (job: Job | undefined): string[] =>
  Object.values(job?.ports ?? {}).flatMap((p) => (p.externalPort !== undefined ? [`${p.externalPort}/${p.protocol ?? "tcp"}`] : []))

/** The group's deployments on a host (made by its rollouts). */
const groupJobsOn = (state: FleetState, host: string) => [...(state.deployments.get(host as HostName)?.values() ?? [])].filter((d) => d.deploymentGroup === GROUP)

interface ModelRollout {
  readonly jobId: JobId
  readonly reason: RolloutReason
  readonly options: MergedRolloutOptions
  readonly steps: ReadonlyArray<RolloutStep>
  readonly plan: ModelPlan
  /** The log position of its RolloutStarted. */
  readonly startedAt: number
  readonly labelsAtStart: ReadonlyMap<string, Labels>
  readonly upAtStart: ReadonlySet<string>
  readonly countsAtStart: ReadonlyMap<string, number>
  /** Index of the step started and not ended, if any. */
  inProgress: number | undefined
  started: number
  ended: number
  failures: number
  status: "ROLLING_OUT" | "ACTIVE" | "FAILED"
  /** A failed step (without ignoreFailures) was just written: RolloutFinished FAILED must follow at once. */
  mustFinishFailed: string | undefined
  /** Effects of the step in progress so far. */
  stepEffects: number
  /** Hosts whose UNDEPLOY_OLD_JOBS / FORCE_UNDEPLOY_JOBS succeeded. */
  readonly cleaned: Map<string, "UNDEPLOY_OLD_JOBS" | "FORCE_UNDEPLOY_JOBS">
  /** Hosts a user changed the rollout's job on (undeploy, goal) or deregistered during the rollout. */
  readonly tampered: Set<string>
  /** Hosts with a failed step in this rollout: their later steps are skipped. */
  readonly failedHosts: Set<string>
}

class Model {
  readonly labels = new Map<string, Labels>()
  readonly up = new Map<string, boolean>()
  /** The log position of each host's latest registration. */
  readonly registeredAt = new Map<string, number>()
  readonly registered = new Set<string>()
  readonly agentIds = new Map<string, number>()
  groupExists = true
  /** A rollout with overlap ran: a host may have had two of the group's jobs. */
  everOverlap = false
  rollout: ModelRollout | undefined

  constructor(readonly fleet: Fleet, readonly sim: RolloutSim, readonly jobs: ReadonlyArray<Job>, readonly other: Job) {}

  plan(state: FleetState, options: Pick<MergedRolloutOptions, "parallelism" | "overlap">): ModelPlan {
    const regs = [...this.registered]
    const hosts = natural(regs.filter((h) => matches(this.fleet.selectors, this.labels.get(h))))
    const targets = hosts.filter((h) => this.up.get(h) === true)
    const leaving = natural(
      regs.filter((h) => this.up.get(h) === true && this.labels.get(h) !== undefined && !hosts.includes(h) && groupJobsOn(state, h).length > 0),
    )
    const steps: RolloutStep[] = [
      ...leaving.map((h): RolloutStep => ({ host: h as HostName, kind: "FORCE_UNDEPLOY_JOBS" })),
      ...chunk(targets, options.parallelism).flatMap((part): RolloutStep[] => {
        const s = (kind: RolloutStep["kind"]) => part.map((h): RolloutStep => ({ host: h as HostName, kind }))
        return options.overlap
          ? [...s("DEPLOY_NEW_JOB"), ...s("AWAIT_RUNNING"), ...s("UNDEPLOY_OLD_JOBS")]
          : [...part.flatMap((h): RolloutStep[] => [{ host: h as HostName, kind: "UNDEPLOY_OLD_JOBS" }, { host: h as HostName, kind: "DEPLOY_NEW_JOB" }]), ...s("AWAIT_RUNNING")]
      }),
    ]
    // FORCE_UNDEPLOY_JOBS steps are partitioned too, but are one step per host: the same list.
    return { hosts, targets, leaving, steps }
  }

  /**
   * Whether RolloutOnHostsChange must start a rollout now (Helios's rule, as the issue states it):
   * a target the last rollout did not deploy to, or a host that left and the last rollout did not
   * undeploy as leaving (or either re-registered since it started); never during a rollout or after
   * a FAILED MANUAL one.
   */
  hostsChangedDue(state: FleetState): { readonly due: boolean } {
    const r = this.rollout
    const no = { due: false }
    if (!this.groupExists || r === undefined || !state.jobs.has(r.jobId)) return no
    if (r.status === "ROLLING_OUT" || (r.reason === "MANUAL" && r.status === "FAILED")) return no
    // Registered before the rollout started, in log order (the agents' clocks need not agree with the masters').
    const fresh = (h: string) => this.registered.has(h) && this.registeredAt.get(h)! < r.startedAt
    const coveredBy = (kinds: ReadonlyArray<RolloutStep["kind"]>) => new Set(r.steps.filter((s) => kinds.includes(s.kind)).map((s) => s.host as string).filter(fresh))
    const deployedTo = coveredBy(["DEPLOY_NEW_JOB"])
    const undeployedFrom = coveredBy(["FORCE_UNDEPLOY_JOBS"])
    const plan = this.plan(state, r.options)
    return {
      due: plan.targets.some((h) => !deployedTo.has(h)) || plan.leaving.some((h) => !undeployedFrom.has(h)),
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Running one action and checking what it wrote

interface World {
  readonly model: Model
  readonly sim: RolloutSim
  /** The fold of every event so far, applied here event by event to see each one land. */
  readonly shadow: FleetState
  /** Which action wrote the event at each index of the log (by default, the action being run). */
  readonly origin: Map<number, Action>
}

const hostOf = (w: World, i: number) => w.model.fleet.hosts[i % w.model.fleet.hosts.length]!.name
const allJobs = (w: World) => [...w.model.jobs, w.model.other]
const deploymentsList = (w: World) =>
  [...w.sim.state.deployments].flatMap(([host, byJob]) => [...byJob.values()].map((d) => ({ host, jobId: d.jobId, goal: d.goal, group: d.deploymentGroup })))

const labelsMap = (m: Model) => {
  const out = new Map<string, Record<string, string>>()
  for (const [h, l] of m.labels) if (l !== undefined) out.set(h, l)
  return out
}

/** Runs the action on the simulated fleet; what it expects of the decision, for the checks. */
interface Expectations {
  readonly command?: Command
  /** The rejection's status, if refused. */
  readonly rejected?: string | undefined
  /** The refusal the model expects (null: accepted). */
  readonly expectRejection?: string | null
  readonly reason?: RolloutReason
  readonly hostsChangedDue?: { readonly due: boolean }
}

const perform = (w: World, a: Action): Expectations => {
  const { sim, model } = w
  const exec = (command: Command, actor: "user" | "master" = "user") => {
    const r = sim.exec(command, actor)
    return Result.isFailure(r) ? r.failure.status : undefined
  }
  switch (a.t) {
    case "rollingUpdate": {
      const job = model.jobs[a.job % model.jobs.length]!
      const options: RolloutOptions = {
        ...a.options,
        ...(a.token === "job" && job.token !== undefined ? { token: job.token } : a.token === "wrong" ? { token: "wrong" } : {}),
      }
      const merged = merge(options, job)
      const expectRejection = !model.groupExists ? "DEPLOYMENT_GROUP_NOT_FOUND" : (job.token ?? "") !== merged.token ? "FORBIDDEN" : null
      const command: Command = { _tag: "StartRollout", group: GROUP, jobId: job.id, options, labels: labelsMap(model) }
      return { command, rejected: exec(command), expectRejection, reason: "MANUAL" }
    }
    case "advance": {
      sim.advance(GROUP)
      return {}
    }
    case "report": {
      const live = deploymentsList(w).filter((d) => model.up.get(d.host) === true)
      const d = live[a.pick % Math.max(1, live.length)]
      if (d !== undefined) sim.report(d.host, d.jobId, a.state, a.throttled, a.error)
      return {}
    }
    case "runAll": {
      for (const d of deploymentsList(w))
        if (model.up.get(d.host) === true && d.goal === "START" && sim.state.tasks.get(d.host)?.get(d.jobId)?.state !== "RUNNING") sim.report(d.host, d.jobId, "RUNNING")
      return {}
    }
    case "time":
      sim.now += a.ms
      return {}
    case "deploy": {
      const job = allJobs(w)[a.job % allJobs(w).length]!
      exec({ _tag: "DeployJob", jobId: job.id, host: hostOf(w, a.host) as HostName, goal: "START", ...(job.token !== undefined ? { token: job.token } : {}) })
      return {}
    }
    case "undeploy":
    case "setGoal": {
      const all = deploymentsList(w)
      const d = all[a.pick % Math.max(1, all.length)]
      if (d === undefined) return {}
      const token = sim.state.jobs.get(d.jobId)?.token
      const r = model.rollout
      if (r !== undefined && r.status === "ROLLING_OUT" && d.jobId === r.jobId) r.tampered.add(d.host)
      if (a.t === "undeploy") exec({ _tag: "UndeployJob", jobId: d.jobId, host: d.host, ...(token !== undefined ? { token } : {}) })
      else exec({ _tag: "SetGoal", jobId: d.jobId, host: d.host, goal: a.goal, ...(token !== undefined ? { token } : {}) })
      return {}
    }
    case "relabel": {
      const h = hostOf(w, a.host)
      model.labels.set(h, a.labels)
      if (a.labels === undefined) sim.labels.delete(h)
      else sim.labels.set(h, a.labels)
      return {}
    }
    case "hostsChanged": {
      const due = model.hostsChangedDue(sim.state)
      const command: Command = { _tag: "RolloutOnHostsChange", group: GROUP, labels: labelsMap(model) }
      return { command, rejected: exec(command, "master"), expectRejection: null, reason: "HOSTS_CHANGED", hostsChangedDue: due }
    }
    case "upDown": {
      const h = hostOf(w, a.host)
      if (!model.registered.has(h)) return {}
      const agentId = `agent-${h}-${model.agentIds.get(h)}` as AgentId
      const up = !model.up.get(h)
      expect(exec(up ? { _tag: "MarkHostUp", host: h as HostName, agentId } : { _tag: "MarkHostDown", host: h as HostName }, "master")).toBeUndefined()
      model.up.set(h, up)
      return {}
    }
    case "reregister": {
      const h = hostOf(w, a.host)
      const n = (model.agentIds.get(h) ?? 0) + 1
      const agentId = `agent-${h}-${n}` as AgentId
      expect(exec({ _tag: "RegisterHost", host: h as HostName, agentId }, "master")).toBeUndefined()
      model.registeredAt.set(h, sim.state.position)
      expect(exec({ _tag: "MarkHostUp", host: h as HostName, agentId }, "master")).toBeUndefined()
      model.agentIds.set(h, n)
      model.registered.add(h)
      model.up.set(h, true)
      return {}
    }
    case "deregister": {
      const h = hostOf(w, a.host)
      if (!model.registered.has(h)) return {}
      expect(exec({ _tag: "DeregisterHost", host: h as HostName }, "master")).toBeUndefined()
      if (model.rollout?.status === "ROLLING_OUT") model.rollout.tampered.add(h)
      model.registered.delete(h)
      model.up.set(h, false)
      return {}
    }
    case "stop": {
      const command: Command = { _tag: "StopRollout", group: GROUP }
      return { command, rejected: exec(command), expectRejection: model.groupExists ? null : "DEPLOYMENT_GROUP_NOT_FOUND" }
    }
    case "race": {
      const ctx = { now: sim.now, actor: { kind: "master" as const, name: "sim-master" }, master: "sim-master", previousStates: previousStatesFrom(() => sim.history) }
      const rec = sim.state.groups.get(GROUP)?.rollout
      const decided = decide({ _tag: "AdvanceRollout", group: GROUP }, sim.state, ctx)
      const from = sim.log.length
      const inner = perform(w, a.other)
      if (inner.command !== undefined) expect(inner.rejected, `${inner.command._tag} refused?`).toBe(inner.expectRejection ?? undefined)
      for (let i = from; i < sim.log.length; i++) w.origin.set(i, a.other)
      if (Result.isFailure(decided) || decided.success.events.length === 0) return {}
      // The hosts the leader's batch judged: every step it ended (succeeded or failed; a skipped step reads nothing).
      const judged = new Set<string>()
      for (const e of decided.success.events) if (e._tag === "RolloutStepSucceeded" || e._tag === "RolloutStepFailed") judged.add(e.host)
      const touched = sim.log.slice(from).flatMap((st) => {
        const e = st.envelope.event
        return e._tag === "JobDeployed" || e._tag === "JobUndeployed" || e._tag === "DeploymentGoalChanged" || e._tag === "HostDeregistered" ? [e.host as string] : []
      })
      const advanceFrom = sim.log.length
      const appended = sim.appendDecided(decided.success)
      // A decision about a host that changed meanwhile is never recorded: its append conflicts and is decided again.
      if (touched.some((h) => judged.has(h))) expect(appended, "a rollout batch judged a host a racing command changed").toBe("conflict")
      if (appended === "conflict") sim.advance(GROUP)
      for (let i = advanceFrom; i < sim.log.length; i++) w.origin.set(i, { t: "advance" })
      return {}
    }
    case "recreateGroup": {
      if (model.groupExists) expect(exec({ _tag: "RemoveDeploymentGroup", group: GROUP })).toBeUndefined()
      expect(exec({ _tag: "CreateDeploymentGroup", group: { name: GROUP, hostSelectors: model.fleet.selectors } })).toBeUndefined()
      model.groupExists = true
      model.rollout = undefined
      return {}
    }
  }
}

const ROLLOUT_EVENTS = new Set(["RolloutStarted", "RolloutStepStarted", "RolloutStepSucceeded", "RolloutStepSkipped", "RolloutStepFailed", "RolloutFinished", "RolloutStopped"])
const TIMEOUT_CODES = new Set(["TIMED_OUT_WAITING_FOR_JOB_TO_REACH_RUNNING", "TIMED_OUT_RETRIEVING_JOB_STATUS", "IMAGE_MISSING", "IMAGE_PULL_FAILED"])

/** Checks one event a decision wrote, against the model and the state just before it (w.shadow), then folds it into the shadow. */
const checkEvent = (w: World, a: Action, stored: StoredEvent, isLastOfBatch: boolean): void => {
  const { model, shadow } = w
  const e: DomainEvent = stored.envelope.event
  const r = model.rollout
  const where = `${e._tag} at ${stored.position}`

  // A failed step (without ignoreFailures) is followed at once by the rollout's end.
  if (r?.mustFinishFailed !== undefined) {
    expect(e._tag, `${where}: a failed step must be followed by RolloutFinished FAILED`).toBe("RolloutFinished")
  }

  const before = shadow.groups.get(GROUP)
  const beforeRollout = before?.rollout
  const effectsOfAdvance = a.t === "advance" && (e._tag === "JobDeployed" || e._tag === "JobUndeployed" || e._tag === "DeploymentGoalChanged")

  if (effectsOfAdvance) {
    // (c) effects only inside a step, and only what its kind allows on its host.
    expect(r, `${where}: a rollout effect without a rollout`).toBeDefined()
    expect(r!.inProgress, `${where}: an effect outside any step`).toBeDefined()
    const step = r!.steps[r!.inProgress!]!
    const host = e.host
    expect(host, `${where}: step ${r!.inProgress} (${step.kind} ${step.host}) touched another host`).toBe(step.host)
    if (e._tag === "DeploymentGoalChanged") {
      // DEPLOY_NEW_JOB sets the group's own STOP copy of the job to START.
      expect(step.kind).toBe("DEPLOY_NEW_JOB")
      const d = shadow.deployments.get(e.host)?.get(e.jobId)
      expect({ job: e.jobId, goal: e.goal, group: d?.deploymentGroup, was: d?.goal }).toEqual({ job: r!.jobId, goal: "START", group: GROUP, was: "STOP" })
    } else if (e._tag === "JobUndeployed" && step.kind === "DEPLOY_NEW_JOB") {
      // With migrate, DEPLOY_NEW_JOB takes over a copy of the job deployed by hand or by another group.
      const d = shadow.deployments.get(e.host)?.get(e.jobId)
      expect({ job: e.jobId, migrate: r!.options.migrate, ours: d?.deploymentGroup === GROUP }).toEqual({ job: r!.jobId, migrate: true, ours: false })
    } else if (e._tag === "JobDeployed") {
      expect(step.kind).toBe("DEPLOY_NEW_JOB")
      expect(r!.stepEffects - (r!.options.migrate ? 1 : 0), `${where}: DEPLOY_NEW_JOB deployed twice`).toBeLessThanOrEqual(0)
      expect({ job: e.job.id, goal: e.goal, group: e.deploymentGroup }).toEqual({ job: r!.jobId, goal: "START", group: GROUP })
      expect(shadow.deployments.get(e.host)?.has(e.job.id), `${where}: deployed over an existing deployment`).not.toBe(true)
    } else {
      expect(["UNDEPLOY_OLD_JOBS", "FORCE_UNDEPLOY_JOBS"]).toContain(step.kind)
      const d = shadow.deployments.get(e.host)?.get(e.jobId)
      expect(d, `${where}: undeployed what was not deployed`).toBeDefined()
      const owned = d!.deploymentGroup === GROUP
      if (step.kind === "FORCE_UNDEPLOY_JOBS") expect(owned, `${where}: FORCE_UNDEPLOY_JOBS took another's deployment`).toBe(true)
      else {
        expect(owned || (r!.options.migrate && d!.jobId === r!.jobId), `${where}: UNDEPLOY_OLD_JOBS took a deployment that is not the group's (nor a migration)`).toBe(true)
        expect(owned && d!.jobId === r!.jobId && d!.goal === "START", `${where}: redundant undeploy of the group's own START deployment`).toBe(false)
        expect(r!.options.overlap && d!.jobId === r!.jobId, `${where}: with overlap, UNDEPLOY_OLD_JOBS undeployed the rollout's own job`).toBe(false)
      }
    }
    r!.stepEffects++
  } else if (r !== undefined && (e._tag === "JobDeployed" || e._tag === "JobUndeployed")) {
    // Hand-made (or a deregistration): never a group deployment.
    if (e._tag === "JobDeployed") expect(e.deploymentGroup).toBeUndefined()
  }

  switch (e._tag) {
    case "RolloutStarted": {
      expect(a.t === "rollingUpdate" || a.t === "hostsChanged", `${where} written by ${a.t}`).toBe(true)
      // The first event of its decision: the shadow is the state the decision read.
      const s0 = shadow
      const reason: RolloutReason = a.t === "rollingUpdate" ? "MANUAL" : "HOSTS_CHANGED"
      let options: MergedRolloutOptions
      let jobId: JobId
      if (a.t === "rollingUpdate") {
        const job = model.jobs[a.job % model.jobs.length]!
        jobId = job.id
        options = merge({ ...a.options, ...(a.token === "job" && job.token !== undefined ? { token: job.token } : a.token === "wrong" ? { token: "wrong" } : {}) }, job)
      } else {
        jobId = model.rollout!.jobId
        options = model.rollout!.options
      }
      // (f) the plan is the model's.
      const plan = model.plan(s0, options)
      expect({ group: e.group, jobId: e.jobId, reason: e.reason, options: e.options }).toEqual({ group: GROUP, jobId, reason, options })
      expect(e.hosts, "RolloutStarted.hosts: the matching hosts, up or down, in natural order").toEqual(plan.hosts)
      expect(e.steps, "RolloutStarted.steps").toEqual(plan.steps)
      // Partitions of at most `parallelism` target hosts (read back from the steps).
      const targetSteps = e.steps.filter((s) => s.kind !== "FORCE_UNDEPLOY_JOBS")
      expect(targetSteps.length, "three steps per target").toBe(plan.targets.length * 3)
      expect(natural(new Set(targetSteps.map((s) => s.host)))).toEqual(plan.targets)
      // Each partition ends with its hosts' last steps: at most `parallelism` hosts between two ends.
      const lastKind = options.overlap ? "UNDEPLOY_OLD_JOBS" : "AWAIT_RUNNING"
      let open = new Set<string>()
      for (const s of targetSteps) {
        open.add(s.host)
        expect(open.size, "a partition holds at most `parallelism` hosts").toBeLessThanOrEqual(options.parallelism)
        if (s.kind === lastKind && s.host === targetSteps.filter((t) => t.kind === lastKind && open.has(t.host)).at(-1)?.host) open = new Set()
      }
      const counts = new Map<string, number>()
      for (const h of model.registered) counts.set(h, groupJobsOn(s0, h).length)
      model.everOverlap ||= options.overlap
      model.rollout = {
        jobId,
        reason,
        options,
        steps: e.steps,
        plan,
        startedAt: stored.position,
        labelsAtStart: new Map(model.labels),
        upAtStart: new Set([...model.up].filter(([h, up]) => up && model.registered.has(h)).map(([h]) => h)),
        countsAtStart: counts,
        inProgress: undefined,
        started: -1,
        ended: -1,
        failures: 0,
        status: "ROLLING_OUT",
        mustFinishFailed: undefined,
        stepEffects: 0,
        cleaned: new Map(),
        tampered: new Set(),
        failedHosts: new Set(),
      }
      break
    }
    case "RolloutStepStarted": {
      expect(r, where).toBeDefined()
      expect(r!.status, `${where}: step started after the rollout ended`).toBe("ROLLING_OUT")
      expect(r!.inProgress, `${where}: step started while step ${r!.inProgress} had not ended`).toBeUndefined()
      expect(e.step, `${where}: steps start once each, in order`).toBe(r!.ended + 1)
      expect(e.step).toBe(r!.started + 1)
      expect({ group: e.group, jobId: e.jobId, host: e.host, kind: e.kind }).toEqual({ group: GROUP, jobId: r!.jobId, ...r!.steps[e.step] })
      r!.started = e.step
      r!.inProgress = e.step
      r!.stepEffects = 0
      break
    }
    case "RolloutStepSkipped": {
      expect(a.t, `${where}: only the leader's AdvanceRollout ends steps`).toBe("advance")
      expect(r, where).toBeDefined()
      expect(r!.failedHosts.has(e.host), `${where}: skipped a step on a host that failed nothing`).toBe(true)
      expect(e.step, `${where}: skips the next step, once`).toBe(r!.ended + 1)
      r!.started = e.step
      r!.inProgress = undefined
      r!.ended = e.step
      break
    }
    case "RolloutStepSucceeded":
    case "RolloutStepFailed": {
      expect(a.t, `${where}: only the leader's AdvanceRollout ends steps`).toBe("advance")
      expect(r, where).toBeDefined()
      expect(r!.status).toBe("ROLLING_OUT")
      expect(e.step, `${where}: ends the step in progress, once`).toBe(r!.inProgress)
      expect({ jobId: e.jobId, host: e.host, kind: e.kind }).toEqual({ jobId: r!.jobId, ...r!.steps[e.step] })
      r!.inProgress = undefined
      r!.ended = e.step
      const host = e.host as string
      // The state as the step left it: the shadow, with the step's effects applied.
      const deployment = shadow.deployments.get(e.host)?.get(r!.jobId)
      const task = shadow.tasks.get(e.host)?.get(r!.jobId)
      if (e._tag === "RolloutStepSucceeded") {
        switch (e.kind) {
          case "UNDEPLOY_OLD_JOBS":
            // The group's other jobs are gone; with overlap the rollout's own copy stays whatever its goal (a user's stop is theirs).
            for (const d of groupJobsOn(shadow, host))
              if (!(r!.options.overlap && d.jobId === r!.jobId)) expect({ job: d.jobId, goal: d.goal }, `${where}: the group's other jobs are gone`).toEqual({ job: r!.jobId, goal: "START" })
            if (r!.options.migrate) expect(deployment === undefined || deployment.deploymentGroup === GROUP, `${where}: migrate takes over the hand-made deployment`).toBe(true)
            r!.cleaned.set(host, "UNDEPLOY_OLD_JOBS")
            break
          case "FORCE_UNDEPLOY_JOBS":
            expect(groupJobsOn(shadow, host), `${where}: the group's deployments are gone`).toEqual([])
            r!.cleaned.set(host, "FORCE_UNDEPLOY_JOBS")
            break
          case "DEPLOY_NEW_JOB":
            expect(deployment, `${where}: the job is deployed`).toBeDefined()
            break
          case "AWAIT_RUNNING":
            expect(deployment?.deploymentGroup, `${where}: passed with the group's deployment`).toBe(GROUP)
            expect(task?.state, `${where}: passed only with the task RUNNING`).toBe("RUNNING")
            break
        }
      } else {
        r!.failures++
        r!.failedHosts.add(host)
        // (d) the error code fits the state the step was decided in.
        const job = shadow.jobs.get(r!.jobId)
        switch (e.kind) {
          case "AWAIT_RUNNING":
            if (e.error === "JOB_UNEXPECTEDLY_UNDEPLOYED") expect(deployment).toBeUndefined()
            else if (e.error === "JOB_ALREADY_DEPLOYED") expect({ state: task?.state, group: deployment?.deploymentGroup === GROUP }).toEqual({ state: "RUNNING", group: false })
            else {
              expect(TIMEOUT_CODES.has(e.error), `${where}: ${e.error}`).toBe(true)
              expect(stored.envelope.at - beforeRollout!.lastProgressAt, `${where}: timed out before its timeout`).toBeGreaterThan(r!.options.timeout * 1000)
              expect(task?.state, `${where}: timed out though RUNNING`).not.toBe("RUNNING")
              if (e.error === "TIMED_OUT_RETRIEVING_JOB_STATUS") expect(task).toBeUndefined()
              if (e.error === "IMAGE_MISSING" || e.error === "IMAGE_PULL_FAILED") expect(task?.throttled).toBe(e.error)
            }
            break
          case "DEPLOY_NEW_JOB":
            if (e.error === "PORT_CONFLICT") {
              const mine = new Set(staticPortsOf(job))
              const clash = [...(shadow.deployments.get(e.host)?.values() ?? [])].some((d) => d.jobId !== r!.jobId && staticPortsOf(shadow.jobs.get(d.jobId)).some((p) => mine.has(p)))
              expect(clash, `${where}: PORT_CONFLICT without a clash`).toBe(true)
            } else if (e.error === "HOST_NOT_FOUND") expect(shadow.hosts.has(e.host)).toBe(false)
            else expect.fail(`${where}: unexpected ${e.error}: ${e.message}`)
            break
          case "UNDEPLOY_OLD_JOBS":
            if (e.error === "HOST_NOT_FOUND") expect(shadow.hosts.has(e.host)).toBe(false)
            else expect(e.error, `${where}: ${e.message}`).toBe("TOKEN_VERIFICATION_ERROR")
            break
          case "FORCE_UNDEPLOY_JOBS":
            expect(e.error, `${where}: ${e.message}`).toBe("TOKEN_VERIFICATION_ERROR")
            break
        }
        if (!r!.options.ignoreFailures) r!.mustFinishFailed = host
      }
      break
    }
    case "RolloutFinished": {
      expect(a.t === "advance" || a.t === "rollingUpdate" || a.t === "hostsChanged", `${where} written by ${a.t}`).toBe(true)
      expect(r, where).toBeDefined()
      expect(r!.status, `${where}: finished twice`).toBe("ROLLING_OUT")
      expect(isLastOfBatch, `${where}: RolloutFinished ends its batch`).toBe(true)
      expect(r!.inProgress, `${where}: finished with a step in progress`).toBeUndefined()
      if (r!.mustFinishFailed !== undefined) {
        // (d)
        expect(e.status).toBe("FAILED")
        expect(e.error?.startsWith(`${r!.mustFinishFailed}: `), `${where}: the error names the failed step's host`).toBe(true)
        expect(r!.failures).toBe(1)
        r!.mustFinishFailed = undefined
      } else {
        expect(e.status, `${where}: ACTIVE unless a step failed`).toBe("ACTIVE")
        expect(r!.ended, `${where}: finished ACTIVE before its last step`).toBe(r!.steps.length - 1)
        if (!r!.options.ignoreFailures) expect(r!.failures).toBe(0)
      }
      r!.status = e.status
      break
    }
    case "RolloutStopped": {
      expect(a.t, where).toBe("stop")
      expect(r, where).toBeDefined()
      expect(r!.status).not.toBe("FAILED")
      r!.status = "FAILED"
      r!.inProgress = undefined
      break
    }
    default:
      break
  }

  // Fold it, and (e) see a rollout event land.
  applyEvent(shadow, stored)
  if (ROLLOUT_EVENTS.has(e._tag)) {
    const after = shadow.groups.get(GROUP)
    expect(after, `${where}: folds onto its group`).toBeDefined()
    expect(after === before, `${where}: the fold ignored an event a decision wrote`).toBe(false)
    const rec = after!.rollout!
    switch (e._tag) {
      case "RolloutStarted":
        expect({ startedAt: rec.startedAt, nextStep: rec.nextStep, status: rec.status }).toEqual({ startedAt: stored.position, nextStep: 0, status: "ROLLING_OUT" })
        break
      case "RolloutStepStarted":
        expect({ nextStep: rec.nextStep, lastProgressAt: rec.lastProgressAt }).toEqual({ nextStep: e.step, lastProgressAt: stored.envelope.at })
        break
      case "RolloutStepSucceeded":
      case "RolloutStepSkipped":
      case "RolloutStepFailed":
        expect(rec.nextStep).toBe(e.step + 1)
        expect(rec.failures.length).toBe(r!.failures)
        break
      case "RolloutFinished":
        expect(rec.status).toBe(e.status)
        break
      case "RolloutStopped":
        expect({ status: rec.status, error: rec.error }).toEqual({ status: "FAILED", error: "Stopped by user" })
        break
    }
  }

  // (b) at the end of an ACTIVE rollout without failures.
  if (e._tag === "RolloutFinished" && e.status === "ACTIVE" && r!.failures === 0) checkActive(w, r!)
}

/** (b): the rollout's targets run the new job by the group, and nothing else of the group; non-matching UP hosts hold none. */
const checkActive = (w: World, r: ModelRollout): void => {
  const { shadow } = w
  for (const h of r.plan.targets) {
    if (r.tampered.has(h)) continue
    expect(
      groupJobsOn(shadow, h).map((d) => ({ job: d.jobId, goal: d.goal })),
      `ACTIVE rollout of ${r.jobId}: ${h} runs exactly the new job, deployed by the group`,
    ).toEqual([{ job: r.jobId, goal: "START" }])
  }
  for (const h of r.upAtStart) {
    if (r.plan.hosts.includes(h) || r.labelsAtStart.get(h) === undefined || r.tampered.has(h)) continue
    expect(groupJobsOn(shadow, h), `ACTIVE rollout: ${h} left the group and holds none of its deployments`).toEqual([])
  }
}

/** After an action: (a), (g), (h). */
const checkAfter = (w: World, a: Action, appended: number, expectations: Expectations): void => {
  const { model, sim } = w
  const r = model.rollout
  // (a)
  for (const [host] of sim.state.deployments) {
    const n = groupJobsOn(sim.state, host).length
    if (!model.everOverlap) expect(n, `${host}: two of the group's jobs without any overlap rollout`).toBeLessThanOrEqual(1)
    if (r === undefined) continue
    const c0 = r.countsAtStart.get(host) ?? 0
    const bound = Math.max(1, c0) + (r.options.overlap ? 1 : 0)
    expect(n, `${host}: ${n} of the group's jobs (had ${c0} when the rollout started, overlap ${r.options.overlap})`).toBeLessThanOrEqual(bound)
    const cleaned = r.cleaned.get(host)
    if (cleaned !== undefined && model.groupExists)
      for (const d of groupJobsOn(sim.state, host))
        expect(cleaned === "UNDEPLOY_OLD_JOBS" && d.jobId === r.jobId, `${host}: ${d.jobId} of the group after the rollout's ${cleaned} there`).toBe(true)
  }
  // No two deployments on a host share a static port.
  for (const [host, byJob] of sim.state.deployments) {
    const seen = new Map<string, string>()
    for (const jobId of byJob.keys())
      for (const p of staticPortsOf(sim.state.jobs.get(jobId))) {
        expect(seen.get(p), `${host}: port ${p} taken by ${seen.get(p)} and ${jobId}`).toBeUndefined()
        seen.set(p, jobId)
      }
  }
  // (f) refusals: exactly the expected ones, writing nothing.
  if (expectations.command !== undefined) {
    const expected = expectations.expectRejection ?? undefined
    expect(expectations.rejected, `${expectations.command._tag} refused?`).toBe(expected)
    if (expectations.rejected !== undefined) expect(appended).toBe(0)
  }
  // (h)
  if (a.t === "hostsChanged") {
    const started = appended > 0
    const due = expectations.hostsChangedDue!.due
    expect(started, `RolloutOnHostsChange: the model says a rollout is ${due ? "" : "not "}due`).toBe(due)
  }
  if (a.t === "rollingUpdate" && expectations.rejected === undefined) expect(appended).toBeGreaterThan(0)
  // (g)
  if (a.t === "advance") {
    const rec = sim.state.groups.get(GROUP)?.rollout
    if (rec?.status === "ROLLING_OUT") {
      const step = rec.steps[rec.nextStep]!
      expect(step.kind, "a rollout in progress waits only at AWAIT_RUNNING").toBe("AWAIT_RUNNING")
      const d = sim.state.deployments.get(step.host)?.get(rec.jobId)
      expect(d, `waiting at ${step.host}: the job is deployed`).toBeDefined()
      expect(sim.state.tasks.get(step.host)?.get(rec.jobId)?.state, `waiting at ${step.host}: not RUNNING yet`).not.toBe("RUNNING")
      expect(sim.now - rec.lastProgressAt, "waiting past the step's timeout").toBeLessThanOrEqual(rec.options.timeout * 1000)
      const again = sim.exec({ _tag: "AdvanceRollout", group: GROUP }, "master")
      expect(Result.isSuccess(again) && again.success.length, "advancing a waiting rollout again writes nothing").toBe(0)
    }
  }
}

class Act implements fc.Command<Model, World> {
  constructor(readonly action: Action) {}
  check(): boolean {
    return true
  }
  run(_m: Model, w: World): void {
    const { sim } = w
    const from = sim.log.length
    const expectations = perform(w, this.action)
    const fresh = sim.log.slice(from)
    // The sim appends one decision at a time and marks the streams it read on its last event.
    fresh.forEach((stored, i) => {
      const origin = w.origin.get(from + i) ?? this.action
      const next = w.origin.get(from + i + 1) ?? this.action
      checkEvent(w, origin, stored, i === fresh.length - 1 || stored.bumped.length > 0 || next !== origin)
    })
    checkAfter(w, this.action, fresh.length, expectations)
  }
  toString(): string {
    return JSON.stringify(this.action)
  }
}

const setup = (fleet: Fleet) => (): { model: Model; real: World } => {
  const sim = new RolloutSim()
  const jobs = fleet.jobs.map((j) =>
    aJob({
      id: `web:${j.version}`,
      ports: { http: { internalPort: 80, protocol: "tcp", ...(j.staticPort ? { externalPort: STATIC_PORT } : {}) } },
      ...(j.token !== undefined ? { token: j.token } : {}),
      ...(j.rolloutOptions !== undefined ? { rolloutOptions: j.rolloutOptions } : {}),
    }),
  )
  const other = aJob({ id: "other:v1", ports: { http: { internalPort: 80, protocol: "tcp", externalPort: STATIC_PORT } } })
  for (const j of [...jobs, other]) sim.createJob(j)
  const model = new Model(fleet, sim, jobs.map((j) => sim.state.jobs.get(j.id)!), sim.state.jobs.get(other.id)!)
  for (const h of fleet.hosts) {
    sim.ok({ _tag: "RegisterHost", host: h.name as HostName, agentId: `agent-${h.name}-0` as AgentId }, "master")
    model.registeredAt.set(h.name, sim.state.position)
    if (h.up) sim.ok({ _tag: "MarkHostUp", host: h.name as HostName, agentId: `agent-${h.name}-0` as AgentId }, "master")
    if (h.labels !== undefined) sim.labels.set(h.name, h.labels)
    model.labels.set(h.name, h.labels)
    model.up.set(h.name, h.up)
    model.registered.add(h.name)
    model.agentIds.set(h.name, 0)
  }
  sim.ok({ _tag: "CreateDeploymentGroup", group: { name: GROUP, hostSelectors: fleet.selectors } })
  sim.now += 1
  const shadow = emptyState()
  for (const e of sim.log) applyEvent(shadow, e)
  return { model, real: { model, sim, shadow, origin: new Map() } }
}

describe("rollouts against a simple model (model-based)", () => {
  it(
    "random fleets, groups, jobs and interleavings of rolling updates, agents' reports, time, hand-made changes, label changes, " +
      "HOSTS_CHANGED, stop and AdvanceRollout: (a) no host runs two of the group's jobs without overlap, never more than one extra " +
      "with it; (b) a clean ACTIVE rollout leaves exactly its targets running the new job; (c) steps start and end once each, in " +
      "order, with only their own effects; (d) a failed rollout has one failed step, its last; (e) every rollout event folds; " +
      "(f) plans and refusals are the model's; (g) the leader never leaves a rollout stuck; (h) HOSTS_CHANGED follows Helios's rule",
    () => {
      check(
        fc.property(fleetArb, fc.commands([actionArb.map((a) => new Act(a))], { maxCommands: 80, size: "max" }), (fleet, cmds) => {
          fc.modelRun(setup(fleet), cmds)
        }),
        { runs: 300, seed: 1102 },
      )
    },
    120_000,
  )
})

describe("regressions: the bugs the model found", () => {
  it("bug 1: with ignoreFailures, a host whose UNDEPLOY_OLD_JOBS failed is not given the new job next to the old one (no two versions without overlap)", () => {
    const sim = new RolloutSim()
    sim.addHost("h1", { role: "web" })
    const v1 = sim.createJob(aJob({ id: "web:v1" }))
    const v2 = sim.createJob(aJob({ id: "web:v2", token: "s3cret" }))
    sim.ok({ _tag: "CreateDeploymentGroup", group: { name: GROUP, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
    sim.ok({ _tag: "StartRollout", group: GROUP, jobId: v2, options: { token: "s3cret" }, labels: sim.hostLabels })
    sim.advance(GROUP)
    sim.ok({ _tag: "StartRollout", group: GROUP, jobId: v1, options: { ignoreFailures: true }, labels: sim.hostLabels })
    sim.advance(GROUP)
    expect(sim.events("RolloutStepFailed").map((e) => `${e.kind} ${e.host} ${e.error}`)).toEqual(["UNDEPLOY_OLD_JOBS h1 TOKEN_VERIFICATION_ERROR"])
    expect(groupJobsOn(sim.state, "h1").length, "the group's jobs on h1").toBeLessThanOrEqual(1)
  })

  it("bug 2: with overlap, a rollout of the job the group already deployed with goal STOP does not finish ACTIVE with the host empty", () => {
    const sim = new RolloutSim()
    sim.addHost("h1", { role: "web" })
    const v1 = sim.createJob(aJob({ id: "web:v1" }))
    sim.ok({ _tag: "CreateDeploymentGroup", group: { name: GROUP, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
    sim.ok({ _tag: "StartRollout", group: GROUP, jobId: v1, options: {}, labels: sim.hostLabels })
    sim.advance(GROUP)
    sim.report("h1", v1, "RUNNING")
    sim.advance(GROUP)
    expect(sim.state.groups.get(GROUP)!.rollout!.status).toBe("ACTIVE")
    // `helios stop`: the agent has not stopped the container yet (its last report is still RUNNING).
    sim.ok({ _tag: "SetGoal", jobId: v1, host: "h1" as HostName, goal: "STOP" })
    sim.ok({ _tag: "StartRollout", group: GROUP, jobId: v1, options: { overlap: true }, labels: sim.hostLabels })
    sim.advance(GROUP)
    const status = sim.state.groups.get(GROUP)!.rollout!.status
    const left = groupJobsOn(sim.state, "h1").map((d) => `${d.jobId.split(":").slice(0, 2).join(":")} ${d.goal}`)
    // Either it did not pass as a success, or h1 runs the job (goal START) when it did.
    if (status === "ACTIVE") expect(left, "h1 after an ACTIVE rollout").toEqual(["web:v1 START"])
  })

  it("bug 3: a failed UNDEPLOY_OLD_JOBS does not leave later steps of its batch believing its undeploys happened (no static port double-booked)", () => {
    const sim = new RolloutSim()
    sim.addHost("h1", { role: "web" })
    const port = { http: { internalPort: 80, protocol: "tcp" as const, externalPort: STATIC_PORT } }
    const a = sim.createJob(aJob({ id: "web:a" }))
    const b = sim.createJob(aJob({ id: "web:b", token: "s3cret", ports: port }))
    const c = sim.createJob(aJob({ id: "web:c", token: "s3cret", ports: port }))
    sim.ok({ _tag: "CreateDeploymentGroup", group: { name: GROUP, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
    const roll = (jobId: JobId, options: RolloutOptions) => {
      sim.ok({ _tag: "StartRollout", group: GROUP, jobId, options, labels: sim.hostLabels })
      sim.advance(GROUP)
    }
    roll(b, { token: "s3cret" })
    sim.report("h1", b, "RUNNING")
    sim.advance(GROUP)
    // An overlap rollout of a fails at its UNDEPLOY_OLD_JOBS (b's token): h1 keeps b and a.
    roll(a, { overlap: true })
    sim.report("h1", a, "RUNNING")
    sim.advance(GROUP)
    expect([...sim.state.deployments.get("h1" as HostName)!.keys()].map((j) => j.split(":")[1])).toEqual(["b", "a"])
    // c's UNDEPLOY_OLD_JOBS: b would go (same token), a's token fails the step; b stays.
    roll(c, { token: "s3cret", ignoreFailures: true })
    const ports = [...sim.state.deployments.get("h1" as HostName)!.keys()].filter((j) => staticPortsOf(sim.state.jobs.get(j)).length > 0)
    expect(ports.map((j) => j.split(":")[1]), "deployments holding port 8080 on h1").toHaveLength(1)
  })

  it("bug 3 (b): with migrate, a failed UNDEPLOY_OLD_JOBS does not lead its batch to deploy a job that is still deployed on the host", () => {
    const sim = new RolloutSim()
    sim.addHost("h1", { role: "web" })
    const v1 = sim.createJob(aJob({ id: "web:v1", token: "s3cret" }))
    const v2 = sim.createJob(aJob({ id: "web:v2" }))
    sim.ok({ _tag: "CreateDeploymentGroup", group: { name: GROUP, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
    sim.ok({ _tag: "DeployJob", jobId: v1, host: "h1" as HostName, goal: "START", token: "s3cret" })
    sim.ok({ _tag: "StartRollout", group: GROUP, jobId: v2, options: {}, labels: sim.hostLabels })
    sim.advance(GROUP)
    const from = sim.log.length
    sim.ok({ _tag: "StartRollout", group: GROUP, jobId: v1, options: { token: "s3cret", migrate: true, ignoreFailures: true }, labels: sim.hostLabels })
    sim.advance(GROUP)
    const changes = sim.log.slice(from).map((s) => s.envelope.event).flatMap((e) => (e._tag === "JobDeployed" ? [`deploy ${e.job.id.split(":")[1]}`] : e._tag === "JobUndeployed" ? [`undeploy ${e.jobId.split(":")[1]}`] : []))
    // A deploy of v1 on h1 only after v1's undeploy there.
    if (changes.includes("deploy v1")) expect(changes.indexOf("undeploy v1"), `changes on h1: ${changes.join(", ")}`).toBeGreaterThanOrEqual(0)
  })

  it("bug 4: a host that only leaves the group starts a HOSTS_CHANGED rollout that undeploys it; one that left and comes back gets the job", () => {
    const sim = new RolloutSim()
    sim.addHost("h1", { role: "web" })
    sim.addHost("h2", { role: "web" })
    const v1 = sim.createJob(aJob({ id: "web:v1" }))
    sim.ok({ _tag: "CreateDeploymentGroup", group: { name: GROUP, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
    const settle = () => {
      for (let i = 0; i < 4; i++) {
        sim.advance(GROUP)
        sim.runEverything()
      }
    }
    const hostsChanged = () => sim.ok({ _tag: "RolloutOnHostsChange", group: GROUP, labels: sim.hostLabels }, "master")
    sim.ok({ _tag: "StartRollout", group: GROUP, jobId: v1, options: {}, labels: sim.hostLabels })
    settle()
    expect(sim.state.groups.get(GROUP)!.rollout!.status).toBe("ACTIVE")
    sim.labels.set("h1", { role: "db" })
    hostsChanged()
    settle()
    expect(groupJobsOn(sim.state, "h1"), "h1 left the group: undeployed").toEqual([])
    sim.labels.set("h1", { role: "web" })
    hostsChanged()
    settle()
    expect(groupJobsOn(sim.state, "h1").map((d) => d.jobId), "h1 is back in the group: deployed").toEqual([v1])
  })

  it("bug 5: the leader's AWAIT_RUNNING decision conflicts with an undeploy of that host's job appended before it (no step recorded as passed on a host whose job is gone)", () => {
    const sim = new RolloutSim()
    sim.addHost("h1", { role: "web" })
    const v1 = sim.createJob(aJob({ id: "web:v1" }))
    sim.ok({ _tag: "CreateDeploymentGroup", group: { name: GROUP, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
    sim.ok({ _tag: "StartRollout", group: GROUP, jobId: v1, options: {}, labels: sim.hostLabels })
    sim.advance(GROUP)
    sim.report("h1", v1, "RUNNING")
    // The leader decides its next batch (AWAIT_RUNNING h1 passes, the rollout finishes) ...
    const decided = decide({ _tag: "AdvanceRollout", group: GROUP }, sim.state, { now: sim.now, actor: { kind: "master", name: "m" }, master: "m" })
    if (Result.isFailure(decided)) return expect.fail(decided.failure.message)
    expect(decided.success.events.map((e) => e._tag)).toEqual(["RolloutStepSucceeded", "RolloutFinished"])
    // ... while a user's undeploy of web:v1 from h1 lands first.
    sim.ok({ _tag: "UndeployJob", jobId: v1, host: "h1" as HostName })
    expect(sim.appendDecided(decided.success), "the leader's append").toBe("conflict")
  })
})
