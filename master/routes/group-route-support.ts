import type { Context } from "hono"
import { Result } from "effect"
import { decodeInput } from "../../core/decode.ts"
import { DeploymentGroupName, RollingUpdateRequest } from "../../core/deployment-group.ts"
import type { StoredEvent } from "../../core/events.ts"
import { isJobId } from "../../core/job-id.ts"
import { withoutNulls, type RolloutOptions } from "../../core/job.ts"
import type { GroupRecord } from "../../core/state.ts"
import type { MasterDeps } from "../deps.ts"
import { badRequest, jsonBody } from "../http-support.ts"
import { readLog } from "../history-reader.ts"
import { containerPolicyViolations } from "../../core/container-policy.ts"

/** What the deployment-group and rollout routes share: the group in the path, the log range reader, the rolling-update body. */
export const groupRouteSupport = (deps: MasterDeps) => {
  const state = () => deps.projection.model.state

  /** The log's events after position `after` up to `until`. */
  const readRange = async (after: number, until: number): Promise<StoredEvent[]> => {
    const out: StoredEvent[] = []
    for await (const e of readLog(deps.log, after, until, deps.checkpoints.skipped)) out.push(e)
    return out
  }

  /** The group named in the path, or an answer: 400 for a name no group can have, 404 for an unknown one. */
  const groupParam = (c: Context): { ok: true; name: string; record: GroupRecord | undefined } | { ok: false; response: Response } => {
    const name = c.req.param("name") ?? ""
    const decoded = decodeInput(DeploymentGroupName, name)
    if (Result.isFailure(decoded)) return { ok: false, response: badRequest(c, "INVALID_DEPLOYMENT_GROUP_NAME", [{ field: "name", message: decoded.failure[0]!.message }]) }
    return { ok: true, name, record: state().groups.get(name) }
  }
  const notFound = (c: Context, name: string) =>
    c.json({ status: "DEPLOYMENT_GROUP_NOT_FOUND", name, errors: [`name: deployment group ${name} not found`] }, 404)

  /** A rolling-update request decoded into the command it asks for, or the answer refusing it. */
  const rollingUpdateCommand = async (c: Context, name: string) => {
    const body = await jsonBody(c)
    if (!body.ok) return body
    const decoded = decodeInput(RollingUpdateRequest, body.value)
    if (Result.isFailure(decoded)) return { ok: false as const, response: badRequest(c, "INVALID_ROLLING_UPDATE", decoded.failure) }
    const jobId = decoded.success.job
    if (!isJobId(jobId)) return { ok: false as const, response: badRequest(c, "INVALID_ID", [{ field: "job", message: `not a full job id name:version:hash: ${jobId}` }]) }
    // A job created under a looser policy is not rolled out either (as a hand deploy is not).
    const job = state().jobs.get(jobId)
    const refused = job ? containerPolicyViolations(job, deps.containerPolicy) : []
    if (refused.length > 0) return { ok: false as const, response: badRequest(c, "INVALID_JOB_DEFINITION", refused, { job: jobId }) }
    const options = withoutNulls(decoded.success.rolloutOptions ?? {}) as RolloutOptions
    const command = { _tag: "StartRollout" as const, group: name, jobId, options, labels: await deps.hostLabels() }
    return { ok: true as const, command, checkPosition: decoded.success.checkPosition }
  }

  return { state, readRange, groupParam, notFound, rollingUpdateCommand }
}
