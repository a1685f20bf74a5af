import { Schema } from "effect"
import type { Job } from "../core/job.ts"
import * as Api from "../master/api-schemas.ts"
import type {
  DeploymentGroupJson,
  DeploymentGroupStatusJson,
  EventJson,
  HistoryJson,
  HostStatusJson,
  JobStatusJson,
  StateJson,
} from "./wire.ts"

/*
 * What the CLI checks of each master answer before using it (client.ts): the shape it relies on,
 * and of a value from a fixed set that it only prints (a task state, a rollout reason, a step
 * kind) only that it is a string, so an older or newer master (other optional fields, a new job
 * field or value) still works. The master's own schemas (master/api-schemas.ts) refuse such new
 * values, so one is used only for an audit line, which has none. Unknown fields are never refused,
 * and the answer is used as sent (so `--json` prints it whole): a schema here must only check,
 * never transform.
 */

/** A check of an answer, and the type the CLI then uses it as. */
export interface Answer<T> {
  readonly schema: Schema.Decoder<unknown>
  /** Never set: carries `T`. */
  readonly _type?: T
}
const answer = <T>(schema: Schema.Decoder<unknown>): Answer<T> => ({ schema })

const Str = Schema.String
const Num = Schema.Number
const Bool = Schema.Boolean
const Anything = Schema.Record(Str, Schema.Unknown)
/** Absent or null (Helios's Java omits or nulls what it does not have). */
const maybe = <S extends Schema.Top>(s: S) => Schema.optionalKey(Schema.NullOr(s))

const JobShape = Schema.Struct({ id: Str, command: maybe(Schema.Array(Str)), env: maybe(Schema.Record(Str, Str)) })
const Deployment = Schema.Struct({ jobId: Str, goal: Str })
const TaskStatus = Schema.Struct({ goal: Str, state: Str, throttled: Str, containerId: maybe(Str), ports: Schema.Record(Str, Anything) })
const JobStatus = Schema.Struct({ job: JobShape, deployments: Schema.Record(Str, Deployment), taskStatuses: Schema.Record(Str, TaskStatus) })
const HostStatus = Schema.Struct({
  status: Str,
  statusSince: Num,
  hostInfo: maybe(Anything),
  agentInfo: maybe(Anything),
  jobs: Schema.Record(Str, Deployment),
  statuses: Schema.Record(Str, TaskStatus),
  labels: Schema.Record(Str, Str),
})
/** A group's host selector as shown: an operator a newer master added is printed, not refused. */
const ShownSelector = Schema.Struct({ label: Str, operator: Str, operand: Schema.Union([Str, Schema.Array(Str)]) })
/** A host selector as a group's answer shows it (core's HostSelector, or a newer master's operator). */
export type ShownSelectorJson = typeof ShownSelector.Type

const Group = Schema.Struct({
  name: Str,
  hostSelectors: Schema.Array(ShownSelector),
  jobId: maybe(Str),
  rolloutOptions: maybe(Anything),
  rollingUpdateReason: maybe(Str),
})

/*
 * The rollout answers (rollouts, replay, plan, a group status's rollout): the master's shapes
 * (master/api-schemas.ts) with every value from a fixed set (a rollout's reason or status, a
 * step's kind or outcome, an error code, a task state) widened to any string, and without the
 * master's range and pattern checks. The CLI only prints those values, so a newer master's new
 * reason or step kind is shown, not refused. Every field the master always sends is still
 * required with its type: the arrays the CLI iterates, the numbers it computes with, a string
 * where a string is printed.
 */

/** A value the CLI only prints, from a set a newer master may extend. */
const Shown = Str
const Moment = Schema.Struct({ position: Num, time: Num })
const RolloutOptionsShape = Schema.Struct({
  timeout: Num,
  parallelism: Num,
  migrate: Bool,
  overlap: Bool,
  /** Never shown by a master's reads. */
  token: Schema.optionalKey(Str),
  ignoreFailures: Bool,
  autoRevert: Schema.optionalKey(Bool),
  maxFailures: Schema.optionalKey(Num),
  failureRatio: Schema.optionalKey(Num),
  canary: Schema.optionalKey(Num),
})
const RolloutStepShape = Schema.Struct({ host: Str, kind: Shown })
const RolloutSummaryShape = Schema.Struct({
  number: Num,
  startedAt: Num,
  startedAtTime: Num,
  actor: Str,
  jobId: Str,
  reason: Shown,
  options: RolloutOptionsShape,
  status: Shown,
  endedAt: Schema.optionalKey(Num),
  endedAtTime: Schema.optionalKey(Num),
  failedSteps: Num,
  rollbackTo: Schema.optionalKey(Num),
  durationMs: Schema.NullOr(Num),
})
const RolloutsShape = Schema.Struct({ name: Str, rollouts: Schema.Array(RolloutSummaryShape), position: Num })
const ReplayStepShape = Schema.Struct({
  index: Num,
  host: Str,
  kind: Shown,
  started: Schema.optionalKey(Moment),
  ended: Schema.optionalKey(Moment),
  durationMs: Schema.NullOr(Num),
  outcome: Schema.optionalKey(Shown),
  reason: Schema.optionalKey(Str),
  error: Schema.optionalKey(Shown),
  message: Schema.optionalKey(Str),
  evidence: Schema.optionalKey(
    Schema.Struct({
      state: Schema.optionalKey(Shown),
      throttled: Schema.optionalKey(Shown),
      containerError: Schema.optionalKey(Str),
      position: Schema.optionalKey(Num),
      previousStates: Schema.optionalKey(Schema.Array(Schema.Struct({ state: Shown, position: Num }))),
    }),
  ),
  transitions: Schema.Array(
    Schema.Struct({
      ...Moment.fields,
      jobId: Str,
      state: Shown,
      throttled: Shown,
      containerId: Schema.optionalKey(Str),
      error: Schema.optionalKey(Str),
    }),
  ),
})
const ReplayShape = Schema.Struct({
  group: Str,
  number: Num,
  jobId: Str,
  reason: Shown,
  actor: Str,
  options: RolloutOptionsShape,
  hosts: Schema.Array(Str),
  rollbackTo: Schema.optionalKey(Num),
  canaryUntilStep: Schema.optionalKey(Num),
  started: Moment,
  ended: Schema.optionalKey(Moment),
  outcome: Schema.optionalKey(Shown),
  error: Schema.optionalKey(Str),
  awaitingPromotion: Schema.optionalKey(Schema.Struct({ ...Moment.fields, step: Num })),
  promoted: Schema.optionalKey(Moment),
  durationMs: Schema.NullOr(Num),
  steps: Schema.Array(ReplayStepShape),
  position: Num,
})
const PlanShape = Schema.Struct({
  status: Shown,
  name: Str,
  /** The log position the plan was made at (for `rolling-update --check-position`). */
  position: Num,
  jobId: Str,
  options: RolloutOptionsShape,
  hosts: Schema.Array(Str),
  steps: Schema.Array(RolloutStepShape),
  canaryUntilStep: Schema.optionalKey(Num),
})
const GroupRolloutShape = Schema.Struct({
  number: Num,
  startedAt: Num,
  jobId: Str,
  reason: Shown,
  options: RolloutOptionsShape,
  steps: Schema.Array(RolloutStepShape),
  canaryUntilStep: Schema.optionalKey(Num),
  nextStep: Num,
  failures: Schema.Array(Schema.Struct({ step: Num, host: Str, error: Shown, message: Str })),
})

