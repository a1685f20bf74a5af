import { createHash, timingSafeEqual } from "node:crypto"
import { readFileSync } from "node:fs"
import type { Context, MiddlewareHandler } from "hono"
import { Result, Schema } from "effect"
import { decodeInput, formatFieldErrors } from "../core/decode.ts"
import { compileLinearRegex, type LinearRegex } from "../core/linear-regex.ts"

/*
 * Who may do what on the master API. Off unless the master is given principals (`--auth-file`, or
 * solo's local token); once on, every request but the public ones (GET /healthz, /version, /openapi.json, /docs, the dashboard shell /ui,
 * /version/check, CORS preflights) needs `Authorization: Bearer TOKEN` naming a principal (401
 * UNAUTHORIZED otherwise) whose capabilities cover the route (403 PERMISSION_DENIED otherwise), both
 * before anything is read or written. A route not in the table below is refused (default-deny).
 *
 * Capabilities:
 *   read                     every read (GET, and the POST /jobs|hosts/statuses queries)
 *   jobs:write               create and remove jobs
 *   deploy[:JOBS[@HOSTS]]    deploy, undeploy, set goals; JOBS a glob on the job id (`web:*`), HOSTS on the host name
 *   hosts:admin              register and deregister hosts
 *   groups:write             create, remove, roll out and stop deployment groups
 *   agent:HOST               post an agent's facts about HOST (POST /hosts/HOST/events); HOST may be a glob
 *   users:name               may name the human behind a request with ?user= (recorded as USER@PRINCIPAL)
 *   *                        all of the above
 * Globs: `*` any run of characters, `?` one character.
 *
 * The authenticated principal is the actor of every event it causes: `?user=` is ignored unless the
 * principal holds users:name (a proxy or bastion that authenticates people itself).
 */

export type Capability =
  | { readonly kind: "all" }
  | { readonly kind: "read" | "jobs:write" | "hosts:admin" | "groups:write" | "users:name" }
  | { readonly kind: "deploy"; readonly jobs: LinearRegex; readonly hosts: LinearRegex }
  | { readonly kind: "agent"; readonly hosts: LinearRegex }

export interface Principal {
  readonly name: string
  readonly capabilities: ReadonlyArray<Capability>
}

/** What a route needs; `host`/`job` are its path's, for the limited capabilities. */
export type Need =
  | { readonly kind: "public" }
  | { readonly kind: "read" | "jobs:write" | "hosts:admin" | "groups:write" }
  | { readonly kind: "deploy"; readonly job: string; readonly host: string }
  | { readonly kind: "agent"; readonly host: string }

const glob = (text: string): LinearRegex | Error =>
  compileLinearRegex(`^${text.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`)

/** A capability from its text (`deploy:web:*@eu-*`); an Error naming what is wrong. */
export const parseCapability = (text: string): Capability | Error => {
  if (text === "*") return { kind: "all" }
  if (["read", "jobs:write", "hosts:admin", "groups:write", "users:name"].includes(text)) return { kind: text as "read" }
  if (text === "deploy" || text.startsWith("deploy:")) {
    const limits = text.slice("deploy:".length)
    const at = limits.lastIndexOf("@")
    const jobs = glob(text === "deploy" ? "*" : at === -1 ? limits : limits.slice(0, at) || "*")
    const hosts = glob(text === "deploy" || at === -1 ? "*" : limits.slice(at + 1) || "*")
    if (jobs instanceof Error || hosts instanceof Error) return new Error(`bad globs in ${text}`)
    return { kind: "deploy", jobs, hosts }
  }
  if (text.startsWith("agent:") && text.length > "agent:".length) {
    const hosts = glob(text.slice("agent:".length))
    return hosts instanceof Error ? new Error(`bad host glob in ${text}`) : { kind: "agent", hosts }
  }
  return new Error(`unknown capability ${JSON.stringify(text)} (expected *, read, jobs:write, deploy[:JOBS[@HOSTS]], hosts:admin, groups:write, agent:HOST, users:name)`)
}

const allows = (cap: Capability, need: Need): boolean => {
  if (need.kind === "public" || cap.kind === "all") return true
  switch (need.kind) {
    case "deploy":
      return cap.kind === "deploy" && cap.jobs.test(need.job) && cap.hosts.test(need.host)
    case "agent":
      return cap.kind === "agent" && cap.hosts.test(need.host)
    default:
      return cap.kind === need.kind
  }
}

const describeNeed = (need: Need): string =>
  need.kind === "deploy" ? `deploy (job ${need.job} on host ${need.host})` : need.kind === "agent" ? `agent:${need.host}` : need.kind

// ---- the route table ---------------------------------------------------------------------------

type Params = Readonly<Record<string, string>>
interface Route {
  readonly method: string
  /** Segments; `:name` binds one, a final `*` the rest. */
  readonly path: string
  readonly need: (p: Params) => Need
}

