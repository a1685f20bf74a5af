import { Hono, type Context } from "hono"
import { Result } from "effect"
import { decodeInput } from "../../core/decode.ts"
import { DeploymentGroupName, DeploymentGroupRequest, RollbackRequest, RollingUpdateRequest } from "../../core/deployment-group.ts"
import { decide } from "../../core/decide.ts"
import type { StoredEvent } from "../../core/events.ts"
import { position } from "../../core/ids.ts"
import { emptyReplay, foldReplay, stepDuration, type ReplayRollout } from "../../projections/rollout-replay.ts"
import { changesSince } from "../../projections/group-changes.ts"
import { isJobId } from "../../core/job-id.ts"
import { withoutNulls, type RolloutOptions } from "../../core/job.ts"
import { matchingHosts, hostViews } from "../../core/rollout-planner.ts"
import type { FleetState, GroupRecord, RolloutStatus } from "../../core/state.ts"
import { sortedNaturally } from "../../core/natural-order.ts"
import type { MasterDeps } from "../deps.ts"
import { actorOf, badRequest, httpStatusOf, jsonBody, runCommand } from "../http-support.ts"
import { publicOptions } from "../responses.ts"

/*
 * Helios's deployment-group endpoints (DeploymentGroupResource): create, list, inspect, remove,
 * rolling-update, stop, status. The answers keep Helios's shapes; refusals use the house's HTTP
 * codes (404 unknown, 409 conflict, 403 token) where Helios answered 200 with a status name.
 */

