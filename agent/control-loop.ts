import type { ContainerRuntime } from "../core/container-runtime.ts"
import type { EventLog } from "../core/event-log.ts"
import type { AgentId, HostName } from "../core/ids.ts"
import { sleep, type Clock } from "./clock.ts"
import { namespaceLabels, type ContainerSettings } from "./container-spec.ts"
import { HostStreamFollower } from "./host-stream.ts"
import type { Logger } from "./logger.ts"
import { Outbox } from "./outbox.ts"
import { canBind, PortAllocator, type PortProbe, type PortRange } from "./ports.ts"
import { Reconciler } from "./reconciler.ts"
import type { StateDir } from "./state-dir.ts"
import type { SupervisorTuning } from "./supervisor.ts"
import { TaskReporter } from "./task-reporter.ts"

/*
 * The agent's loop, from what the host should run to the facts of what it runs:
 *
 *   host stream ──▶ HostStreamFollower (fold → desired state, checkpoint in the state dir)
 *                          │ change
 *   engine events ──▶  Reconciler (executions, ports, reaping) ──▶ Supervisor per job ──▶ engine
 *   every 30 s    ──▶      ▲                                          │ transitions
 *                                                   TaskReporter ─▶ Outbox (state dir) ─▶ log
 *
 * The follower and the outbox need each other: the host stream acknowledges the outbox's facts, and
 * after an append with an unknown outcome the outbox catches up with the host stream.
 */

export interface ControlLoopOptions {
  readonly log: EventLog
  readonly runtime: ContainerRuntime
  readonly stateDir: StateDir
  readonly agentId: AgentId
  readonly hostName: HostName
  readonly settings: ContainerSettings
  readonly tuning: SupervisorTuning
  readonly portRange: PortRange
  /** Whether a port can be bound (default: a real bind probe on the settings' bind address). */
  readonly portProbe?: PortProbe | undefined
  /** Bounds of the queue of facts not yet in the log; see agent/outbox.ts. */
  readonly outbox?: { readonly maxEvents?: number; readonly maxBytes?: number } | undefined
  readonly clock: Clock
  readonly logger: Logger
  /** Hears how long each reconcile pass took, in seconds (metrics). */
  readonly onReconciled?: ((seconds: number) => void) | undefined
}

export interface ControlLoop {
  readonly follower: HostStreamFollower
  readonly outbox: Outbox
  readonly reporter: TaskReporter
  readonly reconciler: Reconciler
}

export const wireControlLoop = (o: ControlLoopOptions): ControlLoop => {
  const { stateDir, agentId, hostName, logger } = o
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
  const box = outbox
  const reporter = new TaskReporter({
    file: stateDir.file("task-status.json"),
    host: hostName,
    agentId,
    clock: o.clock,
    emit: (e) => box.enqueue(e),
    logged: (jobId) => follower.state.lastStatus[jobId],
  })
  const bindAddress = o.settings.bindAddress
  const allocator = new PortAllocator(o.portRange, o.portProbe ?? ((port, protocol) => canBind(bindAddress, port, protocol)))
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
    supervisorDeps: { runtime: o.runtime, reporter, settings: o.settings, tuning: o.tuning, clock: o.clock, logger },
    onPass: o.onReconciled,
  })
  return { follower, outbox: box, reporter, reconciler }
}

export interface StartOptions {
  readonly runtime: ContainerRuntime
  readonly agentId: AgentId
  readonly hostName: HostName
  /** How long start-up waits to catch up with the host stream before acting on the saved state. */
  readonly startupCatchUpMs: number
  readonly reconcileIntervalMs: number
  readonly logger: Logger
  /** For the log line when the desired state is unknown. */
  readonly stateDir: string
  /** Registers an undo step for stop() (run newest first). */
  readonly onStop: (undo: () => void) => void
}

/** Starts following the host stream and reconciling: on container events, desired changes and a timer. */
export const startControlLoop = async (loop: ControlLoop, o: StartOptions): Promise<void> => {
  const { follower, outbox, reconciler } = loop
  // Catch up first when the log answers quickly, so goals changed while we were down apply
  // before anything is adopted; otherwise work from the saved state and catch up later.
  await Promise.race([follower.catchUp().catch(() => undefined), sleep(o.startupCatchUpMs)])
  if (!follower.desiredKnown)
    o.logger.log("warn", "desired state unknown (no desired.json, the log has not answered): no container is stopped or removed until the log answers", {
      stateDir: o.stateDir,
    })
  follower.start()
  o.onStop(() => follower.stop())
  if (follower.state.registeredAgentId === o.agentId) outbox.setEnabled(true)

  o.onStop(
    o.runtime.watch(
      namespaceLabels(o.agentId, o.hostName),
      (e) => reconciler.containerEvent(e),
      () => reconciler.trigger(),
    ),
  )
  reconciler.trigger()
  const tick = setInterval(() => reconciler.trigger(), o.reconcileIntervalMs)
  tick.unref()
  o.onStop(() => clearInterval(tick))
}
