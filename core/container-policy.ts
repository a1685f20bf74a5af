import type { FieldError } from "./decode.ts"
import type { Job } from "./job.ts"

/*
 * What a job may ask of the host it runs on. A job that bind-mounts `/` or the Docker socket, runs
 * unconfined or in the host's network namespace is root on every host it is deployed to, so each of
 * these needs an operator's explicit permission, given as a flag of the master (checked when the job
 * is created: 400 naming the field and the flag) and of the agent (checked again before a container
 * is created, so an event written by other means cannot bypass it). Pure: the same function serves
 * both.
 */

export interface ContainerPolicy {
  /** Host paths (prefixes, absolute) a job may bind-mount: `--allow-bind-mount PREFIX`. None by default. */
  readonly allowedBindMounts: ReadonlyArray<string>
  /** The Docker socket (or a directory holding it, such as `/` or `/var/run`): `--allow-docker-socket`. */
  readonly allowDockerSocket: boolean
  /** `securityOpt` values that may turn confinement off (`seccomp=unconfined`, a custom profile...): `--allow-unconfined`. */
  readonly allowUnconfined: boolean
  /** `networkMode` `host` and `container:<id>`: `--allow-host-network`. */
  readonly allowHostNetwork: boolean
  /** Container runtimes other than Docker's default (`runc`): `--allow-runtime NAME`. */
  readonly allowedRuntimes: ReadonlyArray<string>
  /** Capabilities a job may add: Helios's `--whitelisted-capability CAP`. None by default. */
  readonly whitelistedCapabilities: ReadonlyArray<string>
}

/** Nothing beyond Docker's defaults: what a master or agent allows unless told otherwise. */
export const DEFAULT_CONTAINER_POLICY: ContainerPolicy = {
  allowedBindMounts: [],
  allowDockerSocket: false,
  allowUnconfined: false,
  allowHostNetwork: false,
  allowedRuntimes: [],
  whitelistedCapabilities: [],
}

/** Where Docker engines listen: a bind mount of these, or of a directory above them, hands out the engine. */
const DOCKER_SOCKETS = ["/var/run/docker.sock", "/run/docker.sock", "/var/run/docker", "/run/docker"]

/** `/a/./b/../c//` → `/a/c` (lexically; `..` above the root stays at the root). */
export const normalizeHostPath = (path: string): string => {
  const parts: string[] = []
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") parts.pop()
    else parts.push(part)
  }
  return "/" + parts.join("/")
}

/** Whether `path` is `prefix` or lies under it (both normalized). */
const isUnder = (path: string, prefix: string): boolean => prefix === "/" || path === prefix || path.startsWith(prefix + "/")

const isDockerSocket = (path: string): boolean => path.endsWith("/docker.sock") || DOCKER_SOCKETS.includes(path)
const exposesDockerSocket = (path: string): boolean =>
  path.endsWith("/docker.sock") || DOCKER_SOCKETS.some((socket) => isUnder(socket, path))

/**
 * Whether a `securityOpt` value may loosen a confinement Docker applies by default. Only values
 * known to keep it are taken without `--allow-unconfined`: a custom seccomp profile
 * (`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}` or a file) or AppArmor profile can allow as much as
 * `unconfined`, and so can an SELinux type (`label=type:spc_t`); an option this list does not know
 * is refused too.
 */
const mayLoosenConfinement = (opt: string): boolean => {
  const m = /^\s*([a-z-]+)\s*(?:[=:]\s*(.*?))?\s*$/i.exec(opt)
  if (!m) return true
  const [key, value] = [m[1]!.toLowerCase(), (m[2] ?? "").toLowerCase()]
  switch (key) {
    case "no-new-privileges":
      return !["", "true", "false"].includes(value)
    case "seccomp":
      return value !== "builtin"
    case "apparmor":
      return value !== "docker-default"
    case "label": // SELinux: the level, user and role within the container's type are fine; the type and `disable` are not
      return !/^(level|user|role):/.test(value)
    default:
      return true
  }
}

/** Docker's capability names are accepted with or without `CAP_`, in any case. */
const capabilityName = (cap: string) => cap.toUpperCase().replace(/^CAP_/, "")

