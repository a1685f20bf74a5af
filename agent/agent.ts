import os from "node:os"
import { Result } from "effect"
import type { ContainerRuntime, Unwatch } from "../core/container-runtime.ts"
import { decodeInput, formatFieldErrors } from "../core/decode.ts"
import { AppendConflict, type EventLog } from "../core/event-log.ts"
import { hostStream, type DomainEvent, type EventEnvelope } from "../core/events.ts"
import { HostHeldByAnotherAgent, type HostInfoStore } from "../core/host-info.ts"
import { HostName, type AgentId } from "../core/ids.ts"
import type { ZkClient } from "../log/zk-client.ts"
import { sleep, systemClock, type Clock } from "./clock.ts"
import { namespaceLabels, type ContainerSettings } from "./container-spec.ts"
import { hostStreamVersion, type DesiredState } from "./desired-state.ts"
import { DEFAULT_FLAP_CONFIG, DEFAULT_RESTART_DELAYS, type FlapConfig, type RestartDelays } from "./flapping.ts"
import { DEFAULT_HEALTH_TIMEOUTS, type HealthTimeouts } from "./health.ts"
import { collectHostInfo } from "./host-info.ts"
import { HostStreamFollower } from "./host-stream.ts"
import { defaultLogger, errorText, type Logger } from "./logger.ts"
import { Outbox } from "./outbox.ts"
import { canBind, DEFAULT_PORT_RANGE, parsePortRange, PortAllocator, type PortProbe, type PortRange } from "./ports.ts"
import { Reconciler, type Execution } from "./reconciler.ts"
import { openStateDir } from "./state-dir.ts"
import type { SupervisorTuning } from "./supervisor.ts"
import { TaskReporter, type TaskStatus } from "./task-reporter.ts"

/*
 * The agent, wired together (README, "The agent"):
 *
 *   host stream ──▶ HostStreamFollower (fold → desired state, checkpoint in the state dir)
 *                          │ change
 *   engine events ──▶  Reconciler (executions, ports, reaping) ──▶ Supervisor per job ──▶ engine
 *   every 30 s    ──▶      ▲                                          │ transitions
 *                                                   TaskReporter ─▶ Outbox (state dir) ─▶ log
 *
 * plus registration (HostRegistered / up mark / HostWentUp, again after every reconnect) and the
 * host info refresh. The embedder owns the log, the host info store, the runtime and the ZooKeeper
 * client; stop() leaves containers running.
 */

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
  /** Graceful stop: stops supervising and reporting; containers keep running. */
  stop(): Promise<void>
}

const DEFAULT_TUNING: Omit<SupervisorTuning, "restartDelays" | "flapping"> = {
  pullTimeoutMs: 10 * 60_000,
  monitorIntervalMs: 5_000,
  healthCheckInitialBackoffMs: 1_000,
  healthCheckMaxBackoffMs: 30_000,
  healthTimeouts: DEFAULT_HEALTH_TIMEOUTS as HealthTimeouts,
  defaultStopTimeoutSeconds: 120,
}

const parseHostName = (name: string): HostName => {
  const r = decodeInput(HostName, name)
  if (Result.isFailure(r)) throw new Error(`invalid host name "${name}": ${formatFieldErrors(r.failure)}`)
  return r.success
}

