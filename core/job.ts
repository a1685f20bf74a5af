import { isIP } from "node:net"
import { Result, Schema } from "effect"
import { hasLoneSurrogate } from "./canonical-json.ts"
import { decodeInput, type FieldError } from "./decode.ts"
import { PROTO_KEY_MESSAGE, SafeRecord } from "./safe-text.ts"
import { computeJobHash, formatJobId, JobId, JobIdInput, parseJobId, type JobDraft } from "./job-id.ts"

export {
  JOB_HASH_PATTERN,
  JOB_NAME_PATTERN,
  JOB_VERSION_PATTERN,
  JobId,
  JobIdInput,
  JobName,
  JobVersion,
} from "./job-id.ts"

/*
 * A Helios job as it travels over HTTP/JSON, with Helios's field names (reference §2, Job.java,
 * JobValidator.java). Two schemas:
 *
 * - `JobInput`: what a client may send. The id may lack its hash, `null` stands for "absent" (Java
 *   Helios writes nulls), `expires` is any ISO-8601 date or epoch milliseconds, a port's protocol
 *   may be left out. Use `decodeJob`, which also runs the cross-field rules and fills in the hash.
 * - `Job`: a decoded job (what the log stores and the API returns): full id, no nulls, `expires`
 *   in the form Java Helios writes (`2030-01-31T12:00:00.000+0000`), every port's protocol set,
 *   registration keys `service/protocol`. It checks fields and rejects `__proto__` map keys (the
 *   msgpack codec mangles them) but not cross-field rules, so stored jobs always replay.
 *
 * Optional fields are absent, never undefined. Empty values (`command: []`, `env: {}`, "") are
 * kept as given; they hash exactly like absent ones, as in Helios.
 */

// ---------------------------------------------------------------------------------------------
// Field schemas

// Helios would hash one, but UTF-8 (msgpack, HTTP) cannot carry it: the stored job would change.
const SURROGATE_MESSAGE = "contains an unpaired UTF-16 surrogate, which cannot be encoded as UTF-8"

const INT32_MAX = 2 ** 31 - 1

const intIn = (min: number, max: number) =>
  Schema.Number.check(
    Schema.makeFilter((n: number) =>
      Object.is(n, -0)
        ? "Expected an integer, not -0 (it cannot be stored exactly)"
        : (Number.isInteger(n) && n >= min && n <= max) || `Expected an integer from ${min} to ${max}`,
    ),
  )

const stringWhere = (test: (s: string) => boolean, message: string) =>
  Schema.String.check(Schema.makeFilter((s: string) => test(s) || message))

/** A TCP/UDP port number, 0-65535 (Helios's legalPort). */
const PortNumber = intIn(0, 65535)
/** A Java Integer that must not be negative (seconds). */
const Seconds = intIn(0, INT32_MAX)
/** A Java Long as JSON can carry it exactly. */
const longFrom = (min: number) => intIn(min, Number.MAX_SAFE_INTEGER)

export const Protocol = Schema.Literals(["tcp", "udp"])
export type Protocol = typeof Protocol.Type

/** A host bind address: an IPv4 or IPv6 literal (Helios: Guava InetAddresses.isInetAddress). */
export const IpAddress = stringWhere(
  (s) => isIP(s) !== 0 && !s.includes("%"),
  "Expected an IPv4 or IPv6 address, e.g. 0.0.0.0 or 127.0.0.1",
)

export const JOB_HOSTNAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/
/** A container hostname: `[a-z0-9][a-z0-9-]{0,62}`, or "" for Docker's default. */
export const Hostname = stringWhere(
  (s) => s === "" || JOB_HOSTNAME_PATTERN.test(s),
  "Invalid hostname: only [a-z0-9][a-z0-9-] are allowed, size between 1 and 63",
)

/** `bridge`, `host` or `container:<name|id>`. */
export const NetworkMode = stringWhere(
  (s) => s === "bridge" || s === "host" || /^container:.+$/s.test(s),
  "A Docker container's network mode must be bridge, host, or container:<name|id>",
)

