import type { ContainerPolicy } from "../core/container-policy.ts"
import os from "node:os"
import type { Registry } from "prom-client"
import type { ContainerRuntime } from "../core/container-runtime.ts"
import type { EventLog } from "../core/event-log.ts"
import type { EventEnvelope } from "../core/events.ts"
import type { HostInfoStore } from "../core/host-info.ts"
import type { AgentId, HostName } from "../core/ids.ts"
import type { ZkClient } from "../log/zk-client.ts"
import { meteredLog, observeZooKeeper } from "../log/log-metrics.ts"
import { containerSettings, parseHostName, portRangeOf, supervisorTuning } from "./agent-settings.ts"
import { systemClock, type Clock } from "./clock.ts"
import { startControlLoop, wireControlLoop } from "./control-loop.ts"
import type { DesiredState } from "../core/desired-state.ts"
import type { FlapConfig, RestartDelays } from "./flapping.ts"
import { startHostInfoRefresh } from "./host-info-refresh.ts"
import { defaultLogger, type Logger } from "./logger.ts"
import { AGENT_PREFIX, agentMetrics } from "./metrics.ts"
import type { PortProbe, PortRange } from "./ports.ts"
import type { Execution } from "./reconciler.ts"
import { Registration } from "./registration.ts"
import { openStateDir } from "./state-dir.ts"
import type { SupervisorTuning } from "./supervisor.ts"
import type { TaskStatus } from "./task-reporter.ts"
import { followZkSession } from "./zk-session.ts"

/*
 * The agent, wired together (README, "The agent"): the control loop from the host stream to the
 * containers and back to the log as facts (control-loop.ts), registration (registration.ts, again
 * after every ZooKeeper reconnect: zk-session.ts) and the host info refresh (host-info-refresh.ts).
 * The embedder owns the log, the host info store, the runtime and the ZooKeeper client; stop()
 * leaves containers running.
 */

/** How long registration waits for the host info to be written before it marks the host up anyway. */
const HOST_INFO_BEFORE_UP_MS = 5_000

export interface AgentOptions {
  readonly log: EventLog
  readonly hostInfo: HostInfoStore
  readonly runtime: ContainerRuntime
  /** Default: os.hostname(). */
  readonly hostName?: string
  readonly stateDir: string
  /** Pin the agent id (otherwise 20 random bytes, persisted in the state dir). */
  readonly agentId?: string
  /** With ZooKeeper: reconnects and session expiries re-mark the host up (HostWentUp). */
  readonly zk?: ZkClient
  /** For logs only: the chroot the log and host info live under. */
  readonly zkRoot?: string
  /** Dynamic ports come from here. Default 20000:32768 (end exclusive). */
  readonly portRange?: PortRange | string
  /** Published ports listen here unless the job names an ip. Default 0.0.0.0. */
  readonly bindAddress?: string
  /** Host in HELIOS_PORT_<name>=<host>:<port>. Default: the host name. */
  readonly advertisedHost?: string
  /** Agent labels (host selectors), written with the host info. */
  readonly labels?: Readonly<Record<string, string>>
  /** Agent env: given to every container (the job's env wins) and written with the host info. */
  readonly env?: Readonly<Record<string, string>>
  /** Extra Docker labels on every container this agent creates (e.g. a test run's label). */
  readonly containerLabels?: Readonly<Record<string, string>>
  /** DNS servers for every container (Helios's `--dns`). */
  readonly dns?: ReadonlyArray<string>
  /** `name:ip` lines for every container's /etc/hosts (Helios's `--add-host`). */
  readonly extraHosts?: ReadonlyArray<string>
  /** `/host:/container[:ro|rw]` mounts for every container (Helios's `--bind`). */
  readonly extraBinds?: ReadonlyArray<string>
  /** What a job may ask of this host (bind mounts, Docker socket, confinement, host network, runtimes, capabilities); default: nothing beyond Docker's defaults. */
  readonly containerPolicy?: Partial<ContainerPolicy>
  /** Periodic reconcile. Default 30 s. */
  readonly reconcileIntervalMs?: number
  /** Host info refresh. Default 60 s. */
  readonly hostInfoIntervalMs?: number
  /** How long a host held by another agent id must have been silent before we take it over. Default 10 min. */
  readonly registrationTtlMs?: number
  /** Bounds of the queue of facts not yet in the log (default 100,000 events, 64 MiB); see agent/outbox.ts. */
  readonly outbox?: { readonly maxEvents?: number; readonly maxBytes?: number }
  /** How long start-up waits to catch up with the host stream before acting on the saved state. Default 3 s. */
  readonly startupCatchUpMs?: number
  readonly restartDelays?: Partial<RestartDelays>
  readonly flapping?: Partial<FlapConfig>
  readonly tuning?: Partial<Omit<SupervisorTuning, "restartDelays" | "flapping">>
  /** Whether a port can be bound (default: a real bind probe on the bind address). */
  readonly portProbe?: PortProbe
  readonly clock?: Clock
  readonly logger?: Logger
  /**
   * Where this agent's metrics go (`helios_agent_*`: agent/metrics.ts): reconcile passes, Docker
   * calls, appends and ZooKeeper round trips, tasks by state. Absent: nothing is measured.
   */
  readonly metrics?: Registry
}

