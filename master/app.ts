import { Hono } from "hono"
import { LogUnavailable, BatchTooLarge, StorageFailed, EventsArchived, UndecodableEvent } from "../core/event-log.ts"
import { HeldAtUndecodableEvent } from "./live-projection.ts"
import type { MasterDeps } from "./deps.ts"
import { bodyTooLarge, discardBody, MAX_BODY_BYTES, MAX_READ_WAIT_MS, readAfterQuery, receiveBody } from "./http-support.ts"
import { openApiJson } from "./openapi.ts"
import { DOCS_CSS, DOCS_HTML, DOCS_JS } from "./openapi-page.ts"
import { agentFactRoutes } from "./routes/agent-facts.ts"
import { deploymentGroupRoutes } from "./routes/deployment-groups.ts"
import { rolloutRoutes } from "./routes/rollouts.ts"
import { historyRoutes } from "./routes/history.ts"
import { hostRoutes } from "./routes/hosts.ts"
import { jobRoutes } from "./routes/jobs.ts"
import { versionRoutes } from "./routes/version.ts"
import { projectionRoutes } from "./routes/projection.ts"
import { browserGuard, untypedBody } from "./browser-guard.ts"
import { authMiddleware } from "./auth.ts"
import { metricsRoutes } from "./routes/metrics.ts"
import { CSP, uiRoutes } from "./routes/ui.ts"
import { parsePomVersion } from "./version-compat.ts"
import { versionHeaders } from "./version-header.ts"

const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024

