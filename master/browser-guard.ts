import type { Context, MiddlewareHandler } from "hono"
import { isIP } from "node:net"

/*
 * What keeps a web page the user happens to visit from driving a master (above all `helios solo` on
 * a laptop): browsers send requests to 127.0.0.1 on behalf of any site.
 *
 * - No wildcard CORS. Answers carry Access-Control-Allow-Origin only for the origins allowed with
 *   `--cors-origin ORIGIN` (none by default), so another site's script cannot read an answer, and
 *   a request that carries a foreign `Origin` is refused outright (403 FORBIDDEN_ORIGIN) — the CLI
 *   and agents send none; a browser sends one on every cross-origin write.
 * - Writes with a body must say `Content-Type: application/json` (415 otherwise): a cross-origin
 *   "simple request" (text/plain, a form) is never executed, even by a browser that would not send
 *   an Origin. Helios's clients and ours send JSON; a DELETE without a body needs no type.
 * - DNS rebinding: a site whose name resolves to 127.0.0.1 passes the same-origin rule, but its
 *   requests name that site in `Host`. A master bound to a loopback address answers only requests
 *   whose Host is a loopback name (localhost, 127.x.y.z, [::1]), its bind address, or a name given
 *   with `--allowed-host`; others get 421 MISDIRECTED_HOST. A master bound elsewhere checks Host
 *   only when `--allowed-host` names are given.
 */

export interface BrowserGuardOptions {
  /** Origins (scheme://host[:port]) whose pages may call the API (`--cors-origin`). */
  readonly corsOrigins: ReadonlyArray<string>
  /** Host names (without port) a request may name in `Host` besides loopback ones (`--allowed-host`). */
  readonly allowedHosts: ReadonlyArray<string>
  /** The address the API listens on. */
  readonly bindAddress: string
}

const isLoopbackName = (host: string): boolean =>
  host === "localhost" || host.endsWith(".localhost") || host === "::1" || (isIP(host) === 4 && host.startsWith("127."))

export const isLoopbackAddress = (address: string): boolean => isLoopbackName(address.replace(/^\[|\]$/g, "").toLowerCase())

/** The host name of a `Host` header (`name[:port]`, `[v6][:port]`), lower-cased; undefined when malformed. */
const hostNameOf = (header: string): string | undefined => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+))(?::\d{1,5})?$/.exec(header.trim())
  return m ? (m[1] ?? m[2])!.toLowerCase() : undefined
}

/** `scheme://host[:port]` as browsers send it in Origin; an Error for anything else (e.g. `*`). */
export const normalizeOrigin = (raw: string): string | Error => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return new Error(`not an origin (scheme://host[:port]): ${raw}`)
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "")
    return new Error(`not an origin (scheme://host[:port]): ${raw}`)
  return url.origin
}

const EXPOSED = "Helios-Position, Helios-Server-Version, Helios-Version-Status, Helios-Stale"
const ALLOWED_HEADERS = "Authorization, Content-Type, Helios-Command-Id, Helios-Version"

/** 415 for a request body that does not say it is JSON, else undefined (call only for a request with a body). */
export const untypedBody = (c: Context): Response | undefined => {
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase()
  if (type === "application/json") return undefined
  const message = `a request body must be application/json, got ${JSON.stringify(type || "(none)")}; nothing was done`
  return c.json({ status: "UNSUPPORTED_MEDIA_TYPE", message, errors: [`Content-Type: ${message}`], fieldErrors: [{ field: "Content-Type", message }] }, 415)
}

export const browserGuard = (o: BrowserGuardOptions): MiddlewareHandler => {
  const origins = new Set(o.corsOrigins)
  const checkHost = isLoopbackAddress(o.bindAddress) || o.allowedHosts.length > 0
  const hosts = new Set([...o.allowedHosts.map((h) => h.toLowerCase()), o.bindAddress.replace(/^\[|\]$/g, "").toLowerCase()])
  const hostAllowed = (name: string) => hosts.has(name) || (isLoopbackAddress(o.bindAddress) && isLoopbackName(name))
  const refuse = (c: Context, code: 403 | 415 | 421, status: string, field: string, message: string) =>
    c.json({ status, message, errors: [`${field}: ${message}`], fieldErrors: [{ field, message }] }, code)

  return async (c, next) => {
    if (checkHost) {
      const header = c.req.header("host") ?? ""
      const name = hostNameOf(header)
      if (name === undefined || !hostAllowed(name))
        return refuse(c, 421, "MISDIRECTED_HOST", "Host", `${JSON.stringify(header)} is not a name of this master (DNS rebinding?); allow it with --allowed-host`)
    }
    const method = c.req.method
    // A declared length tells a body from the headers; the body is read only after authentication,
    // where a chunked one (no length) is held to the same rule once read (app.ts, untypedBody).
    if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS" && Number(c.req.header("content-length") ?? 0) > 0) {
      const refused = untypedBody(c)
      if (refused) return refused
    }
    const origin = c.req.header("origin")
    if (origin !== undefined) {
      const sameOrigin = origin !== "null" && (() => {
        try {
          return new URL(origin).host.toLowerCase() === (c.req.header("host") ?? "").toLowerCase()
        } catch {
          return false
        }
      })()
      if (!sameOrigin && !origins.has(origin))
        return refuse(c, 403, "FORBIDDEN_ORIGIN", "Origin", `requests from ${origin} are not allowed (allow its pages with --cors-origin); nothing was done`)
      if (!sameOrigin) {
        c.header("Access-Control-Allow-Origin", origin)
        c.header("Vary", "Origin")
        c.header("Access-Control-Expose-Headers", EXPOSED)
        if (method === "OPTIONS") {
          c.header("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
          c.header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
          c.header("Access-Control-Max-Age", "600")
          return c.body(null, 204)
        }
      }
    }
    await next()
  }
}
