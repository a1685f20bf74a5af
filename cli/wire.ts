import type { DomainEvent } from "../core/events.ts"
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
