import type { RolloutErrorCode, RolloutReason, RolloutStepKind, MergedRolloutOptions } from "../core/deployment-group.ts"
import type { StepEvidence, StoredEvent } from "../core/events.ts"
import { formatActor, type Position, type TaskState, type ThrottleState } from "../core/ids.ts"

/*
 * A rollout rebuilt from the log alone, step by step: its plan, each step's start and end (time and
 * position), what the host's tasks went through meanwhile, and for a failed step the reason with
 * its evidence. A fold (`applyReplay`) over the events of the log from the rollout's start, so it
 * can be built in one go or event by event with the same result; the master feeds it the log range
 * of one rollout (`GET /deployment-group/{name}/rollouts/{n}/replay`).
 */

export interface Moment {
  readonly position: Position
  /** Epoch ms. */
  readonly time: number
}

export interface Transition extends Moment {
  readonly jobId: string
  readonly state: TaskState
  readonly throttled: ThrottleState
  readonly containerId?: string
  readonly error?: string
}

export interface ReplayStep {
  readonly index: number
  readonly host: string
  readonly kind: RolloutStepKind
  started?: Moment
  ended?: Moment
  outcome?: "SUCCEEDED" | "FAILED" | "SKIPPED"
  /** SKIPPED: why (an earlier step on the host failed). */
  reason?: string
  error?: RolloutErrorCode
  message?: string
  evidence?: StepEvidence
  /** The host's task reports (any job) while the step was in progress, in log order. */
  readonly transitions: Transition[]
}

export type ReplayOutcome = "ACTIVE" | "FAILED" | "STOPPED" | "SUPERSEDED"

export interface ReplayRollout {
  readonly group: string
  /** Its number among the group's rollouts in this replay (1 for the first one folded). */
  readonly number: number
  readonly jobId: string
  readonly reason: RolloutReason
  readonly actor: string
  readonly options: MergedRolloutOptions
  readonly hosts: ReadonlyArray<string>
  readonly rollbackTo?: number
  readonly canaryUntilStep?: number
  readonly started: Moment
  readonly steps: ReplayStep[]
  ended?: Moment
  outcome?: ReplayOutcome
  error?: string
  awaitingPromotion?: Moment & { readonly step: number }
  promoted?: Moment
}

export interface ReplayState {
  /** Rollouts by group, oldest first. */
  readonly groups: Map<string, ReplayRollout[]>
  /** Steps in progress by host: what a task report on that host is added to. */
  readonly activeSteps: Map<string, Set<ReplayStep>>
  /** Number of the first rollout of each group, for folds that start mid-log (1 from the log's start). */
  readonly firstNumber: ReadonlyMap<string, number>
}

export const emptyReplay = (firstNumber: ReadonlyMap<string, number> = new Map()): ReplayState => ({ groups: new Map(), activeSteps: new Map(), firstNumber })

const moment = (e: StoredEvent): Moment => ({ position: e.position, time: e.envelope.at })

const current = (s: ReplayState, group: string, jobId: string): ReplayRollout | undefined => {
  const r = s.groups.get(group)?.at(-1)
  return r !== undefined && r.jobId === jobId && r.outcome === undefined ? r : undefined
}

const startStep = (s: ReplayState, step: ReplayStep, at: Moment): void => {
  if (step.started !== undefined) return
  step.started = at
  let set = s.activeSteps.get(step.host)
  if (set === undefined) s.activeSteps.set(step.host, (set = new Set()))
  set.add(step)
}

const endStep = (s: ReplayState, step: ReplayStep, at: Moment): void => {
  step.ended = at
  s.activeSteps.get(step.host)?.delete(step)
}

/** Ends a rollout: its steps in progress stop collecting transitions. */
const endRollout = (s: ReplayState, r: ReplayRollout, at: Moment, outcome: ReplayOutcome, error?: string): void => {
  r.ended = at
  r.outcome = outcome
  if (error !== undefined) r.error = error
  for (const step of r.steps) if (step.started !== undefined && step.ended === undefined) s.activeSteps.get(step.host)?.delete(step)
}

