import { Hono, type Context } from "hono"
import { Result } from "effect"
import { decodeInput } from "../../core/decode.ts"
import { AgentId, Goal, HostName } from "../../core/ids.ts"
import { Schema } from "effect"
import type { MasterDeps } from "../deps.ts"
import { largeJsonAnswer } from "../large-answer.ts"
import { captureHostStatus, hostStatusBytes, jsonKeyOrder } from "../status-json.ts"
import { deploymentJson, hostStatusJson } from "../responses.ts"
import { badRequest, jobIdParam, jsonBody, runCommand } from "../http-support.ts"
import { containerPolicyViolations } from "../../core/container-policy.ts"
import { userRegex } from "./params.ts"
import { allSelectorsMatch, parseHostSelector, type HostSelector } from "../../core/host-selector.ts"

/** The body of PUT/PATCH /hosts/{host}/jobs/{jobId}: Helios writes `jobId` and reads `job` or `jobId`. */
export const DeploymentBody = Schema.Struct({
  job: Schema.optionalKey(Schema.String),
  jobId: Schema.optionalKey(Schema.String),
  goal: Goal,
  deployerUser: Schema.optionalKey(Schema.NullOr(Schema.String)),
  deployerMaster: Schema.optionalKey(Schema.NullOr(Schema.String)),
  deploymentGroupName: Schema.optionalKey(Schema.NullOr(Schema.String)),
})