export const Image = Schema.String.check(
  Schema.makeFilter((s: string) => {
    const problems = imageReferenceProblems(s)
    return problems.length === 0 ? undefined : problems
  }),
)

const NonEmptyString = stringWhere((s) => s.length > 0, "Expected a non-empty string")
const Capabilities = Schema.Array(NonEmptyString).check(Schema.isMaxLength(64))

const CPUSET_PATTERN = /^(?:\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)?$/
const Cpuset = stringWhere((s) => CPUSET_PATTERN.test(s), 'Expected a cpuset like "0-3,5"')

// expires: Helios writes dates as Jackson's ISO-8601 with a numeric zone, always in UTC.
const JACKSON_DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})\+0000$/
const MAX_EXPIRES_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
const EXPIRES_MESSAGE =
  "Expected an ISO-8601 date between 1970 and 9999 (e.g. 2030-01-31T12:00:00Z) or epoch milliseconds"

/** A canonical `expires`: `yyyy-MM-ddTHH:mm:ss.SSS+0000`, as Java Helios writes it. */
export const Expires = stringWhere((s) => JACKSON_DATE.test(s) && parseExpiresMs(s) !== undefined, EXPIRES_MESSAGE)
const ExpiresInput = Schema.Union([Schema.String, Schema.Number]).check(
  Schema.makeFilter((v: string | number) => parseExpiresMs(v) !== undefined || EXPIRES_MESSAGE),
)

// ---------------------------------------------------------------------------------------------
// Composite schemas

/** How a container port is exposed. No externalPort: the agent picks a free one. */
export const PortMapping = Schema.Struct({
  internalPort: PortNumber,
  externalPort: Schema.optionalKey(PortNumber),
  protocol: Protocol,
  ip: Schema.optionalKey(IpAddress),
})
export type PortMapping = typeof PortMapping.Type
const PortMappingInput = Schema.Struct({
  internalPort: PortNumber,
  externalPort: Schema.optionalKey(Schema.NullOr(PortNumber)),
  protocol: Schema.optionalKey(Schema.NullOr(Protocol)),
  ip: Schema.optionalKey(Schema.NullOr(IpAddress)),
})

/** Tags handed to the registrar for one port of a service registration. */
export const ServicePortParameters = Schema.Struct({ tags: Schema.optionalKey(Schema.Array(Schema.String)) })
export type ServicePortParameters = typeof ServicePortParameters.Type
const ServicePortParametersInput = Schema.Struct({
  tags: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.String))),
})

/** The ports (names from `ports`) a service registration announces. */
export const ServicePorts = Schema.Struct({ ports: SafeRecord(ServicePortParameters) })
export type ServicePorts = typeof ServicePorts.Type
const ServicePortsInput = Schema.Struct({ ports: SafeRecord(ServicePortParametersInput) })

const HealthCheckPort = stringWhere((s) => s.length > 0, "A port must be defined for HTTP and TCP health checks")
export const HttpHealthCheck = Schema.Struct({
  type: Schema.Literal("http"),
  port: HealthCheckPort,
  path: stringWhere((s) => s.startsWith("/"), "The path for an HTTP health check must begin with '/'"),
})
export const TcpHealthCheck = Schema.Struct({ type: Schema.Literal("tcp"), port: HealthCheckPort })
export const ExecHealthCheck = Schema.Struct({
  type: Schema.Literal("exec"),
  command: Schema.Array(Schema.String).check(
    Schema.makeFilter(
      (c: ReadonlyArray<string>) => c.length > 0 || "A command must be defined for `docker exec`-based health checks",
    ),
  ),
})
/** `{type: "http", port, path}` | `{type: "tcp", port}` | `{type: "exec", command: [...]}`; port names a port. */
export const HealthCheck = Schema.Union([HttpHealthCheck, TcpHealthCheck, ExecHealthCheck]).annotate({
  expected: 'a health check {"type":"http","port","path"} | {"type":"tcp","port"} | {"type":"exec","command":[...]}',
})
export type HealthCheck = typeof HealthCheck.Type