const need = (kind: "public" | "read" | "jobs:write" | "hosts:admin" | "groups:write") => () => ({ kind }) as Need
const deploy = (p: Params): Need => ({ kind: "deploy", job: p["jobId"]!, host: p["host"]! })

/** Every route of the API and what it needs: a new route is one line here (unlisted: refused). */
export const ROUTES: ReadonlyArray<Route> = [
  { method: "GET", path: "/healthz", need: need("public") },
  { method: "GET", path: "/version", need: need("public") },
  { method: "GET", path: "/version/check", need: need("public") },
  // The dashboard's shell and assets hold no fleet data; its data requests carry the token (master/routes/ui.ts).
  { method: "GET", path: "/ui", need: need("public") },
  { method: "GET", path: "/ui/*", need: need("public") },
  // The API's description and its reference page hold no fleet data (with authentication on they were unreachable).
  { method: "GET", path: "/openapi.json", need: need("public") },
  { method: "GET", path: "/docs", need: need("public") },
  { method: "GET", path: "/metrics", need: need("read") },
  { method: "GET", path: "/jobs", need: need("read") },
  { method: "POST", path: "/jobs", need: need("jobs:write") },
  { method: "POST", path: "/jobs/statuses", need: need("read") },
  { method: "GET", path: "/jobs/:id", need: need("read") },
  { method: "DELETE", path: "/jobs/:id", need: need("jobs:write") },
  { method: "GET", path: "/jobs/:id/status", need: need("read") },
  { method: "GET", path: "/hosts", need: need("read") },
  { method: "POST", path: "/hosts/statuses", need: need("read") },
  { method: "PUT", path: "/hosts/:host", need: need("hosts:admin") },
  { method: "DELETE", path: "/hosts/:host", need: need("hosts:admin") },
  { method: "GET", path: "/hosts/:host/status", need: need("read") },
  { method: "POST", path: "/hosts/:host/events", need: (p) => ({ kind: "agent", host: p["host"]! }) },
  { method: "GET", path: "/hosts/:host/jobs/:jobId", need: need("read") },
  { method: "PUT", path: "/hosts/:host/jobs/:jobId", need: deploy },
  { method: "PATCH", path: "/hosts/:host/jobs/:jobId", need: deploy },
  { method: "DELETE", path: "/hosts/:host/jobs/:jobId", need: deploy },
  { method: "GET", path: "/history/jobs/:id", need: need("read") },
  { method: "GET", path: "/state", need: need("read") },
  { method: "GET", path: "/events", need: need("read") },
  { method: "GET", path: "/masters", need: need("read") },
  { method: "GET", path: "/projection/digest", need: need("read") },
  // Deployment groups (master/routes/deployment-groups.ts): reads, and every change.
  { method: "GET", path: "/deployment-group/*", need: need("read") },
  { method: "POST", path: "/deployment-group/*", need: need("groups:write") },
  { method: "PUT", path: "/deployment-group/*", need: need("groups:write") },
  { method: "PATCH", path: "/deployment-group/*", need: need("groups:write") },
  { method: "DELETE", path: "/deployment-group/*", need: need("groups:write") },
]

const segmentsOf = (path: string): string[] =>
  // Exactly the router's segments (an empty one included), so a path is judged as the route that serves it.
  path
    .split("/")
    .slice(1)
    .map((s) => {
      try {
        return decodeURIComponent(s)
      } catch {
        return s
      }
    })

const compiled = ROUTES.map((r) => ({ ...r, segments: segmentsOf(r.path) }))

/** What a request needs; undefined for a route not in the table (refused once auth is on). */
export const needOf = (method: string, path: string): Need | undefined => {
  const m = method === "HEAD" ? "GET" : method
  const segments = segmentsOf(path)
  for (const r of compiled) {
    if (r.method !== m) continue
    const params: Record<string, string> = {}
    let ok = true
    for (let i = 0; i < r.segments.length && ok; i++) {
      const s = r.segments[i]!
      if (s === "*") {
        params["*"] = segments.slice(i).join("/")
        return r.need(params)
      }
      if (i >= segments.length) ok = false
      else if (s.startsWith(":")) params[s.slice(1)] = segments[i]!
      else ok = s === segments[i]
    }
    if (ok && segments.length === r.segments.length) return r.need(params)
  }
  return undefined
}

// ---- principals ---------------------------------------------------------------------------------

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

const PrincipalEntry = Schema.Struct({
  name: Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9._@-]{1,64}$/))),
  token: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMinLength(16)))),
  tokenSha256: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isPattern(/^[0-9a-f]{64}$/)))),
  capabilities: Schema.Array(Schema.String),
})
const AuthFile = Schema.Union([Schema.Struct({ principals: Schema.Array(PrincipalEntry) }), Schema.Array(PrincipalEntry)])

