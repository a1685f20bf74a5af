import { Result } from "effect"
import { hasLoneSurrogate } from "./canonical-json.ts"
import type { FieldError } from "./decode.ts"
import { javaSplit } from "./java-split.ts"
import { isExpired } from "./job-expiry.ts"
import { computeJobHash, parseJobId } from "./job-id.ts"
import type { Job } from "./job.ts"
import { PROTO_KEY_MESSAGE } from "./safe-text.ts"

/*
 * The rules a job must satisfy beyond the schema of each field: those that span fields
 * (Helios's JobValidator), and what creating a job requires (hash, expiry).
 */

type Loose = { readonly [key: string]: unknown }
const isObject = (x: unknown): x is Loose => typeof x === "object" && x !== null && !Array.isArray(x)
const entriesOf = (x: unknown): ReadonlyArray<readonly [string, unknown]> => (isObject(x) ? Object.entries(x) : [])
const problem = (path: ReadonlyArray<string>, message: string): FieldError => ({ field: path.join("."), message })

// Helios would hash one, but UTF-8 (msgpack, HTTP) cannot carry it: the stored job would change.
const SURROGATE_MESSAGE = "contains an unpaired UTF-16 surrogate, which cannot be encoded as UTF-8"

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
export const crossFieldProblems = (input: unknown): FieldError[] => {
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

/**
 * What creating a job requires beyond a well-formed job: the id's hash is the one Helios computes,
 * it has not expired yet, and every cross-field rule holds. (decodeJob checks the same for HTTP
 * input; decide checks again so no path can store a job that breaks them.)
 */
export const checkNewJob = (job: Job, now: number): Result.Result<Job, ReadonlyArray<FieldError>> => {
  const problems: FieldError[] = [...validateJob(job)]
  const hash = computeJobHash(job)
  const given = parseJobId(job.id)?.hash
  if (given !== hash) problems.push({ field: "id", message: `Id hash mismatch: ${given ?? "(none)"} != ${hash}` })
  if (isExpired(job, now)) problems.push({ field: "expires", message: `Job expires in the past: ${job.expires}` })
  return problems.length > 0 ? Result.fail(problems) : Result.succeed(job)
}
