import type { MergedRolloutOptions, RolloutReason, RolloutStepKind } from "../core/deployment-group.ts"
import type { DomainEvent } from "../core/events.ts"
import type { HostSelector } from "../core/host-selector.ts"
import type { TaskState } from "../core/ids.ts"
import type { RolloutSummary } from "../core/state.ts"
import type { ReplayRollout, ReplayStep } from "../projections/rollout-replay.ts"
import type { auditJson, heliosHistoryJson, hostStatusJson, jobStatusJson } from "../master/responses.ts"

/* The master's JSON answers, typed from the functions that produce them (master/responses.ts). */

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
  readonly hostSelectors: ReadonlyArray<HostSelector>
  readonly jobId?: string | null
  readonly rolloutOptions?: MergedRolloutOptions | null
  readonly rollingUpdateReason?: RolloutReason | null
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
  readonly status: "IDLE" | "ROLLING_OUT" | "AWAITING_PROMOTION" | "ACTIVE" | "FAILED"
  readonly error: string | null
  readonly hostStatuses: ReadonlyArray<GroupHostStatusJson>
  readonly deploymentGroupStatus: { readonly state: "ROLLING_OUT" | "AWAITING_PROMOTION" | "DONE" | "FAILED"; readonly error?: string | null } | null
  readonly rollout?: {
    readonly startedAt: number
    readonly jobId: string
    readonly reason: RolloutReason
    readonly options: MergedRolloutOptions
    readonly steps: ReadonlyArray<{ readonly host: string; readonly kind: string }>
    readonly nextStep: number
    readonly failures: ReadonlyArray<{ readonly step: number; readonly host: string; readonly error: string; readonly message: string }>
  } | null
  readonly position?: number
}

/** One rollout of `GET /deployment-group/{name}/rollouts` (core's RolloutSummary with its duration). */
export type RolloutSummaryJson = RolloutSummary & { readonly durationMs: number | null }

/** `GET /deployment-group/{name}/rollouts`: the group's rollouts, oldest first. */
export interface RolloutsJson {
  readonly name: string
  readonly rollouts: ReadonlyArray<RolloutSummaryJson>
  readonly position: number
}

/** One step of a replayed rollout (projections/rollout-replay.ts, with its duration). */
export type ReplayStepJson = Readonly<ReplayStep> & { readonly durationMs: number | null }

/** `GET /deployment-group/{name}/rollouts/{n|latest}/replay`: one rollout rebuilt from the log. */
export type ReplayJson = Readonly<Omit<ReplayRollout, "steps">> & {
  readonly steps: ReadonlyArray<ReplayStepJson>
  readonly durationMs: number | null
  readonly position: number
}

/** `POST /deployment-group/{name}/plan`: what a rolling update would do now (nothing written). */
export interface PlanJson {
  readonly status: string
  readonly name: string
  /** The log position the plan was made at (for `rolling-update --check-position`). */
  readonly position: number
  readonly jobId: string
  readonly options: MergedRolloutOptions
  readonly hosts: ReadonlyArray<string>
  readonly steps: ReadonlyArray<{ readonly host: string; readonly kind: RolloutStepKind }>
  readonly canaryUntilStep?: number
}

/** The 409 of a rolling update with a `checkPosition` after which something changed. */
export interface ChangedSincePositionJson {
  readonly status: "CHANGED_SINCE_POSITION"
  readonly message: string
  readonly checkPosition: number
  readonly changes: ReadonlyArray<{ readonly position: number; readonly type: string; readonly host?: string }>
}
