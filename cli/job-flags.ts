import { CliError } from "./errors.ts"

/*
 * `helios create` flags → a job in its JSON (wire) form. The result is validated with decodeJob
 * by the caller, which names the bad field; here only the flag syntax is checked.
 */

type JsonObject = Record<string, unknown>

export interface PortFlagMapping {
  readonly internalPort: number
  readonly externalPort?: number
  readonly protocol: "tcp" | "udp"
  readonly ip?: string
}

const PORT_FLAG = /^([\w-]+)=(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d+)(?::(\d+))?(?:\/(\w+))?$/

/**
 * `-p name=[ip:]internal[:external][/tcp|udp]`: `http=80` (dynamic external port), `http=80:8080`,
 * `dns=53:5353/udp`, `http=127.0.0.1:80:8080`. Port ranges are checked by decodeJob.
 */
export const parsePortFlag = (spec: string): [string, PortFlagMapping] => {
  const m = PORT_FLAG.exec(spec)
  const bad = (why: string) =>
    new CliError(`Bad port mapping: '${spec}': ${why} (expected name=[ip:]internal[:external][/tcp|udp], e.g. http=80:8080)`)
  if (m === null) throw bad("not of the form name=internal[:external]")
  const [, name, ip, internal, external, protocol = "tcp"] = m as unknown as [string, string, string | undefined, string, string | undefined, string | undefined]
  if (protocol !== "tcp" && protocol !== "udp") throw bad(`protocol must be tcp or udp, not '${protocol}'`)
  return [
    name,
    {
      internalPort: Number(internal),
      ...(external !== undefined ? { externalPort: Number(external) } : {}),
      protocol,
      ...(ip !== undefined ? { ip } : {}),
    },
  ]
}

/** Port flags → the job's `ports`; a name given twice is an error. */
export const parsePortFlags = (specs: ReadonlyArray<string>): Record<string, PortFlagMapping> => {
  const out: Record<string, PortFlagMapping> = {}
  for (const spec of specs) {
    const [name, mapping] = parsePortFlag(spec)
    if (Object.hasOwn(out, name)) throw new CliError(`Duplicate port mapping name: ${name}`)
    out[name] = mapping
  }
  return out
}

/** `K=V` flags (`--env`, `-m`, `--label`) → a map; later flags win. */
export const parsePairs = (specs: ReadonlyArray<string>, what: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const spec of specs) {
    const eq = spec.indexOf("=")
    if (eq <= 0) throw new CliError(`Bad format for ${what}: '${spec}', expecting KEY=VALUE`)
    Object.defineProperty(out, spec.slice(0, eq), { value: spec.slice(eq + 1), enumerable: true, writable: true, configurable: true })
  }
  return out
}

/**
 * `--volume [source:]/container/path[:ro|rw]` → one entry of Helios's `volumes` map
 * (`"/container/path[:ro|rw]"` → source, "" for an anonymous volume).
 */
export const parseVolumeFlag = (spec: string): [string, string] => {
  const parts = spec.split(":")
  const isMode = (s: string | undefined) => s === "ro" || s === "rw"
  switch (parts.length) {
    case 1:
      return [spec, ""]
    case 2:
      return isMode(parts[1]) ? [spec, ""] : [parts[1]!, parts[0]!]
    case 3:
      if (isMode(parts[2])) return [`${parts[1]}:${parts[2]}`, parts[0]!]
  }
  throw new CliError(`Invalid volume: '${spec}' (expected [source:]/container/path[:ro|rw])`)
}

/** At most one of `--http-check port:/path`, `--tcp-check port`, `--exec-check "cmd args"`. */
export const parseHealthCheck = (
  http: string | undefined,
  tcp: string | undefined,
  exec: string | undefined,
  flagPrefix = "",
  what = "health check",
): JsonObject | undefined => {
  const given = [http, tcp, exec].filter((c) => c !== undefined && c !== "")
  const names = `--${flagPrefix}http-check, --${flagPrefix}tcp-check or --${flagPrefix}exec-check`
  if (given.length > 1) throw new CliError(`Only one ${what} may be specified (${names})`)
  if (http) {
    const colon = http.indexOf(":")
    if (colon <= 0) throw new CliError(`Invalid HTTP ${what}: '${http}' (expected PORT_NAME:/path, e.g. http:/healthz)`)
    return { type: "http", port: http.slice(0, colon), path: http.slice(colon + 1) }
  }
  if (tcp) return { type: "tcp", port: tcp }
  if (exec) return { type: "exec", command: exec.trim().split(/\s+/) }
  return undefined
}

export interface CreateFlags {
  /** Positional `NAME:VERSION[:HASH]`. */
  readonly id?: string
  readonly image?: string
  /** After `--`. */
  readonly command: ReadonlyArray<string>
  readonly env: ReadonlyArray<string>
  readonly metadata: ReadonlyArray<string>
  readonly labels: ReadonlyArray<string>
  readonly ports: ReadonlyArray<string>
  readonly volumes: ReadonlyArray<string>
  readonly addCapabilities: ReadonlyArray<string>
  readonly dropCapabilities: ReadonlyArray<string>
  readonly securityOpt: ReadonlyArray<string>
  readonly hostname?: string
  readonly token?: string
  readonly networkMode?: string
  readonly gracePeriod?: string
  readonly expires?: string
  readonly runtime?: string
  readonly httpCheck?: string
  readonly tcpCheck?: string
  readonly execCheck?: string
  /** The job's `livenessCheck` (beyond Helios): same forms as the health check flags. */
  readonly livenessHttpCheck?: string
  readonly livenessTcpCheck?: string
  readonly livenessExecCheck?: string
  readonly livenessInterval?: string
  readonly livenessFailureThreshold?: string
}

