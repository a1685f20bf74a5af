import { Schema } from "effect"
import type { ExpectedVersion, HostStreamEvent } from "./event-log.ts"
import { hostStream } from "./events.ts"
import { AgentId, Goal, HostName, NonNegativeInt, TaskState, ThrottleState } from "./ids.ts"
import { Job } from "./job.ts"
import { SafeRecord } from "./safe-text.ts"

/*
 * The agent's desired state: a pure fold of ONE host's stream (no I/O). It also remembers what the
 * agent needs to register (who holds the host, the host stream's version) and the last task
 * status the log holds for each deployed job.
 */

export interface DesiredDeployment {
  readonly job: Job
  readonly goal: Goal
}

/** The last TaskStateChanged the log holds for a job on this host. */
export interface LoggedStatus {
  readonly state: TaskState
  readonly goal: Goal
  readonly throttled: ThrottleState
  readonly containerId?: string
  readonly error?: string
  readonly commandId?: string
}

export interface DesiredState {
  readonly host: HostName
  /** Host position of the last event folded in (the checkpoint to resume from). */
  readonly hostPosition: number
  /** How many appends bumped `host:<name>` (seen on a batch's last event): version = bumps - 1. */
  readonly hostStreamBumps: number
  /** The agent id the host is registered to, if registered. */
  readonly registeredAgentId?: AgentId
  /** Whether the last up/down fact about the host was "up", and by which agent. */
  readonly upAgentId?: AgentId
  readonly deployments: Readonly<Record<string, DesiredDeployment>>
  readonly lastStatus: Readonly<Record<string, LoggedStatus>>
}

export const emptyDesiredState = (host: HostName): DesiredState => ({
  host,
  hostPosition: 0,
  hostStreamBumps: 0,
  deployments: {},
  lastStatus: {},
})

/*
 * A host stream's base: its desired state as of host position `hostPosition`, written when the
 * global log's events that position points into were archived (README "Retention and archiving").
 * An agent whose own fold is behind it starts from it instead of reading the stream from 0.
 */
const DesiredStateSchema = Schema.Struct({
  host: HostName,
  hostPosition: NonNegativeInt,
  hostStreamBumps: NonNegativeInt,
  registeredAgentId: Schema.optionalKey(AgentId),
  upAgentId: Schema.optionalKey(AgentId),
  deployments: SafeRecord(Schema.Struct({ job: Job, goal: Goal })),
  lastStatus: SafeRecord(
    Schema.Struct({
      state: TaskState,
      goal: Goal,
      throttled: ThrottleState,
      containerId: Schema.optionalKey(Schema.String),
      error: Schema.optionalKey(Schema.String),
      commandId: Schema.optionalKey(Schema.String),
    }),
  ),
})
export const HOST_STREAM_BASE_FORMAT = 1
export const HostStreamBase = Schema.Struct({
  format: Schema.Literal(HOST_STREAM_BASE_FORMAT),
  /** The last global log position the archive holds (the base folds every event of the stream up to it). */
  archivedThrough: NonNegativeInt,
  state: DesiredStateSchema,
})
export type HostStreamBase = typeof HostStreamBase.Type

const without = <V>(r: Readonly<Record<string, V>>, key: string): Readonly<Record<string, V>> => {
  if (!(key in r)) return r
  const { [key]: _, ...rest } = r
  return rest
}

/** Folds one event of this host's stream (events of other hosts are ignored). */
export const applyHostEvent = (s: DesiredState, e: HostStreamEvent): DesiredState => {
  if (e.hostPosition <= s.hostPosition) return s // already folded (a replayed delivery)
  const bumps = s.hostStreamBumps + (e.bumped.includes(hostStream(s.host)) ? 1 : 0)
  const next: DesiredState = { ...s, hostPosition: e.hostPosition, hostStreamBumps: bumps }
  const event = e.envelope.event
  if ("host" in event && event.host !== s.host) return next
  switch (event._tag) {
    case "JobDeployed":
      return {
        ...next,
        deployments: { ...s.deployments, [event.job.id]: { job: event.job as Job, goal: event.goal } },
        lastStatus: without(s.lastStatus, event.job.id),
      }
    case "DeploymentGoalChanged": {
      const d = s.deployments[event.jobId]
      return d === undefined ? next : { ...next, deployments: { ...s.deployments, [event.jobId]: { ...d, goal: event.goal } } }
    }
    case "JobUndeployed":
      return { ...next, deployments: without(s.deployments, event.jobId), lastStatus: without(s.lastStatus, event.jobId) }
    case "HostRegistered":
      return { ...next, registeredAgentId: event.agentId }
    case "HostDeregistered": {
      const { registeredAgentId: _r, upAgentId: _u, ...rest } = next
      return { ...rest, deployments: {}, lastStatus: {} }
    }
    case "HostWentUp":
      return { ...next, upAgentId: event.agentId }
    case "HostWentDown": {
      const { upAgentId: _, ...rest } = next
      return rest
    }
    case "TaskStateChanged": {
      if (s.deployments[event.jobId] === undefined) return next // a late report about an undeployed job
      if (event.goal === "UNDEPLOY") return next // the end of an earlier deployment of the job, deployed again since
      const status: LoggedStatus = {
        state: event.state,
        goal: event.goal,
        throttled: event.throttled,
        ...(event.containerId !== undefined ? { containerId: event.containerId } : {}),
        ...(event.error !== undefined ? { error: event.error } : {}),
        ...(e.envelope.commandId !== undefined ? { commandId: e.envelope.commandId } : {}),
      }
      return { ...next, lastStatus: { ...s.lastStatus, [event.jobId]: status } }
    }
    case "JobCreated":
    case "JobRemoved":
    // Not in host streams (hostsOf), and nothing an agent acts on: it follows the deployments they make.
    case "DeploymentGroupCreated":
    case "DeploymentGroupRemoved":
    case "RolloutStarted":
    case "RolloutStepStarted":
    case "RolloutStepSucceeded":
    case "RolloutStepFailed":
    case "RolloutFinished":
    case "RolloutStopped":
    case "RolloutStepSkipped":
    case "RolloutAwaitingPromotion":
    case "RolloutPromoted":
      return next
  }
}

export const foldHostStream = (s: DesiredState, events: Iterable<HostStreamEvent>): DesiredState => {
  let out = s
  for (const e of events) out = applyHostEvent(out, e)
  return out
}

/** The expected version of `host:<name>` for an append that read this state. */
export const hostStreamVersion = (s: DesiredState): ExpectedVersion => (s.hostStreamBumps === 0 ? "none" : s.hostStreamBumps - 1)
