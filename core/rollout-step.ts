import type { MergedRolloutOptions, RolloutErrorCode, RolloutStep } from "./deployment-group.ts"
import { planOverHosts, rolloutStartEvents } from "./rollout-planner.ts"
import { groupStream, hostStream, jobStream, type DomainEvent, type EventOf, type StepEvidence, type StreamId } from "./events.ts"
import type { HostName, Position, TaskState } from "./ids.ts"
import type { Job } from "./job.ts"
import { rollbackTarget, type Deployment, type FleetState, type GroupRecord, type RolloutRecord } from "./state.ts"
import { portConflict, tokenMatches } from "./deploy-rules.ts"

/*
 * Helios's rolling-update steps (ZooKeeperMasterModel.rollingUpdate*), pure: given a group's
 * rollout in progress, the fleet state and the time, the events that advance it. Steps that need
 * no waiting (undeploy, deploy) run back to back in one batch until a step must wait (a host not
 * RUNNING yet) or the batch is full; the batch always ends by starting the next step or finishing
 * the rollout, so the log shows every step's start and end, and the rollout's last progress (a
 * step's start) is what its timeout runs from.
 */

/** A task's earlier states on a host, oldest first, with their positions (from the history). */
export type PreviousStates = (jobId: string, host: HostName) => ReadonlyArray<{ readonly state: TaskState; readonly position: Position }>

export interface RolloutContext {
  readonly now: number
  /** The executing master's name: the deployerMaster of the deployments it makes. */
  readonly master?: string
  readonly previousStates?: PreviousStates
  /** Most steps one batch runs (a JobDeployed carries its whole job). */
  readonly maxStepsPerBatch?: number
}

export type RolloutAdvance =
  /** No rollout in progress. */
  | { readonly _tag: "Idle" }
  /** The step in progress waits (for a host to report RUNNING) until at most `deadline` (epoch ms). */
  | { readonly _tag: "Waiting"; readonly step: number; readonly deadline: number }
  | {
      readonly _tag: "Advance"
      readonly events: ReadonlyArray<DomainEvent>
      /** Streams the batch writes to (checked and bumped). */
      readonly streams: ReadonlyArray<StreamId>
      /** Streams the batch's steps read without writing (checked, not bumped): the hosts it judged. */
      readonly read: ReadonlyArray<StreamId>
    }

type StepOutcome =
  | { readonly _tag: "Done"; readonly effects: ReadonlyArray<DomainEvent> }
  | { readonly _tag: "Wait" }
  | { readonly _tag: "Fail"; readonly error: RolloutErrorCode; readonly message: string; readonly evidence?: StepEvidence }

const done = (effects: ReadonlyArray<DomainEvent> = []): StepOutcome => ({ _tag: "Done", effects })
const WAIT: StepOutcome = { _tag: "Wait" }
const fail = (error: RolloutErrorCode, message: string, evidence?: StepEvidence): StepOutcome =>
  evidence === undefined ? { _tag: "Fail", error, message } : { _tag: "Fail", error, message, evidence }

/**
 * The deployments of the fleet state with the effects of this batch's earlier steps laid over
 * them, so a deploy after an undeploy on the same host sees the port freed (no copy of the state).
 */
class DeploymentsView {
  private readonly overlay = new Map<HostName, Map<string, Deployment | null>>()

  constructor(private readonly state: FleetState) {}

  on(host: HostName): Deployment[] {
    const over = this.overlay.get(host)
    const base = this.state.deployments.get(host)
    const out: Deployment[] = []
    for (const [jobId, d] of base ?? []) if (!over?.has(jobId)) out.push(d)
    for (const d of over?.values() ?? []) if (d !== null) out.push(d)
    return out
  }

  get(host: HostName, jobId: string): Deployment | undefined {
    const over = this.overlay.get(host)
    if (over?.has(jobId)) return over.get(jobId) ?? undefined
    return this.state.deployments.get(host)?.get(jobId)
  }

