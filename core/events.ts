import { Schema } from "effect"
import { Actor, AgentId, Goal, HostName, TaskGoal, TaskState, ThrottleState, type Position } from "./ids.ts"
import { Job, JobId, PortMapping } from "./job.ts"
import { SafeRecord, Text } from "./safe-text.ts"

/*
 * Every fact the system records, in the past tense. Payloads hold what a reader needs without
 * looking elsewhere: JobDeployed carries the whole job, so an agent folds its host stream alone.
 */

export const JobCreated = Schema.TaggedStruct("JobCreated", { job: Job })
export const JobRemoved = Schema.TaggedStruct("JobRemoved", { jobId: JobId })
export const JobDeployed = Schema.TaggedStruct("JobDeployed", {
  job: Job,
  host: HostName,
  goal: Goal,
  deployerUser: Schema.optionalKey(Text),
  deployerMaster: Schema.optionalKey(Text),
})
export const DeploymentGoalChanged = Schema.TaggedStruct("DeploymentGoalChanged", {
  jobId: JobId,
  host: HostName,
  goal: Goal,
})
export const JobUndeployed = Schema.TaggedStruct("JobUndeployed", { jobId: JobId, host: HostName })
export const HostRegistered = Schema.TaggedStruct("HostRegistered", { host: HostName, agentId: AgentId })
export const HostDeregistered = Schema.TaggedStruct("HostDeregistered", { host: HostName })
export const HostWentUp = Schema.TaggedStruct("HostWentUp", { host: HostName, agentId: AgentId })
export const HostWentDown = Schema.TaggedStruct("HostWentDown", { host: HostName })
export const TaskStateChanged = Schema.TaggedStruct("TaskStateChanged", {
  jobId: JobId,
  host: HostName,
  state: TaskState,
  goal: TaskGoal,
  throttled: ThrottleState,
  containerId: Schema.optionalKey(Text),
  ports: Schema.optionalKey(SafeRecord(PortMapping)),
  env: Schema.optionalKey(SafeRecord(Text)),
  error: Schema.optionalKey(Text),
})

export const DomainEvent = Schema.Union([
  JobCreated,
  JobRemoved,
  JobDeployed,
  DeploymentGoalChanged,
  JobUndeployed,
  HostRegistered,
  HostDeregistered,
  HostWentUp,
  HostWentDown,
  TaskStateChanged,
])
export type DomainEvent = typeof DomainEvent.Type
export type EventType = DomainEvent["_tag"]
export type EventOf<T extends EventType> = Extract<DomainEvent, { _tag: T }>
/** What an agent reports about one task (TaskStateChanged without its tag, job and host). */
export type TaskReport = Omit<EventOf<"TaskStateChanged">, "_tag" | "jobId" | "host">

/** The current schema version of every event type; older versions are upcast on read (codec.ts). */
export const EVENT_SCHEMA_VERSION = 1

/** An event as written: the fact plus who, when, why. The log assigns the position. */
export const EventEnvelope = Schema.Struct({
  event: DomainEvent,
  schemaVersion: Schema.Number.pipe(Schema.check(Schema.isInt())),
  /** Epoch milliseconds, from the writer's clock. */
  at: Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))),
  actor: Actor,
  /** The id of the command that caused it, for idempotent retries and tracing. */
  commandId: Schema.optionalKey(Text.pipe(Schema.check(Schema.isMaxLength(128)))),
})
export type EventEnvelope = typeof EventEnvelope.Type

/** The `bumped` of every event but a batch's last: one shared frozen array, not one per event. */
export const NO_STREAMS: ReadonlyArray<StreamId> = Object.freeze([])

/** A stream whose version guards optimistic concurrency: one job's configuration, or one host's. */
export type StreamId = `job:${string}` | `host:${string}`
export const jobStream = (jobId: string): StreamId => `job:${jobId}`
export const hostStream = (host: string): StreamId => `host:${host}`

/** An event as read back from the log. */
export interface StoredEvent {
  readonly position: Position
  readonly envelope: EventEnvelope
  /** Streams whose versions the append of this event's batch bumped; set on a batch's last event only. */
  readonly bumped: ReadonlyArray<StreamId>
}

/** The hosts an event concerns: the host streams it is indexed under (design invariant 6). */
export const hostsOf = (event: DomainEvent): ReadonlyArray<HostName> => {
  switch (event._tag) {
    case "JobCreated":
    case "JobRemoved":
      return []
    case "JobDeployed":
    case "DeploymentGoalChanged":
    case "JobUndeployed":
    case "HostRegistered":
    case "HostDeregistered":
    case "HostWentUp":
    case "HostWentDown":
    case "TaskStateChanged":
      return [event.host]
  }
}

/** The job an event concerns, if any: what `history JOB` collects. */
export const jobOf = (event: DomainEvent): string | undefined => {
  switch (event._tag) {
    case "JobCreated":
    case "JobDeployed":
      return event.job.id
    case "JobRemoved":
    case "DeploymentGoalChanged":
    case "JobUndeployed":
    case "TaskStateChanged":
      return event.jobId
    case "HostRegistered":
    case "HostDeregistered":
    case "HostWentUp":
    case "HostWentDown":
      return undefined
  }
}