export const masterApp = (deps: MasterDeps): Hono => {
  const app = new Hono()
  const serverVersion = parsePomVersion(deps.version)
  if (serverVersion === undefined) throw new Error(`this build's version is not MAJOR.MINOR.PATCH[-SNAPSHOT]: ${deps.version}`)

  app.use("*", deps.metrics.http)

  app.use("*", versionHeaders(serverVersion))
  // No wildcard CORS, JSON-only writes, Host checked on loopback (master/browser-guard.ts): on the
  // request's headers alone.
  app.use("*", browserGuard(deps.browser))
  // Bearer tokens and capabilities, before any body is read or anything written (master/auth.ts): a
  // stranger's request costs the master no more than its headers.
  if (deps.principals) app.use("*", authMiddleware(deps.principals))

  // A declared length over the limit is refused before routing; a chunked body is held to the same
  // limit while it is read (readBodyText). Not hono's bodyLimit: it builds a web Request (abort
  // signal, web stream) for every request, a tenth of a busy master's CPU.
  app.use("*", async (c, next) => {
    if (Number(c.req.header("content-length") ?? 0) <= MAX_BODY_BYTES) return next()
    // Drain (not keep) a moderately large body so the client reads our answer instead of a reset socket.
    if (Number(c.req.header("content-length")) <= DRAIN_LIMIT_BYTES) await discardBody(c).catch(() => {})
    return bodyTooLarge(c)
  })

  // A write acts only on a request received in full. Node hands a request over before its body has
  // arrived; when the body then turns out broken (a Transfer-Encoding other than chunked, bad chunks,
  // the connection ending early) Node answers 400, and a route that does not read the body (DELETE,
  // PUT /hosts/{host}) would still have applied the command. A chunked body, whose presence the
  // headers do not tell, must be JSON as a declared one must (browser-guard.ts).
  app.use("*", async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "OPTIONS") return next()
    const body = await receiveBody(c)
    if (!body.ok) return body.response
    return (body.text.length > 0 && untypedBody(c)) || next()
  })

  // Read-your-writes across masters: a request names the position it must see and waits (bounded).
  app.use("*", async (c, next) => {
    // GET /events reads its own `after` (where its stream starts).
    const query = c.req.path === "/events" ? undefined : readAfterQuery(c)
    if (query !== undefined && !query.ok) return query.response
    const after = query?.after
    if (after !== undefined) {
      const wait = Math.min(query?.wait ?? MAX_READ_WAIT_MS, MAX_READ_WAIT_MS)
      if (!(await deps.projection.waitFor(after, wait))) {
        const held = deps.projection.undecodable
        if (held) return c.json({ status: "UNDECODABLE_EVENT", message: `this master cannot apply position ${after}: it holds before an undecodable event`, position: held.position, reason: held.reason }, 503)
        return c.json({ status: "NOT_CAUGHT_UP", message: `this master has not applied position ${after} yet`, position: deps.projection.position }, 503)
      }
    }
    c.header("Helios-Position", String(deps.projection.position))
    // Held before an undecodable event: every answer says it comes from the state before it.
    const held = deps.projection.undecodable
    if (held) c.header("Helios-Stale", `undecodable event at ${held.position}`)
    await next()
  })

  app.route("/", jobRoutes(deps))
  app.route("/", hostRoutes(deps))
  app.route("/", historyRoutes(deps))
  app.route("/", deploymentGroupRoutes(deps))
  app.route("/", rolloutRoutes(deps))
  app.route("/", agentFactRoutes(deps))
  app.route("/", projectionRoutes(deps))
  app.route("/", metricsRoutes(deps))
  app.route("/", uiRoutes({ name: deps.name, version: deps.version }))
  app.get("/masters", async (c) => c.json(await deps.masters()))
  app.route("/", versionRoutes(serverVersion))
  app.get("/healthz", (c) => {
    // Never OK on a projection that disagrees with the log (lost ZooKeeper data): 503 until rebuilt.
    // Nor while the log is out of reach (reads may be stale, writes refused), nor while it holds
    // before an event it cannot decode (reads stale, writes refused). The first of these that holds
    // is the status; the others are added to it.
    const d = deps.projection.diverged
    const u = deps.projection.undecodable
    const o = deps.logOutage()
    const undecodable = u && { status: "UNDECODABLE_EVENT", position: u.position, through: u.through, reason: u.reason, appliedPosition: deps.projection.position, since: u.since }
    const logUnavailable = o && {
      status: "LOG_UNAVAILABLE",
      position: deps.projection.position,
      since: o.since,
      unreachableForMs: o.forMs,
      message: `ZooKeeper unreachable for ${(o.forMs / 1000).toFixed(1)} s: reads are served from position ${deps.projection.position} and may be stale; writes answer 503`,
    }
    const body =
      d !== undefined ? { status: "DIVERGED", position: d.position, ...(d.logPosition >= 0 ? { logPosition: d.logPosition } : {}), reason: d.reason, rebuildPosition: deps.projection.rebuildPosition, ...(logUnavailable ? { logUnavailable } : {}) }
      : logUnavailable
    if (body) return c.json(undecodable ? { ...body, undecodable } : body, 503)
    if (undecodable) return c.json(undecodable, 503)
    return c.json({ status: "OK", position: deps.projection.position })
  })

  // The API's OpenAPI 3.1 document (master/openapi.ts: every route above is in its table) and its reference page.
  app.get("/openapi.json", (c) => c.body(openApiJson(deps.version), 200, { "content-type": "application/json; charset=utf-8" }))
  // The interactive page sends requests with a pasted token: the dashboard's CSP, no framing
  // (clickjacking), as /ui.
  app.get("/docs", (c) => {
    c.header("Content-Security-Policy", CSP)
    c.header("X-Content-Type-Options", "nosniff")
    c.header("Referrer-Policy", "no-referrer")
    return c.html(DOCS_HTML)
  })
  app.get("/docs/app.js", (c) => c.body(DOCS_JS, 200, { "content-type": "text/javascript; charset=utf-8" }))
  app.get("/docs/app.css", (c) => c.body(DOCS_CSS, 200, { "content-type": "text/css; charset=utf-8" }))

  app.notFound((c) => c.json({ status: "NOT_FOUND", errors: [`${c.req.method} ${c.req.path}: no such endpoint`] }, 404))
  app.onError((error, c) => {
    if (error instanceof HeldAtUndecodableEvent)
      return c.json(
        { status: "UNDECODABLE_EVENT", position: error.position, reason: error.reason, message: `this master holds before an event it cannot decode (position ${error.position}: ${error.reason}); nothing was written` },
        503,
      )
    // A read of the log met an event this master cannot decode and was not told to skip.
    if (error instanceof UndecodableEvent)
      return c.json(
        {
          status: "UNDECODABLE_EVENT",
          position: error.position,
          reason: error.reason,
          message: `the event log holds at position ${error.position} an event this master cannot decode (${error.reason}); upgrade this master, or restart every master with --skip-undecodable ${error.position}`,
        },
        503,
      )
    if (error instanceof LogUnavailable) return c.json({ status: "UNAVAILABLE", message: `event log unavailable: ${error.reason}` }, 503)
    // Like Kubernetes past compaction: what was asked for is gone from the log, not failing.
    if (error instanceof EventsArchived) return c.json({ status: "ARCHIVED", archivedThrough: error.through, message: error.message }, 410)
    if (error instanceof StorageFailed)
      return c.json({ status: "LOG_UNAVAILABLE", reason: error.reason, code: error.code, message: `event log cannot write: ${error.reason} (${error.code}); nothing was written` }, 503)
    if (error instanceof BatchTooLarge)
      return c.json({ status: "TOO_LARGE", message: `command too large: ${error.bytes} bytes > ${error.limit}`, bytes: error.bytes, limit: error.limit }, 413)
    console.error("master: unexpected error", error)
    return c.json({ status: "INTERNAL_ERROR", message: String(error) }, 500)
  })
  return app
}
