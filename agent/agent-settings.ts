import { Result } from "effect"
import { decodeInput, formatFieldErrors } from "../core/decode.ts"
import { HostName, type AgentId } from "../core/ids.ts"
import type { AgentOptions } from "./agent.ts"
import type { ContainerSettings } from "./container-spec.ts"
import { DEFAULT_CONTAINER_POLICY } from "../core/container-policy.ts"
import { DEFAULT_FLAP_CONFIG, DEFAULT_RESTART_DELAYS } from "./flapping.ts"
import { DEFAULT_HEALTH_TIMEOUTS, type HealthTimeouts } from "./health.ts"
import { DEFAULT_PORT_RANGE, parsePortRange, type PortRange } from "./ports.ts"
import type { SupervisorTuning } from "./supervisor.ts"

// The agent's options with their defaults filled in.

const DEFAULT_TUNING: Omit<SupervisorTuning, "restartDelays" | "flapping"> = {
  pullTimeoutMs: 10 * 60_000,
  monitorIntervalMs: 5_000,
  healthCheckInitialBackoffMs: 1_000,
  healthCheckMaxBackoffMs: 30_000,
  healthTimeouts: DEFAULT_HEALTH_TIMEOUTS as HealthTimeouts,
  defaultStopTimeoutSeconds: 120,
}

export const parseHostName = (name: string): HostName => {
  const r = decodeInput(HostName, name)
  if (Result.isFailure(r)) throw new Error(`invalid host name "${name}": ${formatFieldErrors(r.failure)}`)
  return r.success
}

export const portRangeOf = (o: Pick<AgentOptions, "portRange">): PortRange =>
  typeof o.portRange === "string" ? parsePortRange(o.portRange) : (o.portRange ?? DEFAULT_PORT_RANGE)

export const supervisorTuning = (o: Pick<AgentOptions, "tuning" | "restartDelays" | "flapping">): SupervisorTuning => ({
  ...DEFAULT_TUNING,
  ...o.tuning,
  restartDelays: { ...DEFAULT_RESTART_DELAYS, ...o.restartDelays },
  flapping: { ...DEFAULT_FLAP_CONFIG, ...o.flapping },
})

/** What every container this agent creates gets from the agent. */
export const containerSettings = (
  o: AgentOptions,
  agentId: AgentId,
  hostName: HostName,
  bindAddress: string,
): ContainerSettings => ({
  agentId,
  host: hostName,
  advertisedHost: o.advertisedHost ?? hostName,
  bindAddress,
  agentEnv: o.env ?? {},
  extraLabels: o.containerLabels ?? {},
  dns: o.dns ?? [],
  extraHosts: o.extraHosts ?? [],
  extraBinds: o.extraBinds ?? [],
  policy: { ...DEFAULT_CONTAINER_POLICY, ...o.containerPolicy },
})
