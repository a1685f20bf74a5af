import { Hono } from "hono"
import { Result } from "effect"
import { containerPolicyViolations } from "../../core/container-policy.ts"
import { decodeJob } from "../../core/job.ts"
import { isJobId } from "../../core/job-id.ts"
import type { MasterDeps } from "../deps.ts"
import { publicJob } from "../responses.ts"
import { captureJobStatuses, jobStatusAnswer, jobStatusesAnswer } from "../status-json.ts"
import { largeJsonAnswer } from "../large-answer.ts"
import { STATUS_ANSWER_SLICE_MS } from "../status-warmer.ts"
import { badRequest, jobIdParam, jsonBody, runCommand } from "../http-support.ts"
import { userRegex } from "./params.ts"


export const jobRoutes = (deps: MasterDeps) => {
  const app = new Hono()
  const state = () => deps.projection.model.state

  app.get("/jobs", (c) => {
    const q = c.req.query("q") ?? ""
    const hostPattern = userRegex(c.req.query("hostPattern"))
    if (hostPattern instanceof Error) return badRequest(c, "INVALID_PATTERN", [{ field: "hostPattern", message: hostPattern.message }])
    const out: Record<string, unknown> = {}
    for (const [id, job] of state().jobs) {
      if (!id.includes(q)) continue
      if (hostPattern && ![...(state().jobHosts.get(id) ?? [])].some((h) => hostPattern.test(h))) continue
      out[id] = publicJob(job)
    }
    return c.json(out)
  })

  app.post("/jobs", async (c) => {
    const body = await jsonBody(c)
    if (!body.ok) return body.response
    const decoded = decodeJob(body.value)
    if (Result.isFailure(decoded)) {
      const id = typeof (body.value as { id?: unknown } | null)?.id === "string" ? (body.value as { id: string }).id : null
      return c.json({ status: "INVALID_JOB_DEFINITION", id, errors: decoded.failure.map((e) => `${e.field}: ${e.message}`), fieldErrors: decoded.failure }, 400)
    }
    // What the job asks of its hosts: refused unless this master's flags allow it (core/container-policy.ts).
    const refused = containerPolicyViolations(decoded.success, deps.containerPolicy)
    if (refused.length > 0) return badRequest(c, "INVALID_JOB_DEFINITION", refused, { id: decoded.success.id })
    // decodeJob computed (or checked) the hash, so the full id is known before deciding.
    const id = decoded.success.id
    return runCommand(c, deps, { _tag: "CreateJob", job: decoded.success }, { id, errors: [] })
  })

  app.get("/jobs/:id", (c) => {
    const parsed = jobIdParam(c, c.req.param("id"))
    if (!parsed.ok) return parsed.response
    const id = parsed.id
    const job = state().jobs.get(id)
    return job ? c.json(publicJob(job)) : c.json({ status: "JOB_NOT_FOUND", id }, 404)
  })

  app.delete("/jobs/:id", async (c) => {
    const parsed = jobIdParam(c, c.req.param("id"))
    if (!parsed.ok) return parsed.response
    const id = parsed.id
    const token = c.req.query("token")
    return runCommand(c, deps, { _tag: "RemoveJob", jobId: id, ...(token !== undefined ? { token } : {}) }, { id })
  })

  app.get("/jobs/:id/status", (c) => {
    const parsed = jobIdParam(c, c.req.param("id"))
    if (!parsed.ok) return parsed.response
    if (state().jobs.has(parsed.id)) deps.statusWarmer?.noteAsked([parsed.id])
    const status = jobStatusAnswer(state(), parsed.id, {}, deps.statusWarmer?.partsOf)
    return status !== undefined ? largeJsonAnswer(c, status, deps.compressFromBytes, STATUS_ANSWER_SLICE_MS) : c.json({ status: "JOB_NOT_FOUND", id: parsed.id }, 404)
  })

  app.post("/jobs/statuses", async (c) => {
    const body = await jsonBody(c)
    if (!body.ok) return body.response
    if (!Array.isArray(body.value) || !body.value.every((x) => typeof x === "string"))
      return badRequest(c, "INVALID_BODY", [{ field: "(body)", message: "expected an array of job ids" }])
    // Helios refuses a partial id here rather than answering as if the job did not exist.
    const partial = (body.value as string[]).findIndex((id) => !isJobId(id))
    if (partial !== -1)
      return badRequest(c, "INVALID_ID", [{ field: `[${partial}]`, message: `not a full job id name:version:hash: ${(body.value as string[])[partial]}` }])
    // Captured now, rendered in slices: a rollout's answer is megabytes (10 jobs x 1,000 hosts).
    const ids = body.value as string[]
    deps.statusWarmer?.noteAsked(ids.filter((id) => state().jobs.has(id)))
    const captured = captureJobStatuses(state(), ids, deps.statusWarmer?.partsOf)
    return largeJsonAnswer(c, jobStatusesAnswer(captured), deps.compressFromBytes, STATUS_ANSWER_SLICE_MS)
  })

  return app
}
