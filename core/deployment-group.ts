import { Schema } from "effect"
import { HostSelector } from "./host-selector.ts"
import { HostName } from "./ids.ts"
import { INT32_MAX, intIn, longFrom } from "./job-fields.ts"
import { RolloutOptionsInput, type Job, type RolloutOptions } from "./job.ts"

/*
 * Deployment groups and their rollouts (Helios's DeploymentGroup, RolloutOptions, RolloutTask):
 * the schemas events carry. The planner is in rollout-planner.ts, the fold in state.ts.
 */

/**
 * A group's name. Helios takes any ZooKeeper node name; this takes Helios's job-name characters
 * (`[0-9a-zA-Z-_.]`, not `.` or `..`), as a name travels in URLs, ZooKeeper paths and stream ids.
 */
export const DeploymentGroupName = Schema.String.check(
  Schema.makeFilter(
    (s: string) =>
      (/^[0-9A-Za-z_.-]{1,253}$/.test(s) && s !== "." && s !== "..") ||
      "Expected a deployment group name of 1-253 letters, digits, '.', '_' or '-' (not . or ..)",
  ),
)
export type DeploymentGroupName = typeof DeploymentGroupName.Type

/** What `create-deployment-group` defines: a name and the selectors its hosts must match. */
export const DeploymentGroup = Schema.Struct({
  name: DeploymentGroupName,
  hostSelectors: Schema.Array(HostSelector),
})
export type DeploymentGroup = typeof DeploymentGroup.Type

/** Why a rollout started: a user's rolling-update, hosts joining or leaving the group, or a rollback (by a user, or automatic after a failure). */
export const RolloutReason = Schema.Literals(["MANUAL", "HOSTS_CHANGED", "ROLLBACK"])
export type RolloutReason = typeof RolloutReason.Type

/** Rollout options with every field set: request, then the job's `rolloutOptions`, then defaults. */
export const MergedRolloutOptions = Schema.Struct({
  /** Seconds a step may take, measured from the rollout's last progress. */
  timeout: longFrom(1),
  parallelism: intIn(1, INT32_MAX),
  migrate: Schema.Boolean,
  overlap: Schema.Boolean,
  token: Schema.String,
  ignoreFailures: Schema.Boolean,
  // Beyond Helios (optional, so rollouts recorded before them still decode):
  /** On FAILED, roll back to the group's last ACTIVE job (Nomad's auto_revert). */
  autoRevert: Schema.optionalKey(Schema.Boolean),
  /** Go on past failed steps until more than this many failed. */
  maxFailures: Schema.optionalKey(intIn(0, INT32_MAX)),
  /** Go on past failed steps until more than this fraction of the rollout's hosts failed. */
  failureRatio: Schema.optionalKey(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  /** Roll out to the first N hosts of the plan, then wait for `promote` (AWAITING_PROMOTION). */
  canary: Schema.optionalKey(intIn(1, INT32_MAX)),
})
export type MergedRolloutOptions = typeof MergedRolloutOptions.Type

/** The options of a rolling-update that are ours (not in a job's Helios rolloutOptions). */
export const ExtraRolloutOptions = Schema.Struct({
  autoRevert: Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
  maxFailures: Schema.optionalKey(Schema.NullOr(intIn(0, INT32_MAX))),
  failureRatio: Schema.optionalKey(Schema.NullOr(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })))),
  canary: Schema.optionalKey(Schema.NullOr(intIn(1, INT32_MAX))),
})
export type ExtraRolloutOptions = { readonly autoRevert?: boolean; readonly maxFailures?: number; readonly failureRatio?: number; readonly canary?: number }

/** Helios's RolloutOptions.getDefault(). */
export const DEFAULT_ROLLOUT_OPTIONS: Required<RolloutOptions> = {
  timeout: 300,
  parallelism: 1,
  migrate: false,
  overlap: false,
  token: "",
  ignoreFailures: false,
}

/** Each option from the request if set, else from the job's `rolloutOptions`, else the default (Helios's rolloutOptionsWithFallback). */
export const mergeRolloutOptions = (request: (RolloutOptions & ExtraRolloutOptions) | undefined, job: Pick<Job, "rolloutOptions">): MergedRolloutOptions => {
  const pick = <K extends keyof RolloutOptions>(k: K): MergedRolloutOptions[K] =>
    (request?.[k] ?? job.rolloutOptions?.[k] ?? DEFAULT_ROLLOUT_OPTIONS[k]) as MergedRolloutOptions[K]
  return {
    timeout: pick("timeout"),
    parallelism: pick("parallelism"),
    migrate: pick("migrate"),
    overlap: pick("overlap"),
    token: pick("token"),
    ignoreFailures: pick("ignoreFailures"),
    ...(request?.autoRevert !== undefined ? { autoRevert: request.autoRevert } : {}),
    ...(request?.maxFailures !== undefined ? { maxFailures: request.maxFailures } : {}),
    ...(request?.failureRatio !== undefined ? { failureRatio: request.failureRatio } : {}),
    ...(request?.canary !== undefined ? { canary: request.canary } : {}),
  }
}

