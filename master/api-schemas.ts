import { Schema } from "effect"
import { MergedRolloutOptions, RolloutErrorCode, RolloutReason, RolloutStep, RolloutStepKind } from "../core/deployment-group.ts"
import { StepEvidence } from "../core/events.ts"
import { HostInfo } from "../core/host-info.ts"
import { HostSelector } from "../core/host-selector.ts"
import { DomainEvent, RolloutStarted } from "../core/events.ts"
import { Goal, Position, TaskGoal, TaskState, ThrottleState } from "../core/ids.ts"
import { Job, PortMapping } from "../core/job.ts"

/*
 * The master's JSON answers, as schemas: the functions that build them (responses.ts, the routes)
 * are typed by these (so the two cannot drift apart), and master/openapi.ts publishes them as the
 * OpenAPI document's response schemas. Requests are decoded by the schemas in core/ and the routes.
 * The shapes are Helios's REST API's, plus our `position`s.
 */

const Strings = Schema.Record(Schema.String, Schema.String)
const OrNull = <S extends Schema.Constraint>(s: S) => Schema.NullOr(s)

/** One problem with one input field (core/decode.ts FieldError). */
export const FieldErrorJson = Schema.Struct({ field: Schema.String, message: Schema.String })

/**
 * A refusal (4xx) or an outage (5xx): Helios's status name, and what was wrong. Some answers add
 * the names they were about (`id`, `host`, `job`, `name`) or a `position`.
 */
export const ErrorJson = Schema.StructWithRest(
  Schema.Struct({
    status: Schema.String,
    message: Schema.optionalKey(Schema.String),
    errors: Schema.optionalKey(Schema.Array(Schema.String)),
    fieldErrors: Schema.optionalKey(Schema.Array(FieldErrorJson)),
  }),
  [Schema.Record(Schema.String, Schema.Unknown)],
)

/** A command's success: its status name (OK, CREATED, NOT_MODIFIED, REMOVED), what it was about, and the log position of its last event. */
export const CommandJson = Schema.Struct({
  status: Schema.String,
  id: Schema.optionalKey(Schema.String),
  host: Schema.optionalKey(Schema.String),
  job: Schema.optionalKey(Schema.String),
  name: Schema.optionalKey(Schema.String),
  errors: Schema.optionalKey(Schema.Array(Schema.String)),
  position: Position,
})
export type CommandJson = typeof CommandJson.Encoded

/** A job on a host: its goal and who deployed it (Helios's Deployment). */
export const DeploymentJson = Schema.Struct({
  jobId: Schema.String,
  goal: Goal,
  deployerUser: OrNull(Schema.String),
  deployerMaster: OrNull(Schema.String),
  deploymentGroupName: OrNull(Schema.String),
  /** Position of its JobDeployed event. */
  position: Position,
})
export type DeploymentJson = typeof DeploymentJson.Encoded

/** A task's last report (Helios's TaskStatus). */
export const TaskStatusJson = Schema.Struct({
  job: OrNull(Job),
  goal: TaskGoal,
  state: TaskState,
  containerId: OrNull(Schema.String),
  throttled: ThrottleState,
  ports: Schema.Record(Schema.String, PortMapping),
  env: Strings,
  containerError: OrNull(Schema.String),
  /** Epoch ms of the report. */
  timestamp: Schema.Number,
  position: Position,
})
export type TaskStatusJson = typeof TaskStatusJson.Encoded

/** `GET /jobs/{id}/status` (Helios's JobStatus): the job, where it is deployed, its tasks. */
export const JobStatusJson = Schema.Struct({
  job: Job,
  deployments: Schema.Record(Schema.String, DeploymentJson),
  taskStatuses: Schema.Record(Schema.String, TaskStatusJson),
})
export type JobStatusJson = typeof JobStatusJson.Encoded

const { labels: _labels, environment: _environment, agentVersion: _version, startTime: _start, uptimeMs: _uptime, ...hostInfoFields } = HostInfo.fields
/** What the agent measures about its machine (Helios's HostInfo). */
export const HostInfoJson = Schema.Struct(hostInfoFields)
/** Helios's AgentInfo. */
export const AgentInfoJson = Schema.Struct({ version: Schema.String, startTime: Schema.Number, uptime: Schema.Number })

/** `GET /hosts/{host}/status` (Helios's HostStatus). */
export const HostStatusJson = Schema.Struct({
  status: Schema.Literals(["UP", "DOWN"]),
  /** Epoch ms of the last UP/DOWN change. */
  statusSince: Schema.Number,
  agentId: Schema.String,
  hostInfo: OrNull(HostInfoJson),
  agentInfo: OrNull(AgentInfoJson),
  jobs: Schema.Record(Schema.String, DeploymentJson),
  statuses: Schema.Record(Schema.String, TaskStatusJson),
  environment: Strings,
  labels: Strings,
})
export type HostStatusJson = typeof HostStatusJson.Encoded

