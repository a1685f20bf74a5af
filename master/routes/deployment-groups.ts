import { Hono } from "hono"
import { Result } from "effect"
import { decodeInput } from "../../core/decode.ts"
import { DeploymentGroupRequest } from "../../core/deployment-group.ts"
import { changesSince } from "../../projections/group-changes.ts"
import { matchingHosts, hostViews } from "../../core/rollout-planner.ts"
import type { FleetState, GroupRecord, RolloutStatus } from "../../core/state.ts"
import type { MasterDeps } from "../deps.ts"
import type { DeploymentGroupJson, DeploymentGroupStatusJson } from "../api-schemas.ts"
import { badRequest, jsonBody, runCommand } from "../http-support.ts"
import { publicOptions } from "../responses.ts"
import { groupRouteSupport } from "./group-route-support.ts"
import { Rejection } from "../../core/commands.ts"
import { hostStream } from "../../core/events.ts"
import type { HostName } from "../../core/ids.ts"
import type { Precondition } from "../command-bus.ts"

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
  rolloutOptions: record.rollout ? publicOptions(record.rollout.options) : null,
  rollingUpdateReason: record.rollout?.reason ?? null,
})

/** Helios's group status names: IDLE before any rollout. */
const statusOf = (record: GroupRecord): "IDLE" | RolloutStatus => record.rollout?.status ?? "IDLE"

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
  const { state, readRange, groupParam, notFound, rollingUpdateCommand } = groupRouteSupport(deps)

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
    const req = await rollingUpdateCommand(c, p.name)
    if (!req.ok) return req.response
    const after = req.checkPosition
    // Nomad's `run -check-index`: refuse when what the plan was made against changed since. Checked
    // by the command bus against the state the update is decided on (no change slips in between).
    if (after !== undefined && after > deps.projection.position)
      return badRequest(c, "INVALID_POSITION", [{ field: "checkPosition", message: `beyond this master's position ${deps.projection.position}` }])
    const labels = req.command.labels
    const groupHosts = (s: FleetState): string[] => {
      const record = s.groups.get(p.name)
      return record ? matchingHosts(record.group, hostViews(s, labels)) : []
    }
    const precondition: Precondition | undefined =
      after === undefined
        ? undefined
        : {
            after,
            // A deployment or registration on one of the group's hosts between the decision and the
            // append refuses the append; the update is then checked again, and refused for it.
            unchanged: (s) => groupHosts(s).map(hostStream),
            check: async (from, until, s) => {
              if (!s.groups.has(p.name)) return undefined // refused as not found when decided
              const changes = changesSince(await readRange(from, until), p.name, groupHosts(s), (h) => s.hosts.has(h as HostName))
              if (changes.length === 0) return undefined
              return new Rejection({
                status: "CHANGED_SINCE_POSITION",
                message: `deployment group ${p.name}, its hosts or their deployments changed after position ${after} (first at ${changes[0]!.position}: ${changes[0]!.type}); plan again`,
                details: { checkPosition: after, changes: changes.slice(0, 100) },
              })
            },
          }
    return runCommand(c, deps, req.command, { name: p.name, job: req.command.jobId }, {}, undefined, precondition)
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
    // A status is polled every second by rolling-update and watch: labels up to 5 s old will do.
    const hosts = matchingHosts(record.group, hostViews(s, await deps.hostLabels(5_000)))
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
            number: r.number,
            startedAt: r.startedAt,
            jobId: r.jobId,
            reason: r.reason,
            options: publicOptions(r.options),
            steps: r.steps,
            ...(r.canaryUntilStep !== undefined ? { canaryUntilStep: r.canaryUntilStep } : {}),
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