/*
 * Beyond Helios (its issue #414): a health check that keeps running once the task is RUNNING. The
 * same three kinds as `healthCheck`, plus how often it runs and after how many consecutive failures
 * the agent restarts the container (the task becomes FAILED with the reason, then starts again).
 */
export const DEFAULT_LIVENESS_INTERVAL_SECONDS = 10
export const DEFAULT_LIVENESS_FAILURE_THRESHOLD = 3
const LivenessOptions = {
  /** Seconds between checks. Default 10. */
  intervalSeconds: Schema.optionalKey(intIn(1, 86_400)),
  /** Consecutive failures that restart the container. Default 3. */
  failureThreshold: Schema.optionalKey(intIn(1, 1_000)),
}
/** `healthCheck`'s shape plus optional `intervalSeconds` and `failureThreshold`. */
export const LivenessCheck = Schema.Union([
  Schema.Struct({ ...HttpHealthCheck.fields, ...LivenessOptions }),
  Schema.Struct({ ...TcpHealthCheck.fields, ...LivenessOptions }),
  Schema.Struct({ ...ExecHealthCheck.fields, ...LivenessOptions }),
]).annotate({
  expected:
    'a liveness check {"type":"http","port","path"} | {"type":"tcp","port"} | {"type":"exec","command":[...]}, each with optional "intervalSeconds" and "failureThreshold"',
})
export type LivenessCheck = typeof LivenessCheck.Type

/** Docker resource limits (passed through, not scheduled). memorySwap -1 means unlimited swap. */
export const Resources = Schema.Struct({
  memory: Schema.optionalKey(longFrom(0)),
  memorySwap: Schema.optionalKey(longFrom(-1)),
  cpuShares: Schema.optionalKey(longFrom(0)),
  cpuset: Schema.optionalKey(Cpuset),
})
export type Resources = typeof Resources.Type
const ResourcesInput = Schema.Struct({
  memory: Schema.optionalKey(Schema.NullOr(longFrom(0))),
  memorySwap: Schema.optionalKey(Schema.NullOr(longFrom(-1))),
  cpuShares: Schema.optionalKey(Schema.NullOr(longFrom(0))),
  cpuset: Schema.optionalKey(Schema.NullOr(Cpuset)),
})

/** Job-level defaults for rolling updates (timeout in seconds). */
export const RolloutOptions = Schema.Struct({
  timeout: Schema.optionalKey(longFrom(1)),
  parallelism: Schema.optionalKey(intIn(1, INT32_MAX)),
  migrate: Schema.optionalKey(Schema.Boolean),
  overlap: Schema.optionalKey(Schema.Boolean),
  token: Schema.optionalKey(Schema.String),
  ignoreFailures: Schema.optionalKey(Schema.Boolean),
})
export type RolloutOptions = typeof RolloutOptions.Type
const RolloutOptionsInput = Schema.Struct({
  timeout: Schema.optionalKey(Schema.NullOr(longFrom(1))),
  parallelism: Schema.optionalKey(Schema.NullOr(intIn(1, INT32_MAX))),
  migrate: Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
  overlap: Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
  token: Schema.optionalKey(Schema.NullOr(Schema.String)),
  ignoreFailures: Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
})

const StringMap = SafeRecord(Schema.String)
const Strings = Schema.Array(Schema.String)