/** One line of a job's audit trail: who did what, when, where in the log; the event's own fields follow. */
export const AuditJson = Schema.StructWithRest(
  Schema.Struct({
    position: Position,
    timestamp: Schema.Number,
    actor: Schema.String,
    type: Schema.String,
    host: OrNull(Schema.String),
  }),
  [Schema.Record(Schema.String, Schema.Unknown)],
)
export type AuditJson = typeof AuditJson.Encoded

/** Helios's TaskStatusEvent: a task state change of the job on a host. */
export const TaskStatusEventJson = Schema.Struct({
  host: Schema.String,
  timestamp: Schema.Number,
  position: Position,
  status: Schema.Struct({
    job: Schema.Union([Job, Schema.Struct({ id: Schema.String })]),
    goal: TaskGoal,
    state: TaskState,
    containerId: OrNull(Schema.String),
    throttled: ThrottleState,
    ports: Schema.Record(Schema.String, PortMapping),
    env: Strings,
    containerError: OrNull(Schema.String),
  }),
})
export type TaskStatusEventJson = typeof TaskStatusEventJson.Encoded

/** `GET /history/jobs/{id}`: Helios's task status events, and the whole audit trail. */
export const HistoryJson = Schema.Struct({
  status: Schema.String,
  events: Schema.Array(TaskStatusEventJson),
  audit: Schema.Array(AuditJson),
})

/** `GET /state?at=`: the fleet as of a position or time. */
export const StateJson = Schema.Struct({
  position: Position,
  jobs: Schema.Record(Schema.String, JobStatusJson),
  hosts: Schema.Record(Schema.String, HostStatusJson),
})

/** Rollout options as reads show them: the token a rolling update must present is never shown. */
const ShownRolloutOptions = Schema.Struct({ ...MergedRolloutOptions.fields, token: Schema.optionalKey(Schema.String) })

/** A DomainEvent as reads show it (responses.ts publicEvent): a rollout's options without their token. */
const ShownDomainEvent = Schema.Union([
  ...DomainEvent.members.filter((m) => m !== RolloutStarted),
  Schema.Struct({ ...RolloutStarted.fields, options: ShownRolloutOptions }),
])

/** One line of `GET /events` (NDJSON). */
export const EventJson = Schema.Struct({
  position: Position,
  timestamp: Schema.Number,
  actor: Schema.String,
  commandId: OrNull(Schema.String),
  type: Schema.String,
  event: ShownDomainEvent,
})
export type EventJson = typeof EventJson.Encoded


/** Helios's DeploymentGroup: the group, with its latest rollout's job, options and reason (null before one). */
export const DeploymentGroupJson = Schema.Struct({
  name: Schema.String,
  hostSelectors: Schema.Array(HostSelector),
  jobId: OrNull(Schema.String),
  rolloutOptions: OrNull(ShownRolloutOptions),
  rollingUpdateReason: OrNull(RolloutReason),
})
export type DeploymentGroupJson = typeof DeploymentGroupJson.Encoded

/** `GET /deployment-group/{name}/status`: Helios's DeploymentGroupStatusResponse, plus the rollout's plan and progress. */
export const DeploymentGroupStatusJson = Schema.Struct({
  deploymentGroup: DeploymentGroupJson,
  status: Schema.Literals(["IDLE", "ROLLING_OUT", "AWAITING_PROMOTION", "ACTIVE", "FAILED"]),
  error: OrNull(Schema.String),
  hostStatuses: Schema.Array(Schema.Struct({ host: Schema.String, jobId: OrNull(Schema.String), state: OrNull(TaskState) })),
  deploymentGroupStatus: OrNull(Schema.Struct({ state: Schema.Literals(["ROLLING_OUT", "AWAITING_PROMOTION", "DONE", "FAILED"]), error: Schema.optionalKey(Schema.String) })),
  rollout: OrNull(
    Schema.Struct({
      number: Schema.Number,
      startedAt: Position,
      jobId: Schema.String,
      reason: RolloutReason,
      options: ShownRolloutOptions,
      steps: Schema.Array(RolloutStep),
      canaryUntilStep: Schema.optionalKey(Schema.Number),
      nextStep: Schema.Number,
      failures: Schema.Array(Schema.Struct({ step: Schema.Number, host: Schema.String, error: RolloutErrorCode, message: Schema.String })),
    }),
  ),
  position: Position,
})
export type DeploymentGroupStatusJson = typeof DeploymentGroupStatusJson.Encoded