export interface Agent {
  readonly agentId: AgentId
  readonly hostName: HostName
  /** Resolves once the host is registered to this agent and marked up. */
  readonly registered: Promise<void>
  /** The fold of the host stream as the agent sees it now. */
  desired(): DesiredState
  /** Per job: goal, allocated ports, container. */
  executions(): ReadonlyMap<string, Execution>
  /** The last status reported per job. */
  statuses(): ReadonlyMap<string, TaskStatus>
  /** Transitions waiting to be appended (e.g. while ZooKeeper is away). */
  pendingEvents(): ReadonlyArray<EventEnvelope>
  /** Runs a reconcile pass now; resolves when it is done. */
  reconcile(): Promise<void>
  /** Resolves when every queued transition is in the log. */
  flushed(): Promise<void>
  /** What the outbox did so far: appends tried, failed, retries scheduled, landed checks. */
  outboxCounts(): { readonly appends: number; readonly failedAppends: number; readonly retries: number; readonly landedChecks: number }
  /** Graceful stop: stops supervising and reporting; containers keep running. */
  stop(): Promise<void>
}

export const startAgent = async (o: AgentOptions): Promise<Agent> => {
  const hostName = parseHostName(o.hostName ?? os.hostname())
  const stateDir = openStateDir(o.stateDir, o.agentId)
  const agentId = stateDir.agentId as AgentId
  const clock = o.clock ?? systemClock
  const logger = o.logger ?? defaultLogger({ host: hostName })
  const startTime = clock.now()
  const bindAddress = o.bindAddress ?? "0.0.0.0"
  const portRange = portRangeOf(o)
  // Undo steps of what started, run newest first by stop() or a failed start.
  const undo: Array<() => void> = []
  let registration: Registration | undefined
  const metrics = o.metrics ? agentMetrics(o.metrics, hostName) : undefined
  const runtime = metrics ? metrics.meterRuntime(o.runtime) : o.runtime
  const log = o.metrics ? meteredLog(o.log, o.metrics, AGENT_PREFIX) : o.log
  if (o.metrics && o.zk) undo.push(observeZooKeeper(o.zk, o.metrics, AGENT_PREFIX))

  try {
    const loop = wireControlLoop({
      log,
      runtime,
      stateDir,
      agentId,
      hostName,
      settings: containerSettings(o, agentId, hostName, bindAddress),
      tuning: supervisorTuning(o),
      portRange,
      portProbe: o.portProbe,
      outbox: o.outbox,
      clock,
      logger,
      onReconciled: metrics?.reconciled,
    })
    metrics?.observe({ tasks: () => loop.reporter.all().values(), pendingFacts: () => loop.outbox.pending().length })
    await startControlLoop(loop, {
      runtime,
      agentId,
      hostName,
      startupCatchUpMs: o.startupCatchUpMs ?? 3_000,
      reconcileIntervalMs: o.reconcileIntervalMs ?? 30_000,
      logger,
      stateDir: o.stateDir,
      onStop: (step) => undo.push(step),
    })

    const hostInfo = startHostInfoRefresh({
      store: o.hostInfo,
      runtime,
      hostName,
      agentId,
      startTime,
      labels: o.labels ?? {},
      environment: o.env ?? {},
      intervalMs: o.hostInfoIntervalMs ?? 60_000,
      clock,
      logger,
    })
    undo.push(() => hostInfo.stop())

    const reg = new Registration({
      log,
      hostInfo: o.hostInfo,
      follower: loop.follower,
      hostName,
      agentId,
      ttlMs: o.registrationTtlMs ?? 10 * 60_000,
      clock,
      logger,
      // Bounded: a Docker that does not answer delays the host's UP by this much, never blocks it.
      beforeUp: () => Promise.race([hostInfo.refresh(), new Promise<void>((resolve) => setTimeout(resolve, HOST_INFO_BEFORE_UP_MS).unref())]),
      onRegistered: () => loop.outbox.setEnabled(true),
    })
    registration = reg
    void reg.register()
    if (o.zk !== undefined)
      undo.push(
        followZkSession(o.zk, o.zkRoot, logger, () => {
          void reg.register()
          loop.outbox.kick()
        }),
      )

    logger.log("info", "agent started", { agentId, stateDir: o.stateDir, bindAddress, portRange })

    let stopped = false
    const stop = async () => {
      if (stopped) return
      stopped = true
      const registrationOver = reg.stop()
      for (const step of undo.reverse()) step()
      await loop.reconciler.close()
      await loop.outbox.close()
      await registrationOver
      await o.hostInfo.markDown(hostName).catch(() => undefined)
      stateDir.release()
      logger.log("info", "agent stopped")
    }

    return {
      agentId,
      hostName,
      registered: reg.registered,
      desired: () => loop.follower.state,
      executions: () => loop.reconciler.snapshot(),
      statuses: () => loop.reporter.all(),
      pendingEvents: () => loop.outbox.pending(),
      reconcile: () => loop.reconciler.nextPass(),
      flushed: () => loop.outbox.drained(),
      outboxCounts: () => ({ ...loop.outbox.counts }),
      stop,
    }
  } catch (e) {
    void registration?.stop()
    for (const step of undo.reverse()) step()
    stateDir.release()
    throw e
  }
}