export const startAgent = async (o: AgentOptions): Promise<Agent> => {
  const hostName = parseHostName(o.hostName ?? os.hostname())
  const stateDir = openStateDir(o.stateDir, o.agentId)
  const agentId = stateDir.agentId as AgentId
  const clock = o.clock ?? systemClock
  const logger = o.logger ?? defaultLogger({ host: hostName })
  const startTime = clock.now()
  const bindAddress = o.bindAddress ?? "0.0.0.0"
  const range = typeof o.portRange === "string" ? parsePortRange(o.portRange) : (o.portRange ?? DEFAULT_PORT_RANGE)
  const tuning: SupervisorTuning = {
    ...DEFAULT_TUNING,
    ...o.tuning,
    restartDelays: { ...DEFAULT_RESTART_DELAYS, ...o.restartDelays },
    flapping: { ...DEFAULT_FLAP_CONFIG, ...o.flapping },
  }
  const settings: ContainerSettings = {
    agentId,
    host: hostName,
    advertisedHost: o.advertisedHost ?? hostName,
    bindAddress,
    agentEnv: o.env ?? {},
    extraLabels: o.containerLabels ?? {},
    dns: o.dns ?? [],
    extraHosts: o.extraHosts ?? [],
    extraBinds: o.extraBinds ?? [],
  }
  const envelope = (event: DomainEvent): EventEnvelope => ({
    event,
    schemaVersion: 1,
    at: clock.now(),
    actor: { kind: "agent", name: agentId },
  })
  let stopped = false
  const stopping = new AbortController()
  const cleanups: Array<() => void | Promise<void>> = []

  try {
    // ---- the pieces ---------------------------------------------------------------------------
    let reconciler: Reconciler | undefined
    let outbox: Outbox | undefined
    const follower = new HostStreamFollower({
      log: o.log,
      host: hostName,
      file: stateDir.file("desired.json"),
      logger,
      onCommandIds: (ids) => outbox?.acknowledge(ids),
      onDesiredChange: () => reconciler?.trigger(),
    })
    outbox = new Outbox({
      file: stateDir.file("outbox.jsonl"),
      log: o.log,
      logger,
      idPrefix: agentId,
      ...o.outbox,
      // After an append with an unknown outcome: catching up acknowledges whatever landed. head()
      // first: on ZooKeeper it syncs, so the catch-up cannot read a lagging follower and retry a
      // fact that did land.
      landed: async () => {
        await o.log.head()
        await follower.catchUp()
        return new Set()
      },
    })
    const reporter = new TaskReporter({
      file: stateDir.file("task-status.json"),
      host: hostName,
      agentId,
      clock,
      emit: (e) => outbox!.enqueue(e),
      logged: (jobId) => follower.state.lastStatus[jobId],
    })
    const allocator = new PortAllocator(range, o.portProbe ?? ((port, protocol) => canBind(bindAddress, port, protocol)))
    reconciler = new Reconciler({
      file: stateDir.file("executions.json"),
      agentId,
      host: hostName,
      runtime: o.runtime,
      allocator,
      logger,
      desired: () => follower.state.deployments,
      // The host belongs to another agent id, or what it should run is unknown (no saved desired
      // state, log not read yet): touch nothing until that changes.
      paused: () =>
        !follower.desiredKnown || (follower.state.registeredAgentId !== undefined && follower.state.registeredAgentId !== agentId),
      supervisorDeps: { runtime: o.runtime, reporter, settings, tuning, clock, logger },
    })
    const rec = reconciler
    const box = outbox

    // ---- start-up -----------------------------------------------------------------------------
    // Catch up first when the log answers quickly, so goals changed while we were down apply
    // before anything is adopted; otherwise work from the saved state and catch up later.
    await Promise.race([follower.catchUp().catch(() => undefined), sleep(o.startupCatchUpMs ?? 3_000)])
    if (!follower.desiredKnown)
      logger.log("warn", "desired state unknown (no desired.json, the log has not answered): no container is stopped or removed until the log answers", {
        stateDir: o.stateDir,
      })
    follower.start()
    cleanups.push(() => follower.stop())
    if (follower.state.registeredAgentId === agentId) box.setEnabled(true)

    const unwatch: Unwatch = o.runtime.watch(
      namespaceLabels(agentId, hostName),
      (e) => rec.containerEvent(e),
      () => rec.trigger(),
    )
    cleanups.push(unwatch)
    rec.trigger()
    const tick = setInterval(() => rec.trigger(), o.reconcileIntervalMs ?? 30_000)
    tick.unref()
    cleanups.push(() => clearInterval(tick))

    // ---- host info ----------------------------------------------------------------------------
    const putHostInfo = async () => {
      try {
        const info = await collectHostInfo({
          runtime: o.runtime,
          agentId,
          startTime,
          now: clock.now(),
          labels: o.labels ?? {},
          environment: o.env ?? {},
        })
        await o.hostInfo.put(hostName, info)
      } catch (e) {
        logger.log("debug", "host info not written", { error: errorText(e) })
      }
    }
    const infoTimer = setInterval(() => void putHostInfo(), o.hostInfoIntervalMs ?? 60_000)
    infoTimer.unref()
    cleanups.push(() => clearInterval(infoTimer))

    // ---- registration -------------------------------------------------------------------------
    const registerOnce = async (): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        await follower.catchUp()
        const s = follower.state
        if (s.registeredAgentId === agentId) break
        if (s.registeredAgentId !== undefined) {
          const [up, info] = await Promise.all([o.hostInfo.isUp(hostName), o.hostInfo.get(hostName)])
          const ttl = o.registrationTtlMs ?? 10 * 60_000
          const recent = info !== undefined && info.agentId === s.registeredAgentId && clock.now() - info.updatedAt < ttl
          if (up || recent) throw new HostHeldByAnotherAgent(hostName, s.registeredAgentId)
          logger.log("warn", "taking over a host registered to another agent", { previous: s.registeredAgentId })
        }
        try {
          await o.log.append([envelope({ _tag: "HostRegistered", host: hostName, agentId })], {
            expected: { [hostStream(hostName)]: hostStreamVersion(s) },
          })
          break
        } catch (e) {
          // Someone else touched the host meanwhile (or our retried append landed): look again.
          if (!(e instanceof AppendConflict) || attempt >= 20) throw e
        }
      }
      const created = await o.hostInfo.markUp(hostName, agentId)
      await follower.catchUp()
      if (created || follower.state.upAgentId !== agentId)
        await o.log.append([envelope({ _tag: "HostWentUp", host: hostName, agentId })])
      box.setEnabled(true)
      void putHostInfo()
      logger.log("info", "registered", { agentId, created })
    }

    let registering: Promise<void> | undefined
    let registerAgain = false
    let resolveRegistered!: () => void
    const registered = new Promise<void>((r) => (resolveRegistered = r))
    const register = (): Promise<void> => {
      if (registering) {
        registerAgain = true
        return registering
      }
      registering = (async () => {
        let backoff = 250
        while (!stopped) {
          try {
            registerAgain = false
            await registerOnce()
            resolveRegistered()
            if (!registerAgain) return
          } catch (e) {
            logger.log(e instanceof HostHeldByAnotherAgent ? "error" : "info", "registration pending", { error: errorText(e) })
            await sleep(backoff, stopping.signal)
            backoff = Math.min(5_000, backoff * 2)
          }
        }
      })().finally(() => (registering = undefined))
      return registering
    }
    void register()

    if (o.zk !== undefined) {
      const zk = o.zk
      const onConnected = () => {
        logger.log("info", "ZooKeeper connected", { root: o.zkRoot })
        void register()
        box.kick()
      }
      const onExpired = () => logger.log("warn", "ZooKeeper session expired", { root: o.zkRoot })
      const onDisconnected = () => logger.log("info", "ZooKeeper disconnected", { root: o.zkRoot })
      zk.on("connected", onConnected)
      zk.on("expired", onExpired)
      zk.on("disconnected", onDisconnected)
      cleanups.push(() => {
        zk.off("connected", onConnected)
        zk.off("expired", onExpired)
        zk.off("disconnected", onDisconnected)
      })
    }

    logger.log("info", "agent started", { agentId, stateDir: o.stateDir, bindAddress, portRange: range })

    const stop = async () => {
      if (stopped) return
      stopped = true
      stopping.abort()
      for (const c of cleanups.reverse()) await c()
      await rec.close()
      await box.close()
      await registering?.catch(() => undefined)
      await o.hostInfo.markDown(hostName).catch(() => undefined)
      stateDir.release()
      logger.log("info", "agent stopped")
    }

    return {
      agentId,
      hostName,
      registered,
      desired: () => follower.state,
      executions: () => rec.snapshot(),
      statuses: () => reporter.all(),
      pendingEvents: () => box.pending(),
      reconcile: () => rec.nextPass(),
      flushed: () => box.drained(),
      stop,
    }
  } catch (e) {
    stopped = true
    for (const c of cleanups.reverse()) await c()
    stateDir.release()
    throw e
  }
}