  set(host: HostName, jobId: string, d: Deployment | null): void {
    let over = this.overlay.get(host)
    if (over === undefined) this.overlay.set(host, (over = new Map()))
    over.set(jobId, d)
  }

  /** Lays a succeeded step's deployment changes over the state, for the batch's later steps. */
  apply(effects: ReadonlyArray<DomainEvent>): void {
    for (const e of effects)
      if (e._tag === "JobUndeployed") this.set(e.host, e.jobId, null)
      else if (e._tag === "JobDeployed")
        this.set(e.host, e.job.id, { jobId: e.job.id, host: e.host, goal: e.goal, ...(e.deploymentGroup !== undefined ? { deploymentGroup: e.deploymentGroup } : {}), deployedAt: 0 as Position })
      else if (e._tag === "DeploymentGoalChanged") {
        const d = this.get(e.host, e.jobId)
        if (d !== undefined) this.set(e.host, e.jobId, { ...d, goal: e.goal })
      }
  }

  /** Whether this batch changed the job's deployment on the host (its task status is not yet about it). */
  changed(host: HostName, jobId: string): boolean {
    return this.overlay.get(host)?.has(jobId) === true
  }
}

interface StepInputs {
  readonly state: FleetState
  readonly group: GroupRecord
  readonly rollout: RolloutRecord
  readonly view: DeploymentsView
  readonly ctx: RolloutContext
  /** Whether the step's timeout has run out (only ever true for the step that was in progress). */
  readonly timedOut: boolean
}

/**
 * UNDEPLOY_OLD_JOBS: undeploy the group's other deployments on the host (with migrate, also a
 * hand-made deployment of the rollout's job), but never the group's own START deployment of the
 * rollout's job (redundant), nor, with overlap, the rollout's job at all (it is the new one: the
 * step comes after it runs). FORCE_UNDEPLOY_JOBS (a host that left the group): undeploy all the
 * group's deployments there.
 */
const undeployStep = (step: RolloutStep, inputs: StepInputs, force: boolean): StepOutcome => {
  const { state, group, rollout, view } = inputs
  const name = group.group.name
  if (!state.hosts.has(step.host)) return force ? done() : fail("HOST_NOT_FOUND", `host ${step.host} not found`)
  const effects: DomainEvent[] = []
  for (const d of view.on(step.host)) {
    const owned = d.deploymentGroup === name
    const ours = d.jobId === rollout.jobId
    if (!force) {
      if (!owned && !(rollout.options.migrate && ours)) continue
      if (ours && (rollout.options.overlap || (owned && d.goal === "START"))) continue
    } else if (!owned) continue
    const job = state.jobs.get(d.jobId)
    if (job !== undefined && !tokenMatches(job, rollout.options.token))
      return fail("TOKEN_VERIFICATION_ERROR", `token mismatch: the rollout's token does not match job ${d.jobId}'s`)
    effects.push({ _tag: "JobUndeployed", jobId: d.jobId, host: d.host })
  }
  return done(effects)
}

/**
 * DEPLOY_NEW_JOB: deploy the rollout's job (goal START, with the group's name). Already there:
 * the group's own copy is fine (a STOP copy is set to START, so it runs); a copy deployed by hand
 * or by another group is taken over with migrate (undeployed and deployed again for the group),
 * else left for AWAIT_RUNNING to judge (JOB_ALREADY_DEPLOYED), as in Helios.
 */
