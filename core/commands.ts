import { Data } from "effect"
import type { Actor, AgentId, Goal, HostName } from "./ids.ts"
import type { TaskReport } from "./events.ts"
import type { Job, JobId } from "./job.ts"

/** What users (through a master) and agents ask for. Each is decided against the fleet state. */
export type Command =
  | { readonly _tag: "CreateJob"; readonly job: Job }
  | { readonly _tag: "RemoveJob"; readonly jobId: JobId; readonly token?: string }
  | { readonly _tag: "DeployJob"; readonly jobId: JobId; readonly host: HostName; readonly goal: Goal; readonly token?: string }
  | { readonly _tag: "UndeployJob"; readonly jobId: JobId; readonly host: HostName; readonly token?: string }
  | { readonly _tag: "SetGoal"; readonly jobId: JobId; readonly host: HostName; readonly goal: Goal; readonly token?: string }
  | { readonly _tag: "RegisterHost"; readonly host: HostName; readonly agentId: AgentId }
  /**
   * `tokens`: given over HTTP (`?token=`, repeatable), each token-protected job deployed on the host
   * needs its token among them; absent for the leader's dead-agent reaper, which deregisters whatever
   * runs there, as Helios's does.
   */
  | { readonly _tag: "DeregisterHost"; readonly host: HostName; readonly tokens?: ReadonlyArray<string> }
  | { readonly _tag: "MarkHostUp"; readonly host: HostName; readonly agentId: AgentId }
  | { readonly _tag: "MarkHostDown"; readonly host: HostName }
  | ({ readonly _tag: "ReportTaskState"; readonly jobId: JobId; readonly host: HostName } & TaskReport)

/** Who asks, and when: passed in, so deciding stays pure. */
export interface CommandContext {
  readonly now: number
  readonly actor: Actor
  /** The deciding master's name, recorded as deployerMaster. */
  readonly master?: string
}

/** Helios's status names for a refused command. */
export type RejectionStatus =
  | "INVALID_JOB_DEFINITION"
  | "JOB_ALREADY_EXISTS"
  | "JOB_NOT_FOUND"
  | "HOST_NOT_FOUND"
  | "JOB_ALREADY_DEPLOYED"
  | "JOB_NOT_DEPLOYED"
  | "PORT_CONFLICT"
  | "STILL_IN_USE"
  | "FORBIDDEN"

export class Rejection extends Data.TaggedError("Rejection")<{
  readonly status: RejectionStatus
  readonly message: string
  /** Field-level problems, for INVALID_JOB_DEFINITION. */
  readonly errors?: ReadonlyArray<{ readonly field: string; readonly message: string }>
}> {}