/** A decoded job: see the comment at the top of this file. */
export const Job = Schema.Struct({
  id: JobId,
  image: Image,
  hostname: Schema.optionalKey(Hostname),
  command: Schema.optionalKey(Strings),
  env: Schema.optionalKey(StringMap),
  resources: Schema.optionalKey(Resources),
  ports: Schema.optionalKey(SafeRecord(PortMapping)),
  registration: Schema.optionalKey(SafeRecord(ServicePorts)),
  registrationDomain: Schema.optionalKey(Schema.String),
  gracePeriod: Schema.optionalKey(Seconds),
  secondsToWaitBeforeKill: Schema.optionalKey(Seconds),
  volumes: Schema.optionalKey(StringMap),
  ramdisks: Schema.optionalKey(StringMap),
  expires: Schema.optionalKey(Expires),
  healthCheck: Schema.optionalKey(HealthCheck),
  livenessCheck: Schema.optionalKey(LivenessCheck),
  securityOpt: Schema.optionalKey(Strings),
  networkMode: Schema.optionalKey(NetworkMode),
  addCapabilities: Schema.optionalKey(Capabilities),
  dropCapabilities: Schema.optionalKey(Capabilities),
  labels: Schema.optionalKey(StringMap),
  metadata: Schema.optionalKey(StringMap),
  token: Schema.optionalKey(Schema.String),
  rolloutOptions: Schema.optionalKey(RolloutOptions),
  runtime: Schema.optionalKey(Schema.String),
  created: Schema.optionalKey(longFrom(0)),
  creatingUser: Schema.optionalKey(Schema.String),
})
export type Job = typeof Job.Type

const nullable = <S extends Schema.Constraint>(s: S) => Schema.optionalKey(Schema.NullOr(s))

/** The job a client submits (HTTP body, job file): see the comment at the top of this file. */
export const JobInput = Schema.Struct({
  id: JobIdInput,
  image: Image,
  hostname: nullable(Hostname),
  command: nullable(Strings),
  env: nullable(StringMap),
  resources: nullable(ResourcesInput),
  ports: nullable(SafeRecord(PortMappingInput)),
  registration: nullable(SafeRecord(ServicePortsInput)),
  registrationDomain: nullable(Schema.String),
  gracePeriod: nullable(Seconds),
  secondsToWaitBeforeKill: nullable(Seconds),
  volumes: nullable(StringMap),
  ramdisks: nullable(StringMap),
  expires: nullable(ExpiresInput),
  healthCheck: nullable(HealthCheck),
  livenessCheck: nullable(LivenessCheck),
  securityOpt: nullable(Strings),
  networkMode: nullable(NetworkMode),
  addCapabilities: nullable(Capabilities),
  dropCapabilities: nullable(Capabilities),
  labels: nullable(StringMap),
  metadata: nullable(StringMap),
  token: nullable(Schema.String),
  rolloutOptions: nullable(RolloutOptionsInput),
  runtime: nullable(Schema.String),
  created: nullable(longFrom(0)),
  creatingUser: nullable(Schema.String),
})
/** The JSON shape of a submitted job. */
export type JobInput = typeof JobInput.Encoded

// ---------------------------------------------------------------------------------------------
// Docker image references (JobValidator.validateImageReference)

