import type { ContainerPolicy } from "../core/container-policy.ts"
import type { EventLog } from "../core/event-log.ts"
import type { HostLabels } from "../core/commands.ts"
import type { HostName } from "../core/ids.ts"
import type { Principals } from "./auth.ts"
import type { BrowserGuardOptions } from "./browser-guard.ts"
import type { CommandBus } from "./command-bus.ts"
import type { Checkpoints } from "./checkpoints.ts"
import type { LiveProjection } from "./live-projection.ts"
import type { MasterMetrics } from "./metrics.ts"
import type { LogOutage } from "./log-reachability.ts"
import type { HostDetails } from "./responses.ts"
import type { StatusWarmer } from "./status-warmer.ts"

/** What the HTTP layer needs from a running master; wired in master/master.ts. */
export interface MasterDeps {
  readonly name: string
  readonly version: string
  readonly log: EventLog
  readonly projection: LiveProjection
  /** Checkpoints for temporal queries (`/state?at=`). */
  readonly checkpoints: Checkpoints
  readonly bus: CommandBus
  readonly now: () => number
  /** Names of the masters that are up. */
  readonly masters: () => Promise<ReadonlyArray<string>>
  /** Latest-value facts an agent reported about its host (not events). */
  readonly hostDetails: (host: HostName) => Promise<HostDetails | undefined>
  /** What a job may ask of its hosts (bind mounts, Docker socket, confinement, host network, runtimes, capabilities). */
  readonly containerPolicy: ContainerPolicy
  /** Who may do what (master/auth.ts); absent: the API is open, as Helios's was. */
  readonly principals?: Principals
  /** CORS allow-list, Host names, bind address (master/browser-guard.ts). */
  readonly browser: BrowserGuardOptions
  /** Labels of the registered hosts (host facts): what deployment-group selectors match; each at most `maxAgeMs` old (default: read now). */
  readonly hostLabels: (maxAgeMs?: number) => Promise<HostLabels>
  /** Prometheus metrics: the API middleware and GET /metrics. */
  readonly metrics: MasterMetrics
  /** The log (ZooKeeper) unreachable for longer than a short grace; undefined while it is reached. */
  readonly logOutage: () => LogOutage | undefined
  /** Agents' relayed appends waiting for the log at once before the relay answers 503 OVERLOADED (master/routes/agent-facts.ts). */
  readonly relayMaxInFlight?: number
  /** Awaited before a relayed append starts (master/loop-lag.ts: held while the event loop runs late). */
  readonly beforeWrite?: () => Promise<void>
  /** Large answers this size or more are gzip-compressed for a client that accepts it (master/large-answer.ts; Infinity: never). */
  readonly compressFromBytes?: number
  /** Keeps the statuses of polled jobs rendered and compressed between polls (master/status-warmer.ts); absent: answers build them when asked. */
  readonly statusWarmer?: StatusWarmer
}
