import type { MergedRolloutOptions } from "../core/deployment-group.ts"
import type { DomainEvent } from "../core/events.ts"
import type { TaskState } from "../core/ids.ts"
import type { auditJson, heliosHistoryJson, hostStatusJson, jobStatusJson } from "../master/responses.ts"
import type { GroupRolloutJson, ShownSelectorJson } from "./answers.ts"

/*
 * The master's JSON answers, typed from the functions that produce them (master/responses.ts);
 * the rollout answers by the CLI's own schemas (answers.ts), whose reasons, step kinds and
 * outcomes are any string, as a newer master may send one this CLI does not know.
 */

export type { PlanJson, ReplayJson, ReplayStepJson, RolloutOptionsJson, RolloutSummaryJson, RolloutsJson } from "./answers.ts"

export type JobStatusJson = NonNullable<ReturnType<typeof jobStatusJson>>
export type HostStatusJson = NonNullable<ReturnType<typeof hostStatusJson>>
export type AuditJson = ReturnType<typeof auditJson>

/** `GET /history/jobs/{id}`. */
export interface HistoryJson {
  readonly status: string
  readonly events: ReturnType<typeof heliosHistoryJson>
  readonly audit: ReadonlyArray<AuditJson>
}

/** One line of `GET /events` (NDJSON). */
export interface EventJson {
  readonly position: number
  readonly timestamp: number
  readonly actor: string
  readonly commandId: string | null
  readonly type: DomainEvent["_tag"]
  readonly event: DomainEvent
}

/** `GET /state?at=`. */
export interface StateJson {
  readonly position: number
  readonly jobs: Readonly<Record<string, JobStatusJson>>
  readonly hosts: Readonly<Record<string, HostStatusJson>>
}

/** What an agent reports about its host (Helios's HostInfo); every field may be missing. */
export interface HostInfoJson {
  readonly hostname?: string
  readonly cpus?: number
  readonly memoryTotalBytes?: number
  readonly memoryFreeBytes?: number
  /** Helios: one number; our agent: the 1, 5 and 15 minute averages. */
  readonly loadAvg?: number | ReadonlyArray<number>
  readonly osName?: string
  readonly osVersion?: string
  readonly dockerVersion?: { readonly version?: string; readonly apiVersion?: string }
}

/** What an agent reports about itself (Helios's AgentInfo). */
export interface AgentInfoJson {
  readonly version?: string
  readonly startTime?: number
  readonly uptime?: number
}

/** `GET /deployment-group/{name}` (Helios's DeploymentGroup JSON; absent fields may be null). */
export interface DeploymentGroupJson {
  readonly name: string
  readonly hostSelectors: ReadonlyArray<ShownSelectorJson>
  readonly jobId?: string | null
  readonly rolloutOptions?: MergedRolloutOptions | null
  /** MANUAL, HOSTS_CHANGED, ROLLBACK, or a newer master's (only printed). */
  readonly rollingUpdateReason?: string | null
}

/** One UP host of a group in `GET /deployment-group/{name}/status`, in rollout order. */
export interface GroupHostStatusJson {
  readonly host: string
  /** The job this group deployed on the host (or the group's job deployed by hand); null if none. */
  readonly jobId: string | null
  readonly state: TaskState | null
}

/** `GET /deployment-group/{name}/status` (Helios's DeploymentGroupStatusResponse, plus `rollout`). */
export interface DeploymentGroupStatusJson {
  readonly deploymentGroup: DeploymentGroupJson
  /** Or a status a newer master added (the answer's check takes any string). */
  readonly status: "IDLE" | "ROLLING_OUT" | "AWAITING_PROMOTION" | "ACTIVE" | "FAILED" | (string & {})
  readonly error: string | null
  readonly hostStatuses: ReadonlyArray<GroupHostStatusJson>
  readonly deploymentGroupStatus: { readonly state: "ROLLING_OUT" | "AWAITING_PROMOTION" | "DONE" | "FAILED"; readonly error?: string | null } | null
  readonly rollout?: GroupRolloutJson | null
  readonly position?: number
}

/** The 409 of a rolling update with a `checkPosition` after which something changed. */
export interface ChangedSincePositionJson {
  readonly status: "CHANGED_SINCE_POSITION"
  readonly message: string
  readonly checkPosition: number
  readonly changes: ReadonlyArray<{ readonly position: number; readonly type: string; readonly host?: string }>
}