const NAME_COMPONENT = /^[a-z0-9._-]+$/
const REPO_NAME_MAX_LENGTH = 255
const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
const IPV4_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
const DOMAIN_PATTERN =
  /^(?:(?:[a-zA-Z0-9]|(?:[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))(\.(?:[a-zA-Z0-9]|(?:[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])))*)\.?$/
const DIGIT_PERIOD = /^[0-9.]+$/
const INVALID_REPO = 'Invalid repository name (ex: "registry.domain.tld/myrepos")'

/** Java's `s.split(sep, limit)` for limit > 0: at most `limit` parts, trailing empty parts kept. */
const javaSplit = (s: string, sep: string, limit: number): string[] => {
  const parts: string[] = []
  let rest = s
  while (parts.length < limit - 1) {
    const i = rest.indexOf(sep)
    if (i < 0) break
    parts.push(rest.slice(0, i))
    rest = rest.slice(i + sep.length)
  }
  parts.push(rest)
  return parts
}

const repositoryNameProblem = (imageName: string, repositoryName: string): string | undefined => {
  // Stricter than Java's split("/"), which ignores trailing empty components ("repo/").
  for (const component of repositoryName.split("/")) {
    if (!NAME_COMPONENT.test(component))
      return `Invalid image name (${imageName}), only ^([a-z0-9._-]+)$ is allowed for each slash-separated name component (failed on "${component}")`
  }
  if (repositoryName.length > REPO_NAME_MAX_LENGTH)
    return `Invalid image name (${imageName}), repository name cannot be larger than ${REPO_NAME_MAX_LENGTH} characters`
  return undefined
}

const endpointProblem = (endpoint: string): string | undefined => {
  const [address = "", port] = javaSplit(endpoint, ":", 2)
  if (!IPV4_PATTERN.test(address) && (!DOMAIN_PATTERN.test(address) || DIGIT_PERIOD.test(address)))
    return `Invalid domain name: "${address}"`
  if (port !== undefined) {
    // Integer.valueOf: optional sign, decimal digits, within a Java int.
    const n = /^[+-]?\d+$/.test(port) ? Number(port) : Number.NaN
    if (!(n >= -(2 ** 31) && n <= INT32_MAX) || n < 0 || n > 65535) return `Invalid port in endpoint: "${endpoint}"`
  }
  return undefined
}

/**
 * Helios's Docker image reference rules: `[registry[:port]/]name[/name...][:tag][@digest]`, lower-case
 * name components `[a-z0-9._-]+`, repository at most 255 characters, tag `[\w][\w.-]{0,127}`,
 * digest `algorithm:hex`, no URL scheme. Returns every problem found (empty when valid).
 */
export const imageReferenceProblems = (imageRef: string): ReadonlyArray<string> => {
  if (imageRef === "") return ["Image was not specified"]
  const problems: string[] = []
  const add = (p: string | undefined) => {
    if (p !== undefined) problems.push(p)
  }
  let rest = imageRef
  const at = imageRef.lastIndexOf("@")
  if (at !== -1) {
    const digest = imageRef.slice(at + 1)
    rest = imageRef.slice(0, at)
    const first = digest.indexOf(":")
    if (digest === "") add("Digest cannot be empty")
    else if (first <= 0 || first !== digest.lastIndexOf(":") || first === digest.length - 1)
      add(`Illegal digest: "${digest}"`)
  }
  let repo = rest
  const colon = rest.lastIndexOf(":")
  if (colon !== -1 && !rest.slice(colon + 1).includes("/")) {
    const tag = rest.slice(colon + 1)
    repo = rest.slice(0, colon)
    if (tag === "") add("Tag cannot be empty")
    else if (!TAG_PATTERN.test(tag)) add(`Illegal tag: "${tag}", must match [\\w][\\w.-]{0,127}`)
  }
  if (repo.includes("://")) return [...problems, INVALID_REPO]
  const [first = "", remainder] = javaSplit(repo, "/", 2)
  if (!first.includes(".") && !first.includes(":") && first !== "localhost") {
    // A Docker Hub repository (ubuntu, samalba/hipache).
    add(repositoryNameProblem(imageRef, repo))
    return problems
  }
  if (remainder === undefined) return [...problems, INVALID_REPO]
  add(endpointProblem(first))
  add(repositoryNameProblem(imageRef, remainder))
  return problems
}

// ---------------------------------------------------------------------------------------------
// expires

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/

/**
 * Epoch milliseconds of an `expires` value as Jackson reads it: epoch milliseconds, or ISO-8601
 * `yyyy-MM-dd[THH:mm[:ss[.fraction]][Z|±hh[[:]mm]]]` (no zone means UTC; digits past milliseconds
 * are dropped). Undefined when malformed, not a real calendar date, or outside 1970-9999.
 */
export const parseExpiresMs = (value: string | number): number | undefined => {
  let ms: number
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || Object.is(value, -0)) return undefined
    ms = value
  } else {
    const m = ISO_DATE.exec(value)
    if (m === null) return undefined
    const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone = "Z"] = m
    const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [
      number, number, number, number, number, number,
    ]
    if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined
    const local = Date.UTC(year, month - 1, day, hour, minute, second, Number(frac.padEnd(3, "0").slice(0, 3)))
    if (new Date(local).getUTCDate() !== day) return undefined // e.g. February 30
    let offsetMinutes = 0
    if (zone !== "Z") {
      const zh = Number(zone.slice(1, 3))
      const zm = zone.length > 3 ? Number(zone.slice(-2)) : 0
      if (zh > 23 || zm > 59) return undefined
      offsetMinutes = (zone.startsWith("-") ? -1 : 1) * (zh * 60 + zm)
    }
    ms = local - offsetMinutes * 60_000
  }
  return ms >= 0 && ms <= MAX_EXPIRES_MS ? ms : undefined
}