/** The principals, and how to find one from a presented token. */
export class Principals {
  private constructor(private readonly entries: ReadonlyArray<{ readonly digest: Buffer; readonly principal: Principal }>) {}

  static of(entries: ReadonlyArray<{ readonly name: string; readonly token?: string; readonly tokenSha256?: string; readonly capabilities: ReadonlyArray<string> }>): Principals | Error {
    const out: Array<{ digest: Buffer; principal: Principal }> = []
    const names = new Set<string>()
    for (const [i, e] of entries.entries()) {
      if (names.has(e.name)) return new Error(`principals.${i}.name: ${e.name} appears twice`)
      names.add(e.name)
      if ((e.token === undefined) === (e.tokenSha256 === undefined)) return new Error(`principals.${i}: give token or tokenSha256, one of them`)
      const capabilities: Capability[] = []
      for (const [j, text] of e.capabilities.entries()) {
        const cap = parseCapability(text)
        if (cap instanceof Error) return new Error(`principals.${i}.capabilities.${j}: ${cap.message}`)
        capabilities.push(cap)
      }
      out.push({ digest: e.token !== undefined ? sha256(e.token) : Buffer.from(e.tokenSha256!, "hex"), principal: { name: e.name, capabilities } })
    }
    return new Principals(out)
  }

  /** Reads `--auth-file` (JSON: `{"principals": [{name, token | tokenSha256, capabilities}]}` or the bare list). */
  static fromFile(file: string): Principals | Error {
    let value: unknown
    try {
      value = JSON.parse(readFileSync(file, "utf8"))
    } catch (e) {
      return new Error(`${file}: ${(e as Error).message}`)
    }
    const decoded = decodeInput(AuthFile, value)
    if (Result.isFailure(decoded)) return new Error(`${file}: ${formatFieldErrors(decoded.failure)}`)
    const entries = Array.isArray(decoded.success) ? decoded.success : (decoded.success as { principals: ReadonlyArray<typeof PrincipalEntry.Type> }).principals
    const p = Principals.of(entries)
    return p instanceof Error ? new Error(`${file}: ${p.message}`) : p
  }

  /** The principal a token names; every entry is compared (in constant time) whatever matches. */
  find(token: string): Principal | undefined {
    const digest = sha256(token)
    let found: Principal | undefined
    for (const e of this.entries) if (timingSafeEqual(digest, e.digest) && found === undefined) found = e.principal
    return found
  }
}

// ---- the middleware ----------------------------------------------------------------------------

const principalOfRequest = new WeakMap<object, Principal>()

/** The principal that authenticated this request (undefined when auth is off). */
export const principalOf = (c: Context): Principal | undefined => principalOfRequest.get(c.req.raw)

/** The name the event actor gets: the principal, or `USER@PRINCIPAL` when it may name users. */
export const actorNameOf = (c: Context): string | undefined => {
  const p = principalOf(c)
  if (p === undefined) return undefined
  const user = c.req.query("user")
  const mayName = p.capabilities.some((cap) => cap.kind === "all" || cap.kind === "users:name")
  if (!mayName || user === undefined || user === "" || user === p.name) return p.name
  const named = `${user}@${p.name}`
  return named.length <= 256 ? named : p.name
}

export const authMiddleware = (principals: Principals): MiddlewareHandler => {
  const refuse = (c: Context, code: 401 | 403, status: string, message: string) => {
    if (code === 401) c.header("WWW-Authenticate", 'Bearer realm="helios"')
    return c.json({ status, message: `${message}; nothing was done`, errors: [`Authorization: ${message}`], fieldErrors: [{ field: "Authorization", message }] }, code)
  }
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return next() // CORS preflights carry no credentials (browser-guard answers them)
    const needed = needOf(c.req.method, c.req.path)
    if (needed?.kind === "public") return next()
    const header = c.req.header("authorization")
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!m) return refuse(c, 401, "UNAUTHORIZED", "this master requires a token: send Authorization: Bearer TOKEN (helios: --auth-token, HELIOS_TOKEN or \"token\" in ~/.helios/config)")
    const principal = principals.find(m[1]!)
    if (principal === undefined) return refuse(c, 401, "UNAUTHORIZED", "unknown token")
    if (needed === undefined) return refuse(c, 403, "PERMISSION_DENIED", `${c.req.method} ${c.req.path} is not open to any capability`)
    if (!principal.capabilities.some((cap) => allows(cap, needed)))
      return refuse(c, 403, "PERMISSION_DENIED", `${principal.name} may not ${c.req.method} ${c.req.path}: it needs ${describeNeed(needed)}`)
    principalOfRequest.set(c.req.raw, principal)
    await next()
  }
}
