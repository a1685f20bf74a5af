import { Schema } from "effect"
import { HostSelector } from "../core/host-selector.ts"
import type { Job } from "../core/job.ts"
import * as Api from "../master/api-schemas.ts"
import type {
  DeploymentGroupJson,
  DeploymentGroupStatusJson,
  EventJson,
  HistoryJson,
  HostStatusJson,
  JobStatusJson,
  PlanJson,
  ReplayJson,
  RolloutsJson,
  StateJson,
} from "./wire.ts"

/*
 * What the CLI checks of each master answer before using it (client.ts). The master's own schemas
 * (master/api-schemas.ts) are used where the CLI relies on the whole answer; elsewhere only the
 * fields the CLI reads are checked, so an older or newer master (other optional fields, a new job
 * field or task state) still works. Unknown fields are never refused, and the answer is used as
 * sent (so `--json` prints it whole): a schema here must only check, never transform.
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
const Group = Schema.Struct({
  name: Str,
  hostSelectors: Schema.Array(HostSelector),
  jobId: maybe(Str),
  rolloutOptions: maybe(Anything),
  rollingUpdateReason: maybe(Str),
})

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
    rollout: Schema.optionalKey(Api.DeploymentGroupStatusJson.fields.rollout),
  }),
)
export const Rollouts = answer<RolloutsJson>(Api.RolloutsJson)
export const Replay = answer<ReplayJson>(Api.ReplayJson)
export const Plan = answer<PlanJson>(Api.PlanJson)
/** A write's answer the CLI only prints (with --json); none at all (204: Helios's stop-deployment-group) is fine too. */
export const Acknowledged = answer<Readonly<Record<string, unknown>> | undefined>(Schema.UndefinedOr(Schema.Struct({ status: Str })))
/** A write whose status the CLI prints (create-deployment-group). */
export const Status = answer<{ readonly status: string; readonly position?: number }>(Schema.Struct({ status: Str }))
/** A write whose position the CLI then follows (rolling-update, promote, rollback). */
export const Started = answer<{ readonly status: string; readonly position: number }>(Schema.Struct({ status: Str, position: Num }))
/** `POST /jobs`. */
export const Created = answer<{ readonly id: string }>(Schema.Struct({ id: Str }))
