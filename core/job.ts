import { Result, Schema } from "effect"
import { decodeInput, type FieldError } from "./decode.ts"
import { Expires, ExpiresInput, formatExpires, parseExpiresMs } from "./job-expiry.ts"
import {
  Capabilities,
  Cpuset,
  Hostname,
  Image,
  INT32_MAX,
  intIn,
  IpAddress,
  longFrom,
  NetworkMode,
  PortNumber,
  Protocol,
  Seconds,
  StringMap,
  stringWhere,
  Strings,
} from "./job-fields.ts"
import { computeJobHash, formatJobId, JobId, JobIdInput, parseJobId, type JobDraft } from "./job-id.ts"
import { crossFieldProblems } from "./job-rules.ts"
import { SafeRecord } from "./safe-text.ts"

/*
 * A Helios job as it travels over HTTP/JSON, with Helios's field names (Job.java, JobValidator.java). Two schemas:
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
 *
 * The schemas of single fields are in job-fields.ts (image references: image-reference.ts, expiry:
 * job-expiry.ts), the cross-field rules in job-rules.ts.
 */

// JobId travels with Job: most modules that name one name the other.
export { JobId } from "./job-id.ts"

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
/** Rollout options as Helios writes them (absent options as null). */
export const RolloutOptionsInput = Schema.Struct({
  timeout: Schema.optionalKey(Schema.NullOr(longFrom(1))),
  parallelism: Schema.optionalKey(Schema.NullOr(intIn(1, INT32_MAX))),
  migrate: Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
  overlap: Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
  token: Schema.optionalKey(Schema.NullOr(Schema.String)),
  ignoreFailures: Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
})


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
// decodeJob

export interface DecodeJobOptions {
  /** Reject an id whose hash differs from the computed one ("Id hash mismatch"). Default true. */
  readonly verifyHash?: boolean
}

type DecodedInput = typeof JobInput.Type

const isObject = (x: unknown): x is { readonly [key: string]: unknown } =>
  typeof x === "object" && x !== null && !Array.isArray(x)

export const withoutNulls = (value: unknown): unknown => {
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