/** Applies one event (mutates `s`). Events the rollout did not write (or that do not fit it) change nothing. */
export const applyReplay = (s: ReplayState, e: StoredEvent): ReplayState => {
  const event = e.envelope.event
  switch (event._tag) {
    case "TaskStateChanged": {
      const steps = s.activeSteps.get(event.host)
      if (steps === undefined || steps.size === 0) return s
      const t: Transition = {
        ...moment(e),
        jobId: event.jobId,
        state: event.state,
        throttled: event.throttled,
        ...(event.containerId !== undefined ? { containerId: event.containerId } : {}),
        ...(event.error !== undefined ? { error: event.error } : {}),
      }
      for (const step of steps) step.transitions.push(t)
      return s
    }
    case "RolloutStarted": {
      const list = s.groups.get(event.group) ?? []
      const previous = list.at(-1)
      if (previous !== undefined && previous.outcome === undefined) endRollout(s, previous, moment(e), "SUPERSEDED")
      list.push({
        group: event.group,
        number: (s.firstNumber.get(event.group) ?? 1) + list.length,
        jobId: event.jobId,
        reason: event.reason,
        actor: formatActor(e.envelope.actor),
        options: event.options,
        hosts: event.hosts,
        ...(event.rollbackTo !== undefined ? { rollbackTo: event.rollbackTo } : {}),
        ...(event.canaryUntilStep !== undefined ? { canaryUntilStep: event.canaryUntilStep } : {}),
        started: moment(e),
        steps: event.steps.map((step, index) => ({ index, host: step.host, kind: step.kind, transitions: [] })),
      })
      s.groups.set(event.group, list)
      return s
    }
    case "RolloutStepStarted": {
      const step = current(s, event.group, event.jobId)?.steps[event.step]
      if (step !== undefined) startStep(s, step, moment(e))
      return s
    }
    case "RolloutStepSucceeded":
    case "RolloutStepSkipped":
    case "RolloutStepFailed": {
      const step = current(s, event.group, event.jobId)?.steps[event.step]
      if (step === undefined || step.ended !== undefined) return s
      endStep(s, step, moment(e))
      step.outcome = event._tag === "RolloutStepSucceeded" ? "SUCCEEDED" : event._tag === "RolloutStepSkipped" ? "SKIPPED" : "FAILED"
      if (event._tag === "RolloutStepSkipped") step.reason = event.reason
      if (event._tag === "RolloutStepFailed") {
        step.error = event.error
        step.message = event.message
        if (event.evidence !== undefined) step.evidence = event.evidence
      }
      return s
    }
    case "RolloutAwaitingPromotion": {
      const r = current(s, event.group, event.jobId)
      if (r !== undefined) r.awaitingPromotion = { ...moment(e), step: event.step }
      return s
    }
    case "RolloutPromoted": {
      const r = current(s, event.group, event.jobId)
      if (r !== undefined) r.promoted = moment(e)
      return s
    }
    case "RolloutFinished": {
      const r = current(s, event.group, event.jobId)
      if (r !== undefined) endRollout(s, r, moment(e), event.status, event.error)
      return s
    }
    case "RolloutStopped": {
      const r = current(s, event.group, event.jobId)
      if (r !== undefined) endRollout(s, r, moment(e), "STOPPED", "Stopped by user")
      return s
    }
    case "JobCreated":
    case "JobRemoved":
    case "JobDeployed":
    case "DeploymentGoalChanged":
    case "JobUndeployed":
    case "HostRegistered":
    case "HostDeregistered":
    case "HostWentUp":
    case "HostWentDown":
    case "DeploymentGroupCreated":
    case "DeploymentGroupRemoved":
      return s
  }
}

export const foldReplay = (events: Iterable<StoredEvent>, from: ReplayState = emptyReplay()): ReplayState => {
  for (const e of events) applyReplay(from, e)
  return from
}

/** A step's duration in ms, if it ended. */
export const stepDuration = (step: ReplayStep): number | undefined =>
  step.started !== undefined && step.ended !== undefined ? step.ended.time - step.started.time : undefined