const deployStep = (step: RolloutStep, inputs: StepInputs): StepOutcome => {
  const { state, group, rollout, view, ctx } = inputs
  const job = state.jobs.get(rollout.jobId)
  if (job === undefined) return fail("JOB_NOT_FOUND", `job ${rollout.jobId} not found`)
  if (!state.hosts.has(step.host)) return fail("HOST_NOT_FOUND", `host ${step.host} not found`)
  if (!tokenMatches(job, rollout.options.token)) return fail("TOKEN_VERIFICATION_ERROR", `token mismatch for job ${job.id}`)
  const deployed: EventOf<"JobDeployed"> = {
    _tag: "JobDeployed",
    job,
    host: step.host,
    goal: "START",
    ...(ctx.master !== undefined ? { deployerMaster: ctx.master } : {}),
    deploymentGroup: group.group.name,
  }
  const existing = view.get(step.host, job.id)
  if (existing !== undefined) {
    if (existing.deploymentGroup === group.group.name)
      return done(existing.goal === "START" ? [] : [{ _tag: "DeploymentGoalChanged", jobId: job.id, host: step.host, goal: "START" }])
    if (!rollout.options.migrate) return done()
    return done([{ _tag: "JobUndeployed", jobId: job.id, host: step.host }, deployed])
  }
  const conflict = portConflict(state, job, view.on(step.host))
  if (conflict !== undefined)
    return fail("PORT_CONFLICT", `${conflict}: the conflicting job was deployed manually or by a different deployment group`)
  return done([deployed])
}

/** Why a task never reached RUNNING, as Helios words it (rollingUpdateTimedoutError), with the evidence. */
const timedOutWaiting = (job: Job | undefined, jobId: string, step: RolloutStep, inputs: StepInputs): StepOutcome => {
  const status = inputs.state.tasks.get(step.host)?.get(jobId)
  if (status === undefined) return fail("TIMED_OUT_RETRIEVING_JOB_STATUS", "timed out while retrieving job status")
  const previous = (inputs.ctx.previousStates?.(jobId, step.host) ?? []).slice(-10)
  const evidence: StepEvidence = {
    state: status.state,
    throttled: status.throttled,
    ...(status.error !== undefined ? { containerError: status.error } : {}),
    position: status.position,
    previousStates: previous.map((p) => ({ state: p.state, position: p.position })),
  }
  const base = `timed out waiting for job ${job?.id ?? jobId} to reach state RUNNING `
  const stateInfo = `(terminal job state ${status.state}, previous states: ${previous.map((p) => p.state).join("->")})`
  if (status.throttled === "IMAGE_MISSING") return fail("IMAGE_MISSING", `${base}due to missing Docker image ${stateInfo}`, evidence)
  if (status.throttled === "IMAGE_PULL_FAILED") return fail("IMAGE_PULL_FAILED", `${base}due to failure pulling Docker image ${stateInfo}`, evidence)
  if (status.error !== undefined && status.error !== "")
    return fail("TIMED_OUT_WAITING_FOR_JOB_TO_REACH_RUNNING", `${base}${stateInfo} container error: ${status.error}`, evidence)
  return fail("TIMED_OUT_WAITING_FOR_JOB_TO_REACH_RUNNING", `${base}${stateInfo}`, evidence)
}

const awaitRunningStep = (step: RolloutStep, inputs: StepInputs): StepOutcome => {
  const { state, group, rollout, view, timedOut } = inputs
  const d = view.get(step.host, rollout.jobId)
  if (d === undefined) return fail("JOB_UNEXPECTEDLY_UNDEPLOYED", "Job unexpectedly undeployed. Perhaps it was manually undeployed?")
  // Deployed in this very batch: no report can be about it yet.
  const status = view.changed(step.host, rollout.jobId) ? undefined : state.tasks.get(step.host)?.get(rollout.jobId)
  if (status === undefined || status.state !== "RUNNING")
    return timedOut ? timedOutWaiting(state.jobs.get(rollout.jobId), rollout.jobId, step, inputs) : WAIT
  if (d.deploymentGroup !== group.group.name)
    return fail("JOB_ALREADY_DEPLOYED", "job was already deployed, either manually or by a different deployment group")
  return done()
}