/** A rollout's options as reads show them (no token). */
export type RolloutOptionsJson = typeof RolloutOptionsShape.Type
/** One rollout of `GET /deployment-group/{name}/rollouts`. */
export type RolloutSummaryJson = typeof RolloutSummaryShape.Type
/** `GET /deployment-group/{name}/rollouts`: the group's rollouts, oldest first. */
export type RolloutsJson = typeof RolloutsShape.Type
/** One step of a replayed rollout. */
export type ReplayStepJson = typeof ReplayStepShape.Type
/** `GET /deployment-group/{name}/rollouts/{n|latest}/replay`: one rollout rebuilt from the log. */
export type ReplayJson = typeof ReplayShape.Type
/** `POST /deployment-group/{name}/plan`: what a rolling update would do now (nothing written). */
export type PlanJson = typeof PlanShape.Type
/** The `rollout` of `GET /deployment-group/{name}/status`: its plan and progress. */
export type GroupRolloutJson = typeof GroupRolloutShape.Type

/** `GET /masters`, `/hosts`, `/deployment-group`. */
export const Names = answer<ReadonlyArray<string>>(Schema.Array(Str))
export const Version = answer<string>(Str)
/** `GET /jobs`. */
export const Jobs = answer<Readonly<Record<string, Job>>>(Schema.Record(Str, JobShape))
/** `GET /jobs/{id}`. */
export const OneJob = answer<Job>(JobShape)
export const OneJobStatus = answer<JobStatusJson>(JobStatus)
/** `POST /jobs/statuses`. */
export const JobStatuses = answer<Readonly<Record<string, JobStatusJson>>>(Schema.Record(Str, JobStatus))
/** `POST /hosts/statuses`. */
export const HostStatuses = answer<Readonly<Record<string, HostStatusJson>>>(Schema.Record(Str, HostStatus))
export const History = answer<HistoryJson>(Schema.Struct({ status: Str, events: Schema.Array(Anything), audit: Schema.Array(Api.AuditJson) }))
export const State = answer<StateJson>(Schema.Struct({ position: Num, jobs: Schema.Record(Str, JobStatus), hosts: Schema.Record(Str, HostStatus) }))
/** One line of `GET /events`: `describeEvent` reads the event's fields defensively, so only its `_tag` is checked. */
export const Event = answer<EventJson>(Schema.Struct({ position: Num, timestamp: Num, actor: Str, event: Schema.Struct({ _tag: Str }) }))
export const DeploymentGroup = answer<DeploymentGroupJson>(Group)
export const DeploymentGroupStatus = answer<DeploymentGroupStatusJson>(
  Schema.Struct({
    deploymentGroup: Group,
    status: Str,
    error: maybe(Str),
    hostStatuses: Schema.Array(Schema.Struct({ host: Str, jobId: Schema.NullOr(Str), state: Schema.NullOr(Str) })),
    deploymentGroupStatus: maybe(Anything),
    rollout: maybe(GroupRolloutShape),
  }),
)
export const Rollouts = answer<RolloutsJson>(RolloutsShape)
export const Replay = answer<ReplayJson>(ReplayShape)
export const Plan = answer<PlanJson>(PlanShape)
/** A write's answer the CLI only prints (with --json); none at all (204: Helios's stop-deployment-group) is fine too. */
export const Acknowledged = answer<Readonly<Record<string, unknown>> | undefined>(Schema.UndefinedOr(Schema.Struct({ status: Str })))
/** A write whose status the CLI prints (create-deployment-group). */
export const Status = answer<{ readonly status: string; readonly position?: number }>(Schema.Struct({ status: Str }))
/** A write whose position the CLI then follows (rolling-update, promote, rollback). */
export const Started = answer<{ readonly status: string; readonly position: number }>(Schema.Struct({ status: Str, position: Num }))
/** `POST /jobs`. */
export const Created = answer<{ readonly id: string }>(Schema.Struct({ id: Str }))