/** What in `job` the policy does not allow; empty when it may run. Each error names the field and the flag that would allow it. */
export const containerPolicyViolations = (job: Job, policy: ContainerPolicy): FieldError[] => {
  const errors: FieldError[] = []
  const allowedPrefixes = policy.allowedBindMounts.map(normalizeHostPath)
  for (const [target, source] of Object.entries(job.volumes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!source.startsWith("/")) continue // an anonymous ("") or named volume: Docker's, not the host's files
    const path = normalizeHostPath(source)
    const field = `volumes.${target}`
    if (exposesDockerSocket(path) && !policy.allowDockerSocket)
      errors.push({ field, message: `bind-mounting ${source} exposes the Docker socket, i.e. root on the host (allow with --allow-docker-socket)` })
    // --allow-docker-socket is enough for the socket itself; a directory holding it needs its prefix allowed too.
    else if (!(policy.allowDockerSocket && isDockerSocket(path)) && !allowedPrefixes.some((prefix) => isUnder(path, prefix)))
      errors.push({ field, message: `bind-mounting the host path ${source} is not allowed (allow a prefix with --allow-bind-mount ${path})` })
  }
  ;(job.securityOpt ?? []).forEach((opt, i) => {
    if (mayLoosenConfinement(opt) && !policy.allowUnconfined)
      errors.push({ field: `securityOpt.${i}`, message: `${opt} may turn off the container's confinement (allow with --allow-unconfined)` })
  })
  const network = job.networkMode ?? ""
  if ((network === "host" || network.startsWith("container:")) && !policy.allowHostNetwork)
    errors.push({ field: "networkMode", message: `${network} shares another network namespace (allow with --allow-host-network)` })
  const runtime = job.runtime ?? ""
  if (runtime !== "" && runtime !== "runc" && !policy.allowedRuntimes.includes(runtime))
    errors.push({ field: "runtime", message: `the runtime ${runtime} is not allowed (allow with --allow-runtime ${runtime})` })
  const whitelisted = new Set(policy.whitelistedCapabilities.map(capabilityName))
  const notAllowed = (job.addCapabilities ?? []).filter((cap) => !whitelisted.has(capabilityName(cap)))
  if (notAllowed.length > 0)
    errors.push({ field: "addCapabilities", message: `not whitelisted: ${notAllowed.join(", ")} (allow with --whitelisted-capability ${notAllowed[0]})` })
  return errors
}

/** The policy flags as given on a command line (master, agent, solo). */
export interface ContainerPolicyFlags {
  readonly "allow-bind-mount"?: ReadonlyArray<string>
  readonly "allow-docker-socket"?: boolean
  readonly "allow-unconfined"?: boolean
  readonly "allow-host-network"?: boolean
  readonly "allow-runtime"?: ReadonlyArray<string>
  readonly "whitelisted-capability"?: ReadonlyArray<string>
}

/** A policy from its flags; an Error naming the flag when a value is not acceptable. */
export const containerPolicyFromFlags = (f: ContainerPolicyFlags): ContainerPolicy | Error => {
  const prefixes = f["allow-bind-mount"] ?? []
  const relative = prefixes.find((p) => !p.startsWith("/"))
  if (relative !== undefined) return new Error(`--allow-bind-mount: expected an absolute host path, got ${JSON.stringify(relative)}`)
  return {
    allowedBindMounts: prefixes.map(normalizeHostPath),
    allowDockerSocket: f["allow-docker-socket"] ?? false,
    allowUnconfined: f["allow-unconfined"] ?? false,
    allowHostNetwork: f["allow-host-network"] ?? false,
    allowedRuntimes: [...(f["allow-runtime"] ?? [])],
    whitelistedCapabilities: [...(f["whitelisted-capability"] ?? [])],
  }
}

/** node:util parseArgs options of the policy flags. */
export const CONTAINER_POLICY_OPTIONS = {
  "allow-bind-mount": { type: "string", multiple: true },
  "allow-docker-socket": { type: "boolean" },
  "allow-unconfined": { type: "boolean" },
  "allow-host-network": { type: "boolean" },
  "allow-runtime": { type: "string", multiple: true },
} as const