const runStep = (step: RolloutStep, inputs: StepInputs): StepOutcome => {
  switch (step.kind) {
    case "UNDEPLOY_OLD_JOBS":
      return undeployStep(step, inputs, false)
    case "FORCE_UNDEPLOY_JOBS":
      return undeployStep(step, inputs, true)
    case "DEPLOY_NEW_JOB":
      return deployStep(step, inputs)
    case "AWAIT_RUNNING":
      return awaitRunningStep(step, inputs)
  }
}

/**
 * The streams a rollout batch writes (checked and bumped): its group's, and the job and host of
 * each deployment change. The hosts whose steps it judged without changing anything are guarded
 * read-only (`read`): a host's stream is bumped only by a batch with an event of that host, since
 * agents count their stream's bumps. So a deploy or undeploy on a judged host decided meanwhile
 * (here or on another master) makes the append conflict, and the batch is decided again.
 */
const streamsOf = (group: string, events: ReadonlyArray<DomainEvent>): StreamId[] => {
  const out = new Set<StreamId>([groupStream(group)])
  for (const e of events)
    if (e._tag === "JobDeployed") out.add(jobStream(e.job.id)).add(hostStream(e.host))
    else if (e._tag === "JobUndeployed" || e._tag === "DeploymentGoalChanged") out.add(jobStream(e.jobId)).add(hostStream(e.host))
  return [...out]
}

/** Epoch ms at which the step in progress times out. */
export const stepDeadline = (rollout: RolloutRecord): number => rollout.lastProgressAt + rollout.options.timeout * 1000

/**
 * What advancing group `name`'s rollout takes now. A step times out when more than its timeout has
 * passed since the rollout's last progress (Helios: per step, not in total). A failed step ends the
 * rollout FAILED with "host: message", unless the rollout ignores failures.
 */
export const advanceRollout = (name: string, state: FleetState, ctx: RolloutContext): RolloutAdvance => {
  const group = state.groups.get(name)
  const rollout = group?.rollout
  if (group === undefined || rollout === undefined || rollout.status !== "ROLLING_OUT") return { _tag: "Idle" }
  const max = Math.max(1, ctx.maxStepsPerBatch ?? 64)
  const view = new DeploymentsView(state)
  const ref = { group: name, jobId: rollout.jobId }
  const events: DomainEvent[] = []
  let i = rollout.nextStep
  let failed = rollout.failures.length
  /** Host streams of the steps this batch judged: what a deploy or undeploy decided meanwhile must conflict with. */
  const judged = new Set<StreamId>()
  /** Hosts with a failed step in this rollout, and that step's index. */
  const failedHosts = new Map<string, number>(rollout.failures.map((f) => [f.host, f.step]))
  for (let ran = 0; ran < max; ran++) {
    const step = rollout.steps[i]
    if (step === undefined) {
      events.push({ _tag: "RolloutFinished", ...ref, status: "ACTIVE" })
      break
    }
    const stepRef = { ...ref, step: i, host: step.host, kind: step.kind }
    const failedBefore = failedHosts.get(step.host)
    // A host that failed earlier in this rollout (which went on) runs none of its later steps, so a
    // host whose old job could not be undeployed never gets the new one beside it.
    const outcome: StepOutcome | { readonly _tag: "Skip" } =
      failedBefore !== undefined ? { _tag: "Skip" } : runStep(step, { state, group, rollout, view, ctx, timedOut: ran === 0 && ctx.now - rollout.lastProgressAt > rollout.options.timeout * 1000 })
    if (outcome._tag === "Wait") {
      if (events.length === 0) return { _tag: "Waiting", step: i, deadline: stepDeadline(rollout) }
      break
    }
    if (outcome._tag !== "Skip") judged.add(hostStream(step.host))
    if (outcome._tag === "Skip") events.push({ _tag: "RolloutStepSkipped", ...stepRef, reason: `step ${failedBefore! + 1} on ${step.host} failed` })
    else if (outcome._tag === "Done") {
      view.apply(outcome.effects)
      events.push(...outcome.effects, { _tag: "RolloutStepSucceeded", ...stepRef })
    } else {
      failedHosts.set(step.host, i)
      events.push({
        _tag: "RolloutStepFailed",
        ...stepRef,
        error: outcome.error,
        message: outcome.message,
        ...(outcome.evidence !== undefined ? { evidence: outcome.evidence } : {}),
      })
      failed++
      if (!tolerated(rollout, failed)) {
        events.push({ _tag: "RolloutFinished", ...ref, status: "FAILED", error: `${step.host}: ${outcome.message}` })
        events.push(...autoRevert(group, rollout, state))
        break
      }
    }
    i++
    const next = rollout.steps[i]
    if (next === undefined) {
      events.push({ _tag: "RolloutFinished", ...ref, status: "ACTIVE" })
      break
    }
    // The canary hosts are done: wait for a user's promote (which starts the next step).
    if (i === rollout.canaryUntilStep && !rollout.promoted) {
      events.push({ _tag: "RolloutAwaitingPromotion", ...ref, step: i })
      break
    }
    events.push({ _tag: "RolloutStepStarted", ...ref, step: i, host: next.host, kind: next.kind })
  }
  const streams = streamsOf(name, events)
  return { _tag: "Advance", events, streams, read: [...judged].filter((s) => !streams.includes(s)) }
}

