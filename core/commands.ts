import { Data } from "effect"
import type { PreviousStates } from "./rollout-step.ts"
import type { Actor, AgentId, Goal, HostName } from "./ids.ts"
import type { TaskReport } from "./events.ts"
import type { Job, JobId, RolloutOptions } from "./job.ts"
import type { DeploymentGroup, ExtraRolloutOptions } from "./deployment-group.ts"

/** Labels of the registered hosts whose agents reported them (host facts, not events): what group selectors match. */
export type HostLabels = ReadonlyMap<string, Readonly<Record<string, string>>>

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
  | { readonly _tag: "CreateDeploymentGroup"; readonly group: DeploymentGroup }
  | { readonly _tag: "RemoveDeploymentGroup"; readonly group: string }
  /** A user's rolling-update: plan the group's hosts now and start. */
  | { readonly _tag: "StartRollout"; readonly group: string; readonly jobId: JobId; readonly options?: RolloutOptions & ExtraRolloutOptions; readonly labels: HostLabels }
  /** The leader's: start a HOSTS_CHANGED rollout of the group's job if hosts joined or left it since its last rollout. */
  | { readonly _tag: "RolloutOnHostsChange"; readonly group: string; readonly labels: HostLabels }
  | { readonly _tag: "StopRollout"; readonly group: string }
  /** A user's promote of a canary waiting for it. */
  | { readonly _tag: "PromoteRollout"; readonly group: string }
  /** A user's rollback: a rolling update back to rollout N's job (default: the previous successful rollout's). */
  | {
      readonly _tag: "Rollback"
      readonly group: string
      readonly toRollout?: number
      readonly options?: RolloutOptions & ExtraRolloutOptions
      readonly labels: HostLabels
    }
  /** The leader's: run the group's rollout as far as it can go now. */
  | { readonly _tag: "AdvanceRollout"; readonly group: string }
  | ({ readonly _tag: "ReportTaskState"; readonly jobId: JobId; readonly host: HostName } & TaskReport)

/** Who asks, and when: passed in, so deciding stays pure. */
export interface CommandContext {
  readonly now: number
  readonly actor: Actor
  /** The deciding master's name, recorded as deployerMaster. */
  readonly master?: string
  /** A task's earlier states on a host (from the history): the evidence of a failed rollout step. */
  readonly previousStates?: PreviousStates
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
  | "DEPLOYMENT_GROUP_NOT_FOUND"
  /** A deployment group of that name exists with other selectors. */
  | "CONFLICT"
  | "NOT_AWAITING_PROMOTION"
  | "NO_ROLLBACK_TARGET"
  | "ROLLOUT_NOT_FOUND"
  /** A rolling update's checkPosition: what its plan was made against changed since. */
  | "CHANGED_SINCE_POSITION"

export class Rejection extends Data.TaggedError("Rejection")<{
  readonly status: RejectionStatus
  readonly message: string
  /** Field-level problems, for INVALID_JOB_DEFINITION. */
  readonly errors?: ReadonlyArray<{ readonly field: string; readonly message: string }>
  /** More of the answer's body (CHANGED_SINCE_POSITION: the position checked and the changes since). */
  readonly details?: Readonly<Record<string, unknown>>
}> {}
