import { randomBytes } from "node:crypto"
import type { ContainerSpec, PortBinding } from "../core/container-runtime.ts"
import { shortJobId } from "../core/job-id.ts"
import type { Job, PortMapping } from "../core/job.ts"
import type { ContainerPolicy } from "../core/container-policy.ts"

/*
 * From a job (plus this agent's settings and the allocated ports) to a container spec. Pure except
 * for the random suffix of the container name, which callers may pass in.
 */

/** Docker labels that mark a container as this agent's (the agent's "namespace"). */
export const LABEL_AGENT = "helios.agent"
export const LABEL_HOST = "helios.host"
export const LABEL_JOB = "helios.job"

export const namespaceLabels = (agentId: string, host: string): Record<string, string> => ({
  [LABEL_AGENT]: agentId,
  [LABEL_HOST]: host,
})

/** How many characters of the agent id go into container names. */
export const AGENT_ID_PREFIX_LENGTH = 12

/** `helios-<agent id prefix>-` : every container of this agent is named with it. */
export const containerNamePrefix = (agentId: string): string => `helios-${agentId.slice(0, AGENT_ID_PREFIX_LENGTH)}-`

/** Helios's naming: `helios-<agent>-<short job id, [^A-Za-z0-9_-] → _>_<random hex>`. */
export const containerName = (agentId: string, jobId: string, suffix: string = randomBytes(4).toString("hex")): string =>
  `${containerNamePrefix(agentId)}${shortJobId(jobId).replace(/[^A-Za-z0-9_-]/g, "_")}_${suffix}`

/** The env var carrying where a port is reachable: HELIOS_PORT_<name>=<host>:<externalPort>. */
export const portEnvName = (portName: string): string => `HELIOS_PORT_${portName}`

export interface ContainerSettings {
  readonly agentId: string
  readonly host: string
  /** Host address used in HELIOS_PORT_* (Helios: the agent's host name). */
  readonly advertisedHost: string
  /** Where published ports listen unless the job's port names an ip. */
  readonly bindAddress: string
  /** Agent-wide env (`--env`); the job's env wins. */
  readonly agentEnv: Readonly<Record<string, string>>
  /** Extra Docker labels on every container (e.g. for test cleanup). The agent's own labels win. */
  readonly extraLabels: Readonly<Record<string, string>>
  /** Agent-wide decorations of every container (Helios's `--dns`, `--add-host`, `--bind`). */
  readonly dns?: ReadonlyArray<string>
  readonly extraHosts?: ReadonlyArray<string>
  readonly extraBinds?: ReadonlyArray<string>
  /** What a job may ask of this host (core/container-policy.ts); checked before a container is created; absent: the default (nothing beyond Docker's defaults). */
  readonly policy?: ContainerPolicy
}

/** Port name → the mapping with its external port filled in from the allocation. */
export const resolvedPorts = (
  job: Job,
  allocated: Readonly<Record<string, number>>,
): Record<string, PortMapping> => {
  const out: Record<string, PortMapping> = {}
  for (const [name, p] of Object.entries(job.ports ?? {})) {
    const external = p.externalPort ?? allocated[name]
    out[name] = external === undefined ? p : { ...p, externalPort: external }
  }
  return out
}

/** The env the container gets: agent env, then the job's, then HELIOS_PORT_*. */
export const containerEnv = (job: Job, ports: Readonly<Record<string, PortMapping>>, s: ContainerSettings): Record<string, string> => {
  const env: Record<string, string> = { ...s.agentEnv, ...(job.env ?? {}) }
  for (const [name, p] of Object.entries(ports))
    if (p.externalPort !== undefined) env[portEnvName(name)] = `${s.advertisedHost}:${p.externalPort}`
  return env
}

/** Splits Helios's `volumes` map ("containerPath[:ro|rw]" → "" | host path | named volume). */
export const volumesOf = (job: Job): { binds: string[]; anonymous: string[] } => {
  const binds: string[] = []
  const anonymous: string[] = []
  for (const [key, source] of Object.entries(job.volumes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const m = /^(.*?)(?::(ro|rw))?$/.exec(key)!
    const path = m[1]!
    const mode = m[2]
    if (source === "") anonymous.push(path)
    else binds.push(mode === undefined ? `${source}:${path}` : `${source}:${path}:${mode}`)
  }
  return { binds, anonymous }
}

export const buildContainerSpec = (
  job: Job,
  allocated: Readonly<Record<string, number>>,
  s: ContainerSettings,
  nameSuffix?: string,
): ContainerSpec => {
  const ports = resolvedPorts(job, allocated)
  const bindings: PortBinding[] = []
  if (job.networkMode !== "host")
    for (const name of Object.keys(ports).sort()) {
      const p = ports[name]!
      if (p.externalPort === undefined) continue
      bindings.push({
        containerPort: p.internalPort,
        protocol: p.protocol ?? "tcp",
        hostIp: p.ip ?? s.bindAddress,
        hostPort: p.externalPort,
      })
    }
  const { binds, anonymous } = volumesOf(job)
  const r = job.resources
  return {
    name: containerName(s.agentId, job.id, nameSuffix),
    image: job.image,
    command: job.command ?? [],
    env: containerEnv(job, ports, s),
    labels: { ...s.extraLabels, ...(job.labels ?? {}), ...namespaceLabels(s.agentId, s.host), [LABEL_JOB]: job.id },
    ...(job.hostname !== undefined && job.hostname !== "" ? { hostname: job.hostname } : {}),
    ports: bindings,
    binds: [...binds, ...(s.extraBinds ?? [])],
    anonymousVolumes: anonymous,
    tmpfs: { ...(job.ramdisks ?? {}) },
    ...(job.networkMode !== undefined ? { networkMode: job.networkMode } : {}),
    capAdd: [...(job.addCapabilities ?? [])],
    capDrop: [...(job.dropCapabilities ?? [])],
    securityOpt: [...(job.securityOpt ?? [])],
    ...(r?.memory !== undefined ? { memory: r.memory } : {}),
    ...(r?.memorySwap !== undefined ? { memorySwap: r.memorySwap } : {}),
    ...(r?.cpuShares !== undefined ? { cpuShares: r.cpuShares } : {}),
    ...(r?.cpuset !== undefined && r.cpuset !== "" ? { cpuset: r.cpuset } : {}),
    ...(job.runtime !== undefined && job.runtime !== "" ? { runtime: job.runtime } : {}),
    ...(s.dns !== undefined && s.dns.length > 0 ? { dns: [...s.dns] } : {}),
    ...(s.extraHosts !== undefined && s.extraHosts.length > 0 ? { extraHosts: [...s.extraHosts] } : {}),
    init: true,
  }
}
