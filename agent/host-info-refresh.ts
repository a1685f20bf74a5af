import type { ContainerRuntime } from "../core/container-runtime.ts"
import type { HostInfoStore } from "../core/host-info.ts"
import type { AgentId, HostName } from "../core/ids.ts"
import type { Clock } from "./clock.ts"
import { collectHostInfo } from "./host-info.ts"
import { errorText, type Logger } from "./logger.ts"

export interface HostInfoRefreshOptions {
  readonly store: HostInfoStore
  readonly runtime: ContainerRuntime
  readonly hostName: HostName
  readonly agentId: AgentId
  /** When the agent started (reported as its start time). */
  readonly startTime: number
  readonly labels: Readonly<Record<string, string>>
  readonly environment: Readonly<Record<string, string>>
  readonly intervalMs: number
  readonly clock: Clock
  readonly logger: Logger
}

export interface HostInfoRefresh {
  /** Writes the host info now (a failure is only logged: the next refresh tries again). */
  refresh(): Promise<void>
  stop(): void
}

/** Keeps the host info (OS, Docker, labels, env) fresh in the store: every interval and on demand. */
export const startHostInfoRefresh = (o: HostInfoRefreshOptions): HostInfoRefresh => {
  const refresh = async () => {
    try {
      const info = await collectHostInfo({
        runtime: o.runtime,
        agentId: o.agentId,
        startTime: o.startTime,
        now: o.clock.now(),
        labels: o.labels,
        environment: o.environment,
      })
      await o.store.put(o.hostName, info)
    } catch (e) {
      o.logger.log("debug", "host info not written", { error: errorText(e) })
    }
  }
  const timer = setInterval(() => void refresh(), o.intervalMs)
  timer.unref()
  return { refresh, stop: () => clearInterval(timer) }
}