/**
 * What one step of a rollout does on one host (Helios's RolloutTask.Action):
 * - UNDEPLOY_OLD_JOBS: undeploy the group's other deployments on the host (and, with migrate, a
 *   hand-made deployment of the rollout's job); skipped for the group's own START deployment of it.
 * - DEPLOY_NEW_JOB: deploy the rollout's job (goal START, carrying the group's name); already
 *   deployed counts as done.
 * - AWAIT_RUNNING: wait until the host reports the job RUNNING.
 * - FORCE_UNDEPLOY_JOBS: on a host that left the group, undeploy the group's deployments.
 * Helios also waits for such a host's task to vanish and then crosses it off a `removed` list
 * (AWAIT_UNDEPLOYED, MARK_UNDEPLOYED); here the hosts that left are derived from the deployments
 * themselves, so there is no list to maintain.
 */
export const RolloutStepKind = Schema.Literals(["UNDEPLOY_OLD_JOBS", "DEPLOY_NEW_JOB", "AWAIT_RUNNING", "FORCE_UNDEPLOY_JOBS"])
export type RolloutStepKind = typeof RolloutStepKind.Type

export const RolloutStep = Schema.Struct({ host: HostName, kind: RolloutStepKind })
export type RolloutStep = typeof RolloutStep.Type

/** Why a step failed (Helios's RollingUpdateError, every value, so its events and clients map one to one). */
export const RolloutErrorCode = Schema.Literals([
  "PORT_CONFLICT",
  "JOB_UNEXPECTEDLY_UNDEPLOYED",
  "JOB_ALREADY_DEPLOYED",
  "TIMED_OUT_WAITING_FOR_JOB_TO_REACH_RUNNING",
  "TIMED_OUT_WAITING_FOR_JOB_TO_UNDEPLOY",
  "UNABLE_TO_MARK_HOST_UNDEPLOYED",
  "TOKEN_VERIFICATION_ERROR",
  "JOB_NOT_FOUND",
  "HOST_NOT_FOUND",
  "TIMED_OUT_RETRIEVING_JOB_STATUS",
  "IMAGE_MISSING",
  "IMAGE_PULL_FAILED",
  "UNKNOWN",
])
export type RolloutErrorCode = typeof RolloutErrorCode.Type

/** How a finished rollout left its group: Helios's DONE (shown as ACTIVE) or FAILED. */
export const RolloutOutcome = Schema.Literals(["ACTIVE", "FAILED"])
export type RolloutOutcome = typeof RolloutOutcome.Type

/** The message a stopped rollout leaves on its group (Helios's stop-deployment-group). */
export const STOPPED_BY_USER = "Stopped by user"

/**
 * `POST /deployment-group`: Helios's DeploymentGroup JSON. Its CLI also sends the group's job,
 * options and reason (null for a new group); a create ignores them, as Helios does.
 */
export const DeploymentGroupRequest = Schema.Struct({
  name: DeploymentGroupName,
  hostSelectors: Schema.Array(HostSelector),
  jobId: Schema.optionalKey(Schema.NullOr(Schema.String)),
  job: Schema.optionalKey(Schema.NullOr(Schema.String)),
  rolloutOptions: Schema.optionalKey(Schema.NullOr(RolloutOptionsInput)),
  rollingUpdateReason: Schema.optionalKey(Schema.NullOr(RolloutReason)),
})

/**
 * `POST /deployment-group/{name}/rolling-update` (and `/plan`): Helios's RollingUpdateRequest, its
 * options extended with ours; `checkPosition` refuses the update if the group, its hosts or their
 * deployments changed after that log position (Nomad's `run -check-index`).
 */
export const RollingUpdateRequest = Schema.Struct({
  job: Schema.String,
  rolloutOptions: Schema.optionalKey(Schema.NullOr(Schema.Struct({ ...RolloutOptionsInput.fields, ...ExtraRolloutOptions.fields }))),
  checkPosition: Schema.optionalKey(Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))),
})

/** `POST /deployment-group/{name}/rollback`: back to rollout N's job (default: the previous successful rollout's). */
export const RollbackRequest = Schema.Struct({
  toRollout: Schema.optionalKey(Schema.NullOr(intIn(1, INT32_MAX))),
  rolloutOptions: Schema.optionalKey(Schema.NullOr(Schema.Struct({ ...RolloutOptionsInput.fields, ...ExtraRolloutOptions.fields }))),
})