export const hostRoutes = (deps: MasterDeps) => {
  const app = new Hono()
  const state = () => deps.projection.model.state

  const hostParam = (raw: string) => decodeInput(HostName, raw)

  app.get("/hosts", async (c) => {
    const namePattern = userRegex(c.req.query("namePattern"))
    if (namePattern instanceof Error) return badRequest(c, "INVALID_PATTERN", [{ field: "namePattern", message: namePattern.message }])
    const selectors: HostSelector[] = []
    for (const text of c.req.queries("selector") ?? []) {
      const parsed = parseHostSelector(text)
      if (Result.isFailure(parsed)) return badRequest(c, "INVALID_SELECTOR", [{ field: "selector", message: parsed.failure }])
      selectors.push(parsed.success)
    }
    const names = [...state().hosts.keys()].filter((h) => !namePattern || namePattern.test(h)).sort()
    if (selectors.length === 0) return c.json(names)
    const out: string[] = []
    for (const h of names) {
      const labels = (await deps.hostDetails(h))?.labels ?? {}
      if (allSelectorsMatch(selectors, labels)) out.push(h)
    }
    return c.json(out)
  })

  app.put("/hosts/:host", async (c) => {
    const host = hostParam(c.req.param("host"))
    if (Result.isFailure(host)) return badRequest(c, "INVALID_HOST", host.failure.map((e) => ({ ...e, field: "host" })))
    const id = decodeInput(AgentId, c.req.query("id") ?? "")
    if (Result.isFailure(id)) return badRequest(c, "INVALID_ID", id.failure.map((e) => ({ ...e, field: "id" })))
    return runCommand(c, deps, { _tag: "RegisterHost", host: host.success, agentId: id.success }, { host: host.success })
  })

  app.delete("/hosts/:host", async (c) => {
    const host = c.req.param("host")
    // Deregistering undeploys: a token-protected job on the host needs its token (?token=, repeatable).
    const tokens = c.req.queries("token") ?? []
    return runCommand(c, deps, { _tag: "DeregisterHost", host: host as HostName, tokens }, { host }, { HOST_NOT_FOUND: "NOT_FOUND" })
  })

  const hostStatus = async (host: string, filter: string | undefined) => {
    const s = hostStatusJson(state(), host as HostName, state().hosts.has(host as HostName) ? await deps.hostDetails(host as HostName) : undefined)
    return s && (filter === undefined || s.status === filter) ? s : undefined
  }

  /** `?status=`: UP or DOWN (anything else was taken as a filter nothing passes: 404 for a host that exists). */
  const statusFilter = (c: Context) => {
    const filter = c.req.query("status")
    return filter === undefined || filter === "UP" || filter === "DOWN"
      ? { ok: true as const, filter }
      : { ok: false as const, response: badRequest(c, "INVALID_STATUS", [{ field: "status", message: `expected UP or DOWN, got ${JSON.stringify(filter)}` }]) }
  }

  app.get("/hosts/:host/status", async (c) => {
    const status = statusFilter(c)
    if (!status.ok) return status.response
    const s = await hostStatus(c.req.param("host"), status.filter)
    return s ? c.json(s) : c.json({ status: "HOST_NOT_FOUND", host: c.req.param("host") }, 404)
  })

  app.post("/hosts/statuses", async (c) => {
    const body = await jsonBody(c)
    if (!body.ok) return body.response
    if (!Array.isArray(body.value) || !body.value.every((x) => typeof x === "string"))
      return badRequest(c, "INVALID_BODY", [{ field: "(body)", message: "expected an array of host names" }])
    // Every host captured now, so the answer shows one point of the log although events are
    // applied while the hosts' details (agents' facts, not the log) are read; rendered in the key
    // order c.json(object) gives.
    const status = statusFilter(c)
    if (!status.ok) return status.response
    const filter = status.filter
    const captured = jsonKeyOrder([...new Set(body.value as string[])])
      .map((host) => captureHostStatus(state(), host as HostName))
      .filter((h) => h !== undefined && (filter === undefined || (h.record.up ? "UP" : "DOWN") === filter))
      .map((h) => h!)
    return largeJsonAnswer(
      c,
      (async function* () {
        yield "{"
        for (let i = 0; i < captured.length; i++) {
          const host = captured[i]!
          yield hostStatusBytes(host, await deps.hostDetails(host.host), `${i > 0 ? "," : ""}${JSON.stringify(host.host)}:`)
        }
        yield "}"
      })(),
      deps.compressFromBytes,
    )
  })

  /** The host, full job id and token of a /hosts/{host}/jobs/{jobId} request (INVALID_ID names both, as Helios does). */
  const hostJobTarget = (c: Context) => {
    const parsed = jobIdParam(c, c.req.param("jobId")!, { host: c.req.param("host"), job: c.req.param("jobId") })
    if (!parsed.ok) return parsed
    return { ok: true as const, host: c.req.param("host")! as HostName, jobId: parsed.id, token: c.req.query("token") }
  }

  const deploymentBody = async (c: Context) => {
    const body = await jsonBody(c)
    if (!body.ok) return { response: body.response }
    const decoded = decodeInput(DeploymentBody, body.value ?? {})
    if (Result.isFailure(decoded)) return { response: badRequest(c, "INVALID_BODY", decoded.failure) }
    const named = decoded.success.job ?? decoded.success.jobId
    if (named !== undefined && named !== c.req.param("jobId"))
      return { response: c.json({ status: "ID_MISMATCH", host: c.req.param("host"), job: c.req.param("jobId") }, 400) as Response }
    return { goal: decoded.success.goal }
  }

  /** PUT deploys, PATCH sets the goal: both take a Deployment body naming the goal. */
  const withGoal = (tag: "DeployJob" | "SetGoal") => async (c: Context) => {
    const body = await deploymentBody(c)
    if ("response" in body) return body.response
    const target = hostJobTarget(c)
    if (!target.ok) return target.response
    const { host, jobId, token } = target
    // A job created under a looser policy (or written to the log otherwise) is not deployed either.
    const job = tag === "DeployJob" ? state().jobs.get(jobId) : undefined
    const refused = job ? containerPolicyViolations(job, deps.containerPolicy) : []
    if (refused.length > 0) return badRequest(c, "INVALID_JOB_DEFINITION", refused, { host, job: jobId })
    return runCommand(c, deps, { _tag: tag, jobId, host, goal: body.goal, ...(token !== undefined ? { token } : {}) }, { host, job: jobId })
  }
  app.put("/hosts/:host/jobs/:jobId", withGoal("DeployJob"))
  app.patch("/hosts/:host/jobs/:jobId", withGoal("SetGoal"))

  app.get("/hosts/:host/jobs/:jobId", (c) => {
    const target = hostJobTarget(c)
    if (!target.ok) return target.response
    const d = state().deployments.get(c.req.param("host") as HostName)?.get(c.req.param("jobId"))
    return d ? c.json(deploymentJson(d)) : c.json({ status: "JOB_NOT_DEPLOYED" }, 404)
  })

  app.delete("/hosts/:host/jobs/:jobId", async (c) => {
    const target = hostJobTarget(c)
    if (!target.ok) return target.response
    const { host, jobId, token } = target
    return runCommand(
      c,
      deps,
      { _tag: "UndeployJob", jobId, host, ...(token !== undefined ? { token } : {}) },
      { host, job: jobId },
      { JOB_NOT_DEPLOYED: "JOB_NOT_FOUND" },
    )
  })

  return app
}