const pad = (n: number, width: number) => String(n).padStart(width, "0")

/** Jackson's rendering of a java.util.Date (UTC): `yyyy-MM-ddTHH:mm:ss.SSS+0000`. */
export const formatExpires = (ms: number): string => {
  const d = new Date(ms)
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}` +
    `.${pad(d.getUTCMilliseconds(), 3)}+0000`
  )
}

/** When the job expires, in epoch milliseconds; undefined if it never does. */
export const expiresAtMs = (job: Job): number | undefined =>
  job.expires === undefined ? undefined : parseExpiresMs(job.expires)

/**
 * True when the job's expiry lies before `nowMs`. The master refuses to create such a job
 * ("Job expires in the past") and undeploys and removes a stored one.
 */
export const isExpired = (job: Job, nowMs: number): boolean => {
  const at = expiresAtMs(job)
  return at !== undefined && at < nowMs
}

// ---------------------------------------------------------------------------------------------
// Cross-field rules

type Loose = { readonly [key: string]: unknown }
const isObject = (x: unknown): x is Loose => typeof x === "object" && x !== null && !Array.isArray(x)
const entriesOf = (x: unknown): ReadonlyArray<readonly [string, unknown]> => (isObject(x) ? Object.entries(x) : [])
const problem = (path: ReadonlyArray<string>, message: string): FieldError => ({ field: path.join("."), message })

// Java's \S and \w are ASCII-only.
const PORT_NAME_PATTERN = /^[^ \t\n\x0B\f\r]+$/
const REGISTRATION_NAME_PATTERN = /^[A-Za-z0-9_-]+$/
const VOLUME_OPTIONS = new Set([
  "ro", "rw", "z", "Z", "nocopy", "shared", "rshared", "slave", "rslave", "private", "rprivate",
  "consistent", "cached", "delegated",
])

const volumeProblem = (path: string, source: unknown): string | undefined => {
  if (!path.startsWith("/")) return `Volume path is not absolute: ${path}`
  if (typeof source === "string" && source.includes("/") && !source.startsWith("/"))
    return `Volume source is not absolute: ${source}`
  const parts = javaSplit(path, ":", 3)
  if (parts.length > 2 || parts[0] === "/" || (parts.length === 2 && parts[1] === ""))
    return `Invalid volume path: ${path}`
  const mode = parts[1]
  if (mode !== undefined) {
    const options = mode.split(",")
    if (!options.every((o) => VOLUME_OPTIONS.has(o)) || (options.includes("ro") && options.includes("rw")))
      return `Invalid volume mode "${mode}" in ${path}: expected ro or rw (optionally with Docker's z, Z, nocopy, ... options, comma separated)`
  }
  return undefined
}

const MAX_WALK_DEPTH = 32

// __proto__ keys and unpaired surrogates, anywhere in the input.
const walkProblems = (value: unknown, path: string[], out: FieldError[]): void => {
  if (typeof value === "string") {
    if (hasLoneSurrogate(value)) out.push(problem(path, SURROGATE_MESSAGE))
    return
  }
  if (path.length >= MAX_WALK_DEPTH || typeof value !== "object" || value === null) return
  for (const [k, v] of Object.entries(value)) {
    const at = [...path, k]
    if (k === "__proto__") out.push(problem(at, PROTO_KEY_MESSAGE))
    if (hasLoneSurrogate(k)) out.push(problem(at, `key ${SURROGATE_MESSAGE}`))
    walkProblems(v, at, out)
  }
}