/** The number of distinct hosts a rollout's steps touch (what failureRatio is a fraction of). */
const hostCount = (rollout: RolloutRecord): number => new Set(rollout.steps.map((s) => s.host)).size

/**
 * Whether a rollout goes on after its `failed`-th failed step: always with ignoreFailures (Helios),
 * else while no more than maxFailures steps, or failureRatio of its hosts, failed.
 */
const tolerated = (rollout: RolloutRecord, failed: number): boolean => {
  const o = rollout.options
  if (o.ignoreFailures) return true
  if (o.maxFailures !== undefined && failed <= o.maxFailures) return true
  // A quotient, not failureRatio * hosts: 0.57 * 100 is 56.99999999999999, and 57 of 100 is 0.57.
  if (o.failureRatio !== undefined && failed / hostCount(rollout) <= o.failureRatio) return true
  return false
}

/**
 * With autoRevert, what follows a FAILED rollout: a ROLLBACK rollout of the group's last ACTIVE
 * job other than the failed one's, over the hosts the failed one covered, with that rollout's
 * options (no canary, no further revert). Nothing when there is none to go back to, or the failed
 * rollout was itself a rollback, or it was a HOSTS_CHANGED one: that only brought the group's job to
 * hosts that joined, no change of version to undo, and failing on a new host must not take the
 * whole group back to an older job.
 */
const autoRevert = (group: GroupRecord, failed: RolloutRecord, state: FleetState): DomainEvent[] => {
  if (failed.options.autoRevert !== true || failed.reason === "ROLLBACK" || failed.reason === "HOSTS_CHANGED") return []
  const target = rollbackTarget(group, failed)
  if (target === undefined || !state.jobs.has(target.jobId)) return []
  const options = rollbackOptions(target.options)
  const hosts = [...state.hosts.values()].map((h) => ({ name: h.name, labels: undefined, up: h.up }))
  const plan = planOverHosts(group.group.name, group.hosts, hosts, state, options)
  return rolloutStartEvents(group.group.name, target.jobId, "ROLLBACK", options, plan, target.number)
}

/** A rollback's options: those given, else the restored rollout's, never a canary nor a further automatic revert. */
export const rollbackOptions = (base: MergedRolloutOptions, given: Partial<MergedRolloutOptions> = {}): MergedRolloutOptions => {
  const { canary: _canary, autoRevert: _autoRevert, ...rest } = { ...base, ...given }
  return rest
}

/** A HOSTS_CHANGED rollout's options: the last rollout's without a canary (no one is there to promote it). */
export const hostsChangedOptions = (last: MergedRolloutOptions): MergedRolloutOptions => {
  const { canary: _canary, ...rest } = last
  return rest
}
