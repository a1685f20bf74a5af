import { Schema } from "effect"
import {
  DeploymentGroup,
  DeploymentGroupName,
  MergedRolloutOptions,
  RolloutErrorCode,
  RolloutOutcome,
  RolloutReason,
  RolloutStep,
  RolloutStepKind,
} from "./deployment-group.ts"
import { Actor, AgentId, Goal, HostName, Position, TaskGoal, TaskState, ThrottleState } from "./ids.ts"
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
  /** The deployment group whose rollout made this deployment (Helios's deploymentGroupName). */
  deploymentGroup: Schema.optionalKey(DeploymentGroupName),
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


/*
 * Deployment groups and rollouts. A rollout is identified by its group: a group has at most one
 * rollout in progress, and its events are appended under the group's stream version, so steps
 * happen one at a time, in order, each recorded once. Every batch that ends step i also starts
 * step i+1 (or finishes the rollout); the start of the current step is the rollout's last
 * progress, from which the step's timeout runs. The rollout events are in no host's stream
 * (agents do not need them) and in the history of the rollout's job.
 */
export const DeploymentGroupCreated = Schema.TaggedStruct("DeploymentGroupCreated", { group: DeploymentGroup })
/** The group is gone; the deployments its rollouts made stay (as in Helios). */
export const DeploymentGroupRemoved = Schema.TaggedStruct("DeploymentGroupRemoved", { group: DeploymentGroupName })
export const RolloutStarted = Schema.TaggedStruct("RolloutStarted", {
  group: DeploymentGroupName,
  jobId: JobId,
  reason: RolloutReason,
  options: MergedRolloutOptions,
  /** The hosts matching the group's selectors (up or down), in Helios's alphanumeric order. */
  hosts: Schema.Array(HostName),
  /** The plan: every step, in the order they run. Empty: the rollout finishes at once. */
  steps: Schema.Array(RolloutStep),
  /** With a canary: the index of the first step after the canary hosts' steps, where the rollout waits for `promote`. */
  canaryUntilStep: Schema.optionalKey(Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1)))),
  /** A ROLLBACK: the number of the group's rollout whose job it restores. */
  rollbackTo: Schema.optionalKey(Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1)))),
})
const StepRef = {
  group: DeploymentGroupName,
  jobId: JobId,
  /** Index into the rollout's steps. */
  step: Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))),
  host: HostName,
  kind: RolloutStepKind,
}
export const RolloutStepStarted = Schema.TaggedStruct("RolloutStepStarted", StepRef)
export const RolloutStepSucceeded = Schema.TaggedStruct("RolloutStepSucceeded", StepRef)
/** A step not run because an earlier step of the rollout on the same host failed (and the rollout went on: ignoreFailures or a failure budget). */
export const RolloutStepSkipped = Schema.TaggedStruct("RolloutStepSkipped", { ...StepRef, reason: Text })
/** What a failed step saw: the task's last report (and where it is in the log) and the states before it. */
export const StepEvidence = Schema.Struct({
  state: Schema.optionalKey(TaskState),
  throttled: Schema.optionalKey(ThrottleState),
  containerError: Schema.optionalKey(Text),
  /** Position of the task report the step judged. */
  position: Schema.optionalKey(Position),
  /** The task's earlier states on the host, oldest first (at most 10), with their positions. */
  previousStates: Schema.optionalKey(Schema.Array(Schema.Struct({ state: TaskState, position: Position }))),
})
export type StepEvidence = typeof StepEvidence.Type
export const RolloutStepFailed = Schema.TaggedStruct("RolloutStepFailed", {
  ...StepRef,
  error: RolloutErrorCode,
  message: Text,
  evidence: Schema.optionalKey(StepEvidence),
})
export const RolloutFinished = Schema.TaggedStruct("RolloutFinished", {
  group: DeploymentGroupName,
  jobId: JobId,
  status: RolloutOutcome,
  /** FAILED: the failed step's message, prefixed with its host (Helios's group status error). */
  error: Schema.optionalKey(Text),
})
/** The canary hosts are done: the rollout waits for a user's `promote` (or a rollback) before step `step`. */
export const RolloutAwaitingPromotion = Schema.TaggedStruct("RolloutAwaitingPromotion", {
  group: DeploymentGroupName,
  jobId: JobId,
  step: Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))),
})
/** A user promoted the canary: the rollout goes on to the other hosts. */
export const RolloutPromoted = Schema.TaggedStruct("RolloutPromoted", { group: DeploymentGroupName, jobId: JobId })
/** A user stopped the group's rollout (in progress or finished): its group is FAILED, "Stopped by user"; nothing is undone, and no HOSTS_CHANGED rollout follows a stopped MANUAL one. */
export const RolloutStopped = Schema.TaggedStruct("RolloutStopped", { group: DeploymentGroupName, jobId: JobId })

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
  DeploymentGroupCreated,
  DeploymentGroupRemoved,
  RolloutStarted,
  RolloutStepStarted,
  RolloutStepSucceeded,
  RolloutStepSkipped,
  RolloutStepFailed,
  RolloutFinished,
  RolloutStopped,
  RolloutAwaitingPromotion,
  RolloutPromoted,
])
export type DomainEvent = typeof DomainEvent.Type
export type EventType = DomainEvent["_tag"]
export type EventOf<T extends EventType> = Extract<DomainEvent, { _tag: T }>
/** What an agent reports about one task (TaskStateChanged without its tag, job and host). */
export type TaskReport = Omit<EventOf<"TaskStateChanged">, "_tag" | "jobId" | "host">

/**
 * The current schema version of every event type; older versions are upcast on read (codec.ts).
 * A new event type or a new optional field is not a new version: every event written before it
 * still decodes as it is (nothing to upcast), and a build that predates it refuses it loudly
 * (unknown tag, unknown field) whatever the version says.
 */
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

/** A stream whose version guards optimistic concurrency: one job's configuration, one host's, or one deployment group's (its definition and rollouts). */
export type StreamId = `job:${string}` | `host:${string}` | `group:${string}`
export const jobStream = (jobId: string): StreamId => `job:${jobId}`
export const hostStream = (host: string): StreamId => `host:${host}`
export const groupStream = (group: string): StreamId => `group:${group}`
/** Whether a string names a stream (what a stored batch's `bumped` may hold). */
export const isStreamId = (s: string): s is StreamId => /^(job|host|group):/.test(s)

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
    case "DeploymentGroupCreated":
    case "DeploymentGroupRemoved":
    case "RolloutStarted":
    case "RolloutStepStarted":
    case "RolloutStepSucceeded":
    case "RolloutStepSkipped":
    case "RolloutStepFailed":
    case "RolloutFinished":
    case "RolloutStopped":
    case "RolloutAwaitingPromotion":
    case "RolloutPromoted":
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
    case "RolloutStarted":
    case "RolloutStepStarted":
    case "RolloutStepSucceeded":
    case "RolloutStepSkipped":
    case "RolloutStepFailed":
    case "RolloutFinished":
    case "RolloutStopped":
    case "RolloutAwaitingPromotion":
    case "RolloutPromoted":
      return event.jobId
    case "HostRegistered":
    case "HostDeregistered":
    case "HostWentUp":
    case "HostWentDown":
    case "DeploymentGroupCreated":
    case "DeploymentGroupRemoved":
      return undefined
  }
}
