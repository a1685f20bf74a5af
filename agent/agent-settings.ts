import { Result, Schema, SchemaTransformation } from "effect"
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

// The outbox's bounds (agent/outbox.ts): --outbox-max-events N, --outbox-max-bytes SIZE.

const UNITS: Record<string, number> = { "": 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 }

/** The smallest byte bound: room for a few hundred facts, so a typo (`64` for `64MiB`) is refused. */
export const MIN_OUTBOX_MAX_BYTES = 64 * 1024

const OutboxMaxEvents = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[1-9]\d*$/, { message: "expected a whole number of events, at least 1" })),
  Schema.decodeTo(
    Schema.Number.pipe(Schema.check(Schema.isLessThanOrEqualTo(Number.MAX_SAFE_INTEGER, { message: `expected at most ${Number.MAX_SAFE_INTEGER} events` }))),
    SchemaTransformation.numberFromString,
  ),
)

const OutboxMaxBytes = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^\d+\s*(?:[kmg](?:ib)?)?$/i, { message: "expected a size in bytes: a whole number, optionally with KiB, MiB or GiB (e.g. 64MiB)" })),
  Schema.decodeTo(
    Schema.Number.pipe(
      Schema.check(
        Schema.isGreaterThanOrEqualTo(MIN_OUTBOX_MAX_BYTES, { message: `expected at least ${MIN_OUTBOX_MAX_BYTES} bytes (64KiB)` }),
        Schema.isLessThanOrEqualTo(Number.MAX_SAFE_INTEGER, { message: `expected at most ${Number.MAX_SAFE_INTEGER} bytes` }),
      ),
    ),
    SchemaTransformation.transform({
      decode: (text: string) => {
        const [, digits, unit] = /^(\d+)\s*([a-z]*)$/i.exec(text)!
        return Number(digits) * UNITS[unit!.toLowerCase()]!
      },
      encode: (bytes: number) => String(bytes),
    }),
  ),
)

const OutboxFlags = Schema.Struct({
  "--outbox-max-events": Schema.optionalKey(OutboxMaxEvents),
  "--outbox-max-bytes": Schema.optionalKey(OutboxMaxBytes),
})

export interface OutboxBounds {
  readonly maxEvents?: number
  readonly maxBytes?: number
}

/** Decodes `--outbox-max-events` and `--outbox-max-bytes` (absent: the outbox's defaults); the error names each bad flag. */
export const decodeOutboxFlags = (flags: { readonly maxEvents?: string | undefined; readonly maxBytes?: string | undefined }): Result.Result<OutboxBounds, string> => {
  const input: Record<string, string> = {}
  if (flags.maxEvents !== undefined) input["--outbox-max-events"] = flags.maxEvents
  if (flags.maxBytes !== undefined) input["--outbox-max-bytes"] = flags.maxBytes
  const r = decodeInput(OutboxFlags, input)
  if (Result.isFailure(r)) return Result.fail(formatFieldErrors(r.failure))
  const events = r.success["--outbox-max-events"]
  const bytes = r.success["--outbox-max-bytes"]
  return Result.succeed({ ...(events !== undefined ? { maxEvents: events } : {}), ...(bytes !== undefined ? { maxBytes: bytes } : {}) })
}
