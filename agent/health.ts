import { connect } from "node:net"
import type { ContainerInfo, ContainerRuntime } from "../core/container-runtime.ts"
import {
  DEFAULT_LIVENESS_FAILURE_THRESHOLD,
  DEFAULT_LIVENESS_INTERVAL_SECONDS,
  type HealthCheck,
  type LivenessCheck,
  type PortMapping,
} from "../core/job.ts"
import { errorText } from "./logger.ts"

/*
 * Helios's health checks: HTTP (2xx/3xx passes, 500 ms to connect, 10 s in all), TCP (connects
 * within 500 ms) and exec (`docker exec`, exit 0 passes).
 *
 * TCP probes go to the container's own address (bridge network) because a connect to a published
 * port always succeeds at Docker's userland proxy even when nothing listens inside; HTTP probes
 * go through the published port, like Helios (the proxy then resets the connection).
 */

export interface HealthTarget {
  readonly runtime: ContainerRuntime
  readonly container: ContainerInfo
  /** Resolved port mappings (external ports filled in). */
  readonly ports: Readonly<Record<string, PortMapping>>
  /** The agent's default bind address for published ports. */
  readonly bindAddress: string
}

export interface HealthResult {
  readonly healthy: boolean
  readonly reason?: string
}

export interface HealthTimeouts {
  readonly connectMs: number
  readonly totalMs: number
}

export const DEFAULT_HEALTH_TIMEOUTS: HealthTimeouts = { connectMs: 500, totalMs: 10_000 }

/** 0.0.0.0 / :: mean "every address": probe the loopback one. */
const reachable = (address: string): string => (address === "0.0.0.0" || address === "" ? "127.0.0.1" : address === "::" ? "::1" : address)

const hostPart = (address: string): string => (address.includes(":") ? `[${address}]` : address)

/** Where a named port can be reached from the agent: through the published port, or directly. */
export const endpointOf = (
  target: HealthTarget,
  portName: string,
  direct: boolean,
): { host: string; port: number } | undefined => {
  const p = target.ports[portName]
  if (p === undefined) return undefined
  if (target.container.networkMode === "host") return { host: "127.0.0.1", port: p.internalPort }
  if (direct && target.container.ipAddress) return { host: target.container.ipAddress, port: p.internalPort }
  if (p.externalPort === undefined) return undefined
  return { host: reachable(p.ip ?? target.bindAddress), port: p.externalPort }
}

const tcpConnect = (host: string, port: number, timeoutMs: number): Promise<HealthResult> =>
  new Promise((resolve) => {
    const socket = connect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ healthy: false, reason: `tcp ${host}:${port}: no connection within ${timeoutMs} ms` })
    }, timeoutMs)
    socket.once("connect", () => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ healthy: true })
    })
    socket.once("error", (e) => {
      clearTimeout(timer)
      resolve({ healthy: false, reason: `tcp ${host}:${port}: ${e.message}` })
    })
  })

export const checkHealth = async (
  check: HealthCheck,
  target: HealthTarget,
  timeouts: HealthTimeouts = DEFAULT_HEALTH_TIMEOUTS,
): Promise<HealthResult> => {
  switch (check.type) {
    case "tcp": {
      const ep = endpointOf(target, check.port, true)
      if (ep === undefined) return { healthy: false, reason: `tcp: port ${check.port} is not mapped` }
      return tcpConnect(ep.host, ep.port, timeouts.connectMs)
    }
    case "http": {
      const ep = endpointOf(target, check.port, false)
      if (ep === undefined) return { healthy: false, reason: `http: port ${check.port} is not mapped` }
      // Connect first within the connect timeout, then the request within the total one.
      const connected = await tcpConnect(ep.host, ep.port, timeouts.connectMs)
      if (!connected.healthy) return connected
      const url = `http://${hostPart(ep.host)}:${ep.port}${check.path}`
      try {
        const res = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(timeouts.totalMs) })
        await res.body?.cancel()
        return res.status >= 200 && res.status < 400 ? { healthy: true } : { healthy: false, reason: `GET ${url}: HTTP ${res.status}` }
      } catch (e) {
        return { healthy: false, reason: `GET ${url}: ${errorText((e as { cause?: unknown }).cause ?? e)}` }
      }
    }
    case "exec": {
      try {
        const r = await target.runtime.exec(target.container.id, check.command, timeouts.totalMs)
        return r.exitCode === 0 ? { healthy: true } : { healthy: false, reason: `exec ${check.command.join(" ")}: exit ${r.exitCode}` }
      } catch (e) {
        return { healthy: false, reason: `exec ${check.command.join(" ")}: ${errorText(e)}` }
      }
    }
  }
}

/**
 * The bookkeeping of a liveness check (the job's `livenessCheck`, beyond Helios): when the next
 * check is due, and the consecutive failures so far. `record` answers the reason to restart once
 * they reach the threshold.
 */
export class LivenessProbe {
  private readonly intervalMs: number
  private readonly threshold: number
  failures = 0
  nextAt: number

  constructor(check: LivenessCheck, startedAt: number) {
    this.intervalMs = (check.intervalSeconds ?? DEFAULT_LIVENESS_INTERVAL_SECONDS) * 1000
    this.threshold = check.failureThreshold ?? DEFAULT_LIVENESS_FAILURE_THRESHOLD
    this.nextAt = startedAt + this.intervalMs
  }

  due(now: number): boolean {
    return now >= this.nextAt
  }

  /** Counts one check's result; the restart reason once `failureThreshold` checks in a row failed. */
  record(result: HealthResult, now: number): string | undefined {
    this.nextAt = now + this.intervalMs
    if (result.healthy) {
      this.failures = 0
      return undefined
    }
    this.failures++
    if (this.failures < this.threshold) return undefined
    const times = this.failures === 1 ? "once" : `${this.failures} times in a row`
    return `liveness check failed ${times}, container restarted: ${result.reason ?? "unhealthy"}`
  }
}