/** Helios's DeploymentGroup JSON: the group, with its latest rollout's job, options and reason (null before one). */
export const groupJson = (record: GroupRecord) => ({
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

/** A replayed rollout as JSON, with each step's duration. */
const replayJson = (r: ReplayRollout) => ({
  ...r,
  options: publicOptions(r.options),
  durationMs: r.ended !== undefined ? r.ended.time - r.started.time : null,
  steps: r.steps.map((step) => ({ ...step, durationMs: stepDuration(step) ?? null })),
})

export const deploymentGroupRoutes = (deps: MasterDeps) => {
  const app = new Hono()
  const state = () => deps.projection.model.state

  /** The log's events after position `after` up to `until`, read in pages. */
  const readRange = async (after: number, until: number): Promise<StoredEvent[]> => {
    const out: StoredEvent[] = []
    for (let at = after; at < until; ) {
      const page = await deps.log.read(position(at), Math.min(5000, until - at))
      if (page.length === 0) break
      for (const e of page) if (e.position <= until) out.push(e)
      at = page[page.length - 1]!.position
    }
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

  /** A rolling-update request decoded into the command it asks for, or the answer refusing it. */
  const rollingUpdateCommand = async (c: Context, name: string) => {
    const body = await jsonBody(c)
    if (!body.ok) return body
    const decoded = decodeInput(RollingUpdateRequest, body.value)
    if (Result.isFailure(decoded)) return { ok: false as const, response: badRequest(c, "INVALID_ROLLING_UPDATE", decoded.failure) }
    const jobId = decoded.success.job
    if (!isJobId(jobId)) return { ok: false as const, response: badRequest(c, "INVALID_ID", [{ field: "job", message: `not a full job id name:version:hash: ${jobId}` }]) }
    const options = withoutNulls(decoded.success.rolloutOptions ?? {}) as RolloutOptions
    const command = { _tag: "StartRollout" as const, group: name, jobId, options, labels: await deps.hostLabels() }
    return { ok: true as const, command, checkPosition: decoded.success.checkPosition }
  }

  app.post("/deployment-group/:name/rolling-update", async (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    const req = await rollingUpdateCommand(c, p.name)
    if (!req.ok) return req.response
    if (req.checkPosition !== undefined) {
      // Nomad's `run -check-index`: refuse when what the plan was made against changed since.
      const after = req.checkPosition
      if (after > deps.projection.position) return badRequest(c, "INVALID_POSITION", [{ field: "checkPosition", message: `beyond this master's position ${deps.projection.position}` }])
      if (!p.record) return notFound(c, p.name)
      const hosts = matchingHosts(p.record.group, hostViews(state(), req.command.labels))
      const changes = changesSince(await readRange(after, deps.projection.position), p.name, hosts)
      if (changes.length > 0)
        return c.json(
          {
            status: "CHANGED_SINCE_POSITION",
            message: `deployment group ${p.name}, its hosts or their deployments changed after position ${after} (first at ${changes[0]!.position}: ${changes[0]!.type}); plan again`,
            checkPosition: after,
            changes: changes.slice(0, 100),
          },
          409,
        )
    }
    return runCommand(c, deps, req.command, { name: p.name, job: req.command.jobId })
  })

  /** What a rolling update would do now, written nowhere (Nomad's `plan`): its steps and the position it was planned at. */
  app.post("/deployment-group/:name/plan", async (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    const req = await rollingUpdateCommand(c, p.name)
    if (!req.ok) return req.response
    const s = state()
    const decision = decide(req.command, s, { now: deps.now(), actor: actorOf(c), master: deps.name })
    if (Result.isFailure(decision)) {
      const f = decision.failure
      return c.json({ status: f.status, message: f.message, errors: (f.errors ?? []).map((e) => `${e.field}: ${e.message}`), fieldErrors: f.errors ?? [] }, httpStatusOf(f.status))
    }
    const started = decision.success.events.find((e) => e._tag === "RolloutStarted")
    if (started?._tag !== "RolloutStarted") return c.json({ status: "INTERNAL_ERROR", message: "no plan decided" }, 500)
    return c.json({
      status: "OK",
      name: p.name,
      position: s.position,
      jobId: started.jobId,
      options: publicOptions(started.options),
      hosts: started.hosts,
      steps: started.steps,
      ...(started.canaryUntilStep !== undefined ? { canaryUntilStep: started.canaryUntilStep } : {}),
    })
  })

  app.post("/deployment-group/:name/promote", async (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    return runCommand(c, deps, { _tag: "PromoteRollout", group: p.name }, { name: p.name })
  })

  app.post("/deployment-group/:name/rollback", async (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    const body = await jsonBody(c)
    if (!body.ok) return body.response
    const decoded = decodeInput(RollbackRequest, body.value ?? {})
    if (Result.isFailure(decoded)) return badRequest(c, "INVALID_ROLLBACK", decoded.failure)
    const toRollout = decoded.success.toRollout ?? undefined
    const options = withoutNulls(decoded.success.rolloutOptions ?? {}) as RolloutOptions
    const command = { _tag: "Rollback" as const, group: p.name, options, labels: await deps.hostLabels(), ...(toRollout !== undefined ? { toRollout } : {}) }
    return runCommand(c, deps, command, { name: p.name })
  })

  /** The group's rollouts, oldest first: number, job, reason, who, when, how long, how it ended. */
  app.get("/deployment-group/:name/rollouts", (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    if (!p.record) return notFound(c, p.name)
    return c.json({
      name: p.name,
      rollouts: p.record.rollouts.map((r) => ({
        ...r,
        options: publicOptions(r.options),
        durationMs: r.endedAtTime !== undefined ? r.endedAtTime - r.startedAtTime : null,
      })),
      position: state().position,
    })
  })

  /** One rollout rebuilt from the log alone (projections/rollout-replay.ts); `latest` or a number. */
  app.get("/deployment-group/:name/rollouts/:number/replay", async (c) => {
    const p = groupParam(c)
    if (!p.ok) return p.response
    if (!p.record) return notFound(c, p.name)
    const raw = c.req.param("number")
    const n = raw === "latest" ? p.record.rollouts.length : /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : NaN
    if (Number.isNaN(n)) return badRequest(c, "INVALID_ROLLOUT", [{ field: "number", message: `expected a rollout number or "latest": ${raw}` }])
    const summary = p.record.rollouts[n - 1]
    if (!summary) return c.json({ status: "ROLLOUT_NOT_FOUND", errors: [`number: deployment group ${p.name} has no rollout ${raw}`] }, 404)
    const until = summary.endedAt ?? state().position
    const replay = foldReplay(await readRange(summary.startedAt - 1, until), emptyReplay(new Map([[p.name, n]])))
    const rollout = replay.groups.get(p.name)?.[0]
    if (!rollout) return c.json({ status: "ROLLOUT_NOT_FOUND", errors: [`number: rollout ${n} is not in the log range ${summary.startedAt}-${until}`] }, 404)
    return c.json({ ...replayJson(rollout), position: state().position })
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
    return c.json({
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
            options: publicOptions(r.options),
            steps: r.steps,
            nextStep: r.nextStep,
            failures: r.failures,
          }
        : null,
      position: s.position,
    })
  })

  return app
}
