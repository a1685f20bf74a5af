import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { homedir, userInfo } from "node:os"
import { join } from "node:path"
import { CliError, oneLine } from "./errors.ts"

/*
 * Where the masters are: `-z/--master` flags, else `HELIOS_MASTER` (comma-separated URLs), else
 * `masterEndpoints` in `~/.helios/config` (JSON: `{"masterEndpoints": ["http://host:5801"]}`).
 * Helios's DNS SRV discovery (`-d`, `domain://`) is not supported.
 */

export const DEFAULT_MASTER_PORT = 5801

/** `http(s)://host[:port]` from a user's `host:port`, `host` or URL; a CliError for anything else. */
export const normalizeEndpoint = (raw: string, source: string): string => {
  const text = raw.trim()
  if (text.startsWith("domain://")) throw new CliError(`${source}: ${text}: domain:// targets (DNS SRV discovery) are not supported; give http://host:port`)
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new CliError(`${source}: not a master URL: '${raw}' (expected http://host:port)`)
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`${source}: not an http(s) URL: '${raw}'`)
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") throw new CliError(`${source}: a master URL has no path: '${raw}'`)
  if (url.port === "" && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) url.port = String(DEFAULT_MASTER_PORT)
  return url.origin
}

export const configFile = (env: Readonly<Record<string, string | undefined>>): string =>
  join(env["HOME"] || homedir(), ".helios", "config")

const readConfigEndpoints = (file: string): ReadonlyArray<string> => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return []
    throw new CliError(`cannot read ${file}: ${oneLine((e as Error).message)}`)
  }
  let config: unknown
  try {
    config = JSON.parse(text)
  } catch (e) {
    throw new CliError(`${file} is not valid JSON (expected {"masterEndpoints": ["http://host:5801"]}): ${oneLine((e as Error).message)}`)
  }
  const endpoints = (config as { masterEndpoints?: unknown } | null)?.masterEndpoints
  if (endpoints === undefined) return []
  if (!Array.isArray(endpoints) || !endpoints.every((e) => typeof e === "string"))
    throw new CliError(`${file}: masterEndpoints must be a list of URLs`)
  return endpoints.map((e) => normalizeEndpoint(e, file))
}

/** The master endpoints to try, in order; a CliError when none are configured. */
export const resolveEndpoints = (flags: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): string[] => {
  let endpoints: ReadonlyArray<string>
  if (flags.length > 0) endpoints = flags.flatMap((f) => f.split(",")).filter((f) => f.trim() !== "").map((f) => normalizeEndpoint(f, "--master"))
  else if (env["HELIOS_MASTER"]?.trim())
    endpoints = env["HELIOS_MASTER"].split(",").filter((f) => f.trim() !== "").map((f) => normalizeEndpoint(f, "HELIOS_MASTER"))
  else endpoints = readConfigEndpoints(configFile(env))
  if (endpoints.length === 0)
    throw new CliError(`no masters specified: use -z http://host:5801, set HELIOS_MASTER, or put {"masterEndpoints": [...]} in ${configFile(env)}`)
  return [...new Set(endpoints)]
}

/** The login name (sent as `?user=`), like Helios's default for `-u`. */
export const defaultUser = (env: Readonly<Record<string, string | undefined>>): string => {
  try {
    return userInfo().username
  } catch {
    return env["USER"] || env["LOGNAME"] || "unknown"
  }
}

/*
 * The bearer token for masters with authentication on: `--auth-token` (not `--token`: that is
 * Helios's per-job token of deploy, undeploy...), else `HELIOS_TOKEN`, else `"token"` in
 * ~/.helios/config, else — when the master is on this machine — the local token of the `helios solo`
 * serving that port (solo notes where it keeps it in ~/.helios/solo-endpoints.json). None: requests
 * go without one, as an auth-less master expects.
 */

const readJson = (file: string): unknown => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw new CliError(`cannot read ${file}: ${oneLine((e as Error).message)}`)
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new CliError(`${file} is not valid JSON: ${oneLine((e as Error).message)}`)
  }
}

/** Where solo notes which port it serves and where its local token is. */
export const soloEndpointsFile = (env: Readonly<Record<string, string | undefined>>): string =>
  join(env["HOME"] || homedir(), ".helios", "solo-endpoints.json")

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"])

/** Records that a solo on `url` keeps its token in `tokenFile` (a path, not the secret). */
export const noteSoloEndpoint = (env: Readonly<Record<string, string | undefined>>, url: string, tokenFile: string): void => {
  const file = soloEndpointsFile(env)
  const known = readJson(file)
  const entries: Record<string, string> = typeof known === "object" && known !== null && !Array.isArray(known) ? { ...(known as Record<string, string>) } : {}
  entries[new URL(url).port] = tokenFile
  mkdirSync(join(file, ".."), { recursive: true })
  writeFileSync(`${file}.tmp`, JSON.stringify(entries, null, 2) + "\n", { mode: 0o600 })
  renameSync(`${file}.tmp`, file)
  chmodSync(file, 0o600)
}

const soloToken = (env: Readonly<Record<string, string | undefined>>, endpoint: string): string | undefined => {
  const url = new URL(endpoint)
  if (!LOOPBACK.has(url.hostname)) return undefined // never send the local token elsewhere
  const entries = readJson(soloEndpointsFile(env))
  const tokenFile = typeof entries === "object" && entries !== null ? (entries as Record<string, unknown>)[url.port || "80"] : undefined
  if (typeof tokenFile !== "string") return undefined
  try {
    return readFileSync(tokenFile, "utf8").trim() || undefined
  } catch {
    return undefined // solo gone, or its data dir: go without
  }
}

export const resolveToken = (flag: string | undefined, env: Readonly<Record<string, string | undefined>>, endpoints: ReadonlyArray<string>): string | undefined => {
  if (flag !== undefined && flag !== "") return flag
  if (env["HELIOS_TOKEN"]?.trim()) return env["HELIOS_TOKEN"].trim()
  const config = readJson(configFile(env))
  const token = (config as { token?: unknown } | null | undefined)?.token
  if (token !== undefined) {
    if (typeof token !== "string" || token === "") throw new CliError(`${configFile(env)}: token must be a string`)
    return token
  }
  return endpoints.length > 0 ? soloToken(env, endpoints[0]!) : undefined
}