/**
 * The rules that span fields (JobValidator): port names, duplicate external ports (per protocol),
 * grace period vs. static external ports, service registrations and the ports they name, volume
 * paths and sources, ramdisk mount points, the health check's port; plus `__proto__` keys and
 * unpaired surrogates anywhere. Works on any input shape, skipping whatever is not well-typed
 * (the schema reports that), so `decodeJob` can report these next to the schema's problems.
 */
const crossFieldProblems = (input: unknown): FieldError[] => {
  const out: FieldError[] = []
  if (!isObject(input)) return out
  walkProblems(input, [], out)

  const ports = entriesOf(input.ports)
  const portNames = new Set(ports.map(([name]) => name))
  const externalPortOwners = new Map<string, string>()
  const staticPorts: string[] = []
  for (const [name, mapping] of ports) {
    if (!PORT_NAME_PATTERN.test(name))
      out.push(problem(["ports", name], `Invalid port mapping endpoint name: "${name}" (must be non-blank, without whitespace)`))
    if (!isObject(mapping) || typeof mapping.externalPort !== "number") continue
    staticPorts.push(name)
    const protocol = mapping.protocol === "udp" ? "udp" : "tcp"
    const key = `${mapping.externalPort}/${protocol}`
    const owner = externalPortOwners.get(key)
    if (owner === undefined) externalPortOwners.set(key, name)
    else out.push(problem(["ports", name, "externalPort"], `Duplicate external port mapping: ${key} (also used by port '${owner}')`))
  }

  if (typeof input.gracePeriod === "number" && input.gracePeriod > 0 && staticPorts.length > 0)
    out.push(
      problem(
        ["gracePeriod"],
        `Job has both grace period and static/external ports (${staticPorts.join(", ")}). External ports will ` +
          "prevent new containers from deploying during the gracePeriod because of port conflicts. " +
          "Please choose one or the other.",
      ),
    )

  const endpoints = new Map<string, string>()
  for (const [key, servicePorts] of entriesOf(input.registration)) {
    const parts = key.split("/")
    const [service = "", protocol = "http"] = parts
    const endpoint = `${service}/${protocol}`
    if (parts.length > 2) {
      out.push(problem(["registration", key], `Invalid service registration "${key}": expected service or service/protocol`))
      continue
    }
    if (!REGISTRATION_NAME_PATTERN.test(service))
      out.push(problem(["registration", key], `Invalid service registration name: "${service}" (only [_-a-zA-Z0-9] allowed)`))
    if (!REGISTRATION_NAME_PATTERN.test(protocol))
      out.push(problem(["registration", key], `Invalid service registration protocol: "${protocol}" (only [_-a-zA-Z0-9] allowed)`))
    const other = endpoints.get(endpoint)
    if (other !== undefined)
      out.push(problem(["registration", key], `Duplicate service registration ${endpoint} (also given as "${other}")`))
    else endpoints.set(endpoint, key)
    if (!isObject(servicePorts)) continue
    for (const [portName] of entriesOf(servicePorts.ports))
      if (!portNames.has(portName))
        out.push(
          problem(
            ["registration", key, "ports", portName],
            `Service registration refers to missing port mapping: ${endpoint}=${portName}`,
          ),
        )
  }

  const volumeMountPoints = new Set<string>()
  for (const [path, source] of entriesOf(input.volumes)) {
    volumeMountPoints.add(javaSplit(path, ":", 2)[0] ?? path)
    const p = volumeProblem(path, source)
    if (p !== undefined) out.push(problem(["volumes", path], p))
  }
  for (const [mountPoint] of entriesOf(input.ramdisks)) {
    const p = !mountPoint.startsWith("/")
      ? `Ramdisk mount point is not absolute: ${mountPoint}`
      : mountPoint === "/"
        ? "Ramdisk mount point must not be /"
        : volumeMountPoints.has(mountPoint)
          ? `Ramdisk mount point used by volume: ${mountPoint}`
          : undefined
    if (p !== undefined) out.push(problem(["ramdisks", mountPoint], p))
  }

  for (const [field, what] of [["healthCheck", "Health check"], ["livenessCheck", "Liveness check"]] as const) {
    const hc = input[field]
    if (isObject(hc) && (hc.type === "http" || hc.type === "tcp") && typeof hc.port === "string" && hc.port !== "")
      if (!portNames.has(hc.port))
        out.push(
          problem(
            [field, "port"],
            `${what} port '${hc.port}' not defined in the job. Known ports are '${[...portNames].join(", ")}'`,
          ),
        )
  }
  return out
}