const wholeNumber = (flag: string, text: string): number => {
  if (!/^\d+$/.test(text)) throw new CliError(`--${flag}: expected a whole number, got '${text}'`)
  return Number(text)
}

/** `--liveness-*-check` (replaces the base's), then `--liveness-interval` and `--liveness-failure-threshold` on it. */
const mergeLivenessCheck = (base: unknown, f: CreateFlags): JsonObject | undefined => {
  const check = parseHealthCheck(f.livenessHttpCheck, f.livenessTcpCheck, f.livenessExecCheck, "liveness-", "liveness check")
  const options: JsonObject = {}
  if (f.livenessInterval !== undefined) options["intervalSeconds"] = wholeNumber("liveness-interval", f.livenessInterval)
  if (f.livenessFailureThreshold !== undefined)
    options["failureThreshold"] = wholeNumber("liveness-failure-threshold", f.livenessFailureThreshold)
  if (check === undefined && Object.keys(options).length === 0) return undefined
  const on = check ?? (isObject(base) ? base : undefined)
  if (on === undefined)
    throw new CliError("--liveness-interval and --liveness-failure-threshold need a liveness check (--liveness-http-check, --liveness-tcp-check or --liveness-exec-check)")
  return { ...on, ...options }
}

const isObject = (x: unknown): x is JsonObject => typeof x === "object" && x !== null && !Array.isArray(x)
const mapOf = (x: unknown): JsonObject => (isObject(x) ? x : {})
const listOf = (x: unknown): unknown[] => (Array.isArray(x) ? x : [])
const union = (a: unknown, b: ReadonlyArray<string>) => [...new Set([...listOf(a), ...b])]

/** `name:version` of an id that may carry a hash (a template's id: the config changes, so does the hash). */
export const withoutHash = (id: unknown): unknown =>
  typeof id === "string" ? id.split(":").slice(0, 2).join(":") : id

/**
 * Merges the flags over `base` (a job file or template, `{}` if none): scalar flags replace, map
 * flags (env, metadata, labels, ports, volumes) merge key by key with the flags winning, list
 * flags (capabilities) add. `GIT_COMMIT` from the environment becomes metadata (flags still win).
 */
export const mergeCreateFlags = (base: JsonObject, f: CreateFlags, env: Readonly<Record<string, string | undefined>>): JsonObject => {
  const job: JsonObject = { ...base }
  if (f.id !== undefined) job["id"] = f.id
  if (f.image !== undefined) job["image"] = f.image
  if (f.command.length > 0) job["command"] = [...f.command]
  if (f.env.length > 0) job["env"] = { ...mapOf(base["env"]), ...parsePairs(f.env, "environment variable") }
  const gitCommit = env["GIT_COMMIT"]
  if (f.metadata.length > 0 || gitCommit)
    job["metadata"] = { ...mapOf(base["metadata"]), ...(gitCommit ? { GIT_COMMIT: gitCommit } : {}), ...parsePairs(f.metadata, "metadata") }
  if (f.labels.length > 0) job["labels"] = { ...mapOf(base["labels"]), ...parsePairs(f.labels, "label") }
  if (f.ports.length > 0) job["ports"] = { ...mapOf(base["ports"]), ...parsePortFlags(f.ports) }
  if (f.volumes.length > 0) job["volumes"] = { ...mapOf(base["volumes"]), ...Object.fromEntries(f.volumes.map(parseVolumeFlag)) }
  if (f.addCapabilities.length > 0) job["addCapabilities"] = union(base["addCapabilities"], f.addCapabilities)
  if (f.dropCapabilities.length > 0) job["dropCapabilities"] = union(base["dropCapabilities"], f.dropCapabilities)
  if (f.securityOpt.length > 0) job["securityOpt"] = union(base["securityOpt"], f.securityOpt)
  if (f.hostname !== undefined) job["hostname"] = f.hostname
  if (f.token !== undefined) job["token"] = f.token
  if (f.networkMode !== undefined) job["networkMode"] = f.networkMode
  if (f.runtime !== undefined) job["runtime"] = f.runtime
  if (f.expires !== undefined) job["expires"] = f.expires
  if (f.gracePeriod !== undefined) {
    if (!/^\d+$/.test(f.gracePeriod)) throw new CliError(`--grace-period: expected whole seconds, got '${f.gracePeriod}'`)
    job["gracePeriod"] = Number(f.gracePeriod)
  }
  const healthCheck = parseHealthCheck(f.httpCheck, f.tcpCheck, f.execCheck)
  if (healthCheck !== undefined) job["healthCheck"] = healthCheck
  const livenessCheck = mergeLivenessCheck(base["livenessCheck"], f)
  if (livenessCheck !== undefined) job["livenessCheck"] = livenessCheck
  return job
}
