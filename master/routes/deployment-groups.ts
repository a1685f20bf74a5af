import { Hono, type Context } from "hono"
import { Result } from "effect"
import { decodeInput } from "../../core/decode.ts"
import { DeploymentGroupName, DeploymentGroupRequest, RollingUpdateRequest } from "../../core/deployment-group.ts"
import { isJobId } from "../../core/job-id.ts"
import { withoutNulls, type RolloutOptions } from "../../core/job.ts"
import { matchingHosts, hostViews } from "../../core/rollout-planner.ts"
import type { FleetState, GroupRecord } from "../../core/state.ts"
import { sortedNaturally } from "../../core/natural-order.ts"
import type { MasterDeps } from "../deps.ts"
import type { DeploymentGroupJson, DeploymentGroupStatusJson } from "../api-schemas.ts"
import { badRequest, jsonBody, runCommand } from "../http-support.ts"

/*
 * Helios's deployment-group endpoints (DeploymentGroupResource): create, list, inspect, remove,
 * rolling-update, stop, status. The answers keep Helios's shapes; refusals use the house's HTTP
 * codes (404 unknown, 409 conflict, 403 token) where Helios answered 200 with a status name.
 */

/** Helios's DeploymentGroup JSON: the group, with its latest rollout's job, options and reason (null before one). */
export const groupJson = (record: GroupRecord): DeploymentGroupJson => ({
  name: record.group.name,
  hostSelectors: record.group.hostSelectors,
  jobId: record.rollout?.jobId ?? null,
  rolloutOptions: record.rollout?.options ?? null,
  rollingUpdateReason: record.rollout?.reason ?? null,
})

/** Helios's group status names: IDLE before any rollout. */
const statusOf = (record: GroupRecord): "IDLE" | "ROLLING_OUT" | "ACTIVE" | "FAILED" => record.rollout?.status ?? "IDLE"

/** Per UP host of the group: the job the group deployed there (if any) and its task's state (Helios's HostStatus). */
const hostStatuses = (state: FleetState, name: string, hosts: ReadonlyArray<string>) =>
  hosts.flatMap((host) => {
    if (state.hosts.get(host as never)?.up !== true) return []
    const mine = [...(state.deployments.get(host as never)?.values() ?? [])].find((d) => d.deploymentGroup === name)
    const task = mine && state.tasks.get(host as never)?.get(mine.jobId)
    return [{ host, jobId: mine?.jobId ?? null, state: task?.state ?? null }]
  })

export const deploymentGroupRoutes = (deps: MasterDeps) => {
  const app = new Hono()
  const state = () => deps.projection.model.state

  /** The group named in the path, or an answer: 400 for a name no group can have, 404 for an unknown one. */
  const groupParam = (c: Context): { ok: true; name: string; record: GroupRecord | undefined } | { ok: false; response: Response } => {
    const name = c.req.param("name") ?? ""
    const decoded = decodeInput(DeploymentGroupName, name)
    if (Result.isFailure(decoded)) return { ok: false, response: badRequest(c, "INVALID_DEPLOYMENT_GROUP_NAME", [{ field: "name", message: decoded.failure[0]!.message }]) }
    return { ok: true, name, record: state().groups.get(name) }
  }
  const notFound = (c: Context, name: string) =>
    c.json({ status: "DEPLOYMENT_GROUP_NOT_FOUND", name, errors: [`name: deployment group ${name} not found`] }, 404)

  app.get("/deployment-group", (c) => c.json([...state().groups.keys()].sort()))

  app.post("/deployment-group", async (c) => {
    const body = await jsonBody(c)
    if (!body.ok) return body.response
    const decoded = decodeInput(DeploymentGroupRequest, body.value)
    if (Result.isFailure(decoded)) return badRequest(c, "INVALID_DEPLOYMENT_GROUP", decoded.failure)
    const { name, hostSelectors } = decoded.success
    // Helios's CreateDeploymentGroupResponse: CREATED, or NOT_MODIFIED for the same group again.
    return runCommand(c, deps, { _tag: "CreateDeploymentGroup", group: { name, hostSelectors } }, { name }, {}, (e) => (e.appended > 0 ? "CREATED" : "NOT_MODIFIED"))
  })

  app.get("/deployment-group/:name", (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    return p.record ? c.json(groupJson(p.record)) : notFound(c, p.name)
  })

  app.delete("/deployment-group/:name", async (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    return runCommand(c, deps, { _tag: "RemoveDeploymentGroup", group: p.name }, { name: p.name }, {}, () => "REMOVED")
  })

  app.post("/deployment-group/:name/rolling-update", async (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    const body = await jsonBody(c)
    if (!body.ok) return body.response
    const decoded = decodeInput(RollingUpdateRequest, body.value)
    if (Result.isFailure(decoded)) return badRequest(c, "INVALID_ROLLING_UPDATE", decoded.failure)
    const jobId = decoded.success.job
    if (!isJobId(jobId)) return badRequest(c, "INVALID_ID", [{ field: "job", message: `not a full job id name:version:hash: ${jobId}` }])
    const options = withoutNulls(decoded.success.rolloutOptions ?? {}) as RolloutOptions
    const labels = await deps.hostLabels()
    return runCommand(c, deps, { _tag: "StartRollout", group: p.name, jobId, options, labels }, { name: p.name, job: jobId })
  })

  app.post("/deployment-group/:name/stop", async (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    const response = await runCommand(c, deps, { _tag: "StopRollout", group: p.name }, { name: p.name })
    return response.status === 200 ? c.body(null, 204) : response
  })

  app.get("/deployment-group/:name/status", async (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    if (!p.record) return notFound(c, p.name)
    const record = p.record
    const s = state()
    // The group's hosts now (Helios keeps them updated every second), in rollout order.
    const hosts = sortedNaturally(matchingHosts(record.group, hostViews(s, await deps.hostLabels())))
    const r = record.rollout
    const status = statusOf(record)
    const body: DeploymentGroupStatusJson = {
      deploymentGroup: groupJson(record),
      status,
      error: r?.error ?? null,
      hostStatuses: hostStatuses(s, record.group.name, hosts),
      deploymentGroupStatus: r ? { state: r.status === "ACTIVE" ? "DONE" : r.status, ...(r.error !== undefined ? { error: r.error } : {}) } : null,
      rollout: r
        ? {
            startedAt: r.startedAt,
            jobId: r.jobId,
            reason: r.reason,
            options: r.options,
            steps: r.steps,
            nextStep: r.nextStep,
            failures: r.failures,
          }
        : null,
      position: s.position,
    }
    return c.json(body)
  })

  return app
}