/**
 * The cross-field rules a decoded job must also satisfy (decodeJob runs them). `expires` in the past
 * is not checked here: that needs a clock (see isExpired).
 */
export const validateJob = (job: Job): ReadonlyArray<FieldError> => crossFieldProblems(job)

// ---------------------------------------------------------------------------------------------
// decodeJob

export interface DecodeJobOptions {
  /** Reject an id whose hash differs from the computed one ("Id hash mismatch"). Default true. */
  readonly verifyHash?: boolean
}

type DecodedInput = typeof JobInput.Type

const withoutNulls = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutNulls)
  if (!isObject(value)) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (v === null) continue
    Object.defineProperty(out, k, { value: withoutNulls(v), enumerable: true, writable: true, configurable: true })
  }
  return out
}

const unique = (xs: ReadonlyArray<string>): ReadonlyArray<string> => [...new Set(xs)]

/** The submitted job in decoded form, id not yet hashed. */
const normalize = (input: DecodedInput): JobDraft => {
  const job = withoutNulls(input) as Record<string, unknown> & {
    ports?: Record<string, { protocol?: Protocol }>
    registration?: Record<string, unknown>
    expires?: string | number
    addCapabilities?: ReadonlyArray<string>
    dropCapabilities?: ReadonlyArray<string>
  }
  if (job.ports !== undefined)
    job.ports = Object.fromEntries(
      Object.entries(job.ports).map(([name, p]) => [name, { ...p, protocol: p.protocol ?? "tcp" }]),
    )
  if (job.registration !== undefined)
    job.registration = Object.fromEntries(
      Object.entries(job.registration).map(([k, v]) => [k.includes("/") ? k : `${k}/http`, v]),
    )
  if (job.expires !== undefined) job.expires = formatExpires(parseExpiresMs(job.expires) ?? 0)
  if (job.addCapabilities !== undefined) job.addCapabilities = unique(job.addCapabilities)
  if (job.dropCapabilities !== undefined) job.dropCapabilities = unique(job.dropCapabilities)
  return job as unknown as JobDraft
}

const dedupe = (errors: ReadonlyArray<FieldError>): ReadonlyArray<FieldError> => {
  const seen = new Set<string>()
  return errors.filter((e) => {
    const key = `${e.field}\u0000${e.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * Decodes a job from outside (HTTP body, job file, CLI) and runs every rule, reporting every
 * problem with its field path. On success the job has its full id: the hash is computed when the
 * id had none, and checked against the given one otherwise ("Id hash mismatch", on field `id`).
 */
export const decodeJob = (input: unknown, options: DecodeJobOptions = {}): Result.Result<Job, ReadonlyArray<FieldError>> => {
  const decoded = decodeInput(JobInput, input)
  const problems = [...(Result.isFailure(decoded) ? decoded.failure : []), ...crossFieldProblems(input)]
  if (Result.isFailure(decoded) || problems.length > 0) return Result.fail(dedupe(problems))

  const draft = normalize(decoded.success)
  const id = parseJobId(draft.id)
  if (id === undefined) return Result.fail([{ field: "id", message: "Expected a job id name:version[:hash]" }])
  const hash = computeJobHash(draft)
  if (id.hash !== undefined && id.hash !== hash && options.verifyHash !== false)
    return Result.fail([{ field: "id", message: `Id hash mismatch: ${id.hash} != ${hash}` }])
  const job = { ...draft, id: formatJobId({ name: id.name, version: id.version, hash: id.hash ?? hash }) }
  // The decoded form must satisfy the stored-job schema (a failure here is a bug in normalize).
  return decodeInput(Job, job)
}
