import { Hono } from "hono"
import { Result } from "effect"
import { decodeInput } from "../../core/decode.ts"
import { RollbackRequest } from "../../core/deployment-group.ts"
import { decide } from "../../core/decide.ts"
import { withoutNulls, type RolloutOptions } from "../../core/job.ts"
import { emptyReplay, foldReplay, stepDuration, type ReplayRollout } from "../../projections/rollout-replay.ts"
import type { MasterDeps } from "../deps.ts"
import { actorOf, badRequest, httpStatusOf, jsonBody, runCommand } from "../http-support.ts"
import { publicOptions } from "../responses.ts"
import { groupRouteSupport } from "./group-route-support.ts"

/*
 * Rollouts you can debug and undo (beyond Helios): a group's rollouts, one rollout replayed from
 * the log, rollback, promote of a canary, and a plan that writes nothing.
 */

/** A replayed rollout as JSON, with each step's duration. */
const replayJson = (r: ReplayRollout) => ({
  ...r,
  options: publicOptions(r.options),
  durationMs: r.ended !== undefined ? r.ended.time - r.started.time : null,
  steps: r.steps.map((step) => ({ ...step, durationMs: stepDuration(step) ?? null })),
})

export const rolloutRoutes = (deps: MasterDeps) => {
  const app = new Hono()
  const { state, readRange, groupParam, notFound, rollingUpdateCommand } = groupRouteSupport(deps)

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

  return app
}