/** `GET /deployment-group/{name}/rollouts`: the group's rollouts, oldest first. */
export const RolloutsJson = Schema.Struct({
  name: Schema.String,
  rollouts: Schema.Array(
    Schema.Struct({
      number: Schema.Number,
      startedAt: Position,
      startedAtTime: Schema.Number,
      actor: Schema.String,
      jobId: Schema.String,
      reason: RolloutReason,
      options: ShownRolloutOptions,
      status: Schema.Literals(["ROLLING_OUT", "AWAITING_PROMOTION", "ACTIVE", "FAILED", "SUPERSEDED"]),
      endedAt: Schema.optionalKey(Position),
      endedAtTime: Schema.optionalKey(Schema.Number),
      failedSteps: Schema.Number,
      rollbackTo: Schema.optionalKey(Schema.Number),
      durationMs: OrNull(Schema.Number),
    }),
  ),
  position: Position,
})

const Moment = Schema.Struct({ position: Position, time: Schema.Number })

/** `GET /deployment-group/{name}/rollouts/{n}/replay`: one rollout rebuilt from the log (projections/rollout-replay.ts). */
export const ReplayJson = Schema.Struct({
  group: Schema.String,
  number: Schema.Number,
  jobId: Schema.String,
  reason: RolloutReason,
  actor: Schema.String,
  options: ShownRolloutOptions,
  hosts: Schema.Array(Schema.String),
  rollbackTo: Schema.optionalKey(Schema.Number),
  canaryUntilStep: Schema.optionalKey(Schema.Number),
  started: Moment,
  ended: Schema.optionalKey(Moment),
  outcome: Schema.optionalKey(Schema.Literals(["ACTIVE", "FAILED", "STOPPED", "SUPERSEDED"])),
  error: Schema.optionalKey(Schema.String),
  awaitingPromotion: Schema.optionalKey(Schema.Struct({ ...Moment.fields, step: Schema.Number })),
  promoted: Schema.optionalKey(Moment),
  durationMs: OrNull(Schema.Number),
  steps: Schema.Array(
    Schema.Struct({
      index: Schema.Number,
      host: Schema.String,
      kind: RolloutStepKind,
      started: Schema.optionalKey(Moment),
      ended: Schema.optionalKey(Moment),
      durationMs: OrNull(Schema.Number),
      outcome: Schema.optionalKey(Schema.Literals(["SUCCEEDED", "FAILED", "SKIPPED"])),
      reason: Schema.optionalKey(Schema.String),
      error: Schema.optionalKey(RolloutErrorCode),
      message: Schema.optionalKey(Schema.String),
      evidence: Schema.optionalKey(StepEvidence),
      transitions: Schema.Array(
        Schema.Struct({
          ...Moment.fields,
          jobId: Schema.String,
          state: TaskState,
          throttled: ThrottleState,
          containerId: Schema.optionalKey(Schema.String),
          error: Schema.optionalKey(Schema.String),
        }),
      ),
    }),
  ),
  position: Position,
})

/** `POST /deployment-group/{name}/plan`: what a rolling update would do, written nowhere. */
export const PlanJson = Schema.Struct({
  status: Schema.Literal("OK"),
  name: Schema.String,
  position: Position,
  jobId: Schema.String,
  options: ShownRolloutOptions,
  hosts: Schema.Array(Schema.String),
  steps: Schema.Array(RolloutStep),
  canaryUntilStep: Schema.optionalKey(Schema.Number),
})


/** `POST /hosts/{host}/events`: where the relayed facts landed. */
export const RelayedJson = Schema.Struct({ status: Schema.Literal("OK"), firstPosition: Position, lastPosition: Position, position: Position })

/** `GET /version/check`: Helios's VersionCheckResponse. */
export const VersionCheckJson = Schema.Struct({
  status: Schema.Literals(["EQUAL", "COMPATIBLE", "MAYBE", "INCOMPATIBLE", "MISSING", "INVALID"]),
  serverVersion: Schema.Struct({ snapshot: Schema.Boolean, major: Schema.Number, minor: Schema.Number, patch: Schema.Number }),
  recommendedVersion: Schema.String,
})

/** `GET /healthz` when healthy. */
export const HealthJson = Schema.Struct({ status: Schema.Literal("OK"), position: Position })

/** `GET /projection/digest`: a SHA-256 of the master's read model and the position it has applied. */
export const DigestJson = Schema.Struct({ position: Position, sha256: Schema.String, diverged: Schema.Boolean })

