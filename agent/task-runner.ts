import {
  ImageNotFound,
  PortInUse,
  RuntimeUnavailable,
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSpec,
} from "../core/container-runtime.ts"
import type { TaskState, ThrottleState } from "../core/ids.ts"
import type { Job, PortMapping } from "../core/job.ts"
import type { Clock, Doorbell } from "./clock.ts"
import { checkHealth, LivenessProbe, type HealthTimeouts } from "./health.ts"
import { errorText, type Logger } from "./logger.ts"
import type { TaskStatus } from "./task-reporter.ts"

/*
 * One run of a job's container (Helios's TaskRunner): adopt the container that is already running,
 * or pull, create and start a new one; health-check it; then watch it until it exits, fails its
 * liveness check (the job's `livenessCheck`: stopped, FAILED) or the run is aborted (goal change,
 * agent stop). The supervisor decides what happens next.
 */

export interface RunnerTuning {
  readonly pullTimeoutMs: number
  readonly monitorIntervalMs: number
  readonly healthCheckInitialBackoffMs: number
  readonly healthCheckMaxBackoffMs: number
  readonly healthTimeouts: HealthTimeouts
  /** `docker stop` grace period when the job sets no secondsToWaitBeforeKill (liveness restarts). */
  readonly defaultStopTimeoutSeconds: number
}

export interface RunContext {
  readonly job: Job
  readonly runtime: ContainerRuntime
  readonly clock: Clock
  readonly logger: Logger
  readonly tuning: RunnerTuning
  readonly bindAddress: string
  readonly signal: AbortSignal
  /** Rung on engine events about this job's containers. */
  readonly doorbell: Doorbell
  /** The container this job ran last (persisted), preferred when adopting. */
  readonly knownContainerId: string | undefined
  readonly lastReported: () => TaskStatus | undefined
  readonly ports: () => Readonly<Record<string, PortMapping>>
  readonly spec: () => ContainerSpec
  readonly listContainers: () => Promise<ReadonlyArray<ContainerInfo>>
  /**
   * Why this agent's container policy refuses the job here and now, if it does: asked before every
   * container is created (not when one is adopted), so a restart re-checks bind sources as they
   * resolve then, and a policy tightened since the last run applies.
   */
  readonly refusedHere: () => string | undefined
  /** Reports a state; the supervisor adds goal, throttle, ports and env. */
  readonly report: (state: TaskState, extra?: { readonly error?: string }) => void
  readonly setContainer: (id: string | undefined) => void
  /** The image is there (pulled or local): clears an image throttle. */
  readonly imageOk: () => void
  /** The container is running since `startedAt`: lets the supervisor re-evaluate flapping. */
  readonly running: (startedAt: number) => void
}

export type RunOutcome =
  | { readonly kind: "exited"; readonly containerId: string; readonly exitCode?: number; readonly runtimeMs: number }
  | {
      readonly kind: "failed"
      readonly error: string
      readonly throttle: ThrottleState
      /** Set when a container had started (counts as a run for flap detection). */
      readonly runtimeMs?: number
      readonly portInUse?: boolean
    }
  | { readonly kind: "aborted" }
  /** This agent's container policy refuses the job (no container created). */
  | { readonly kind: "refused"; readonly error: string }

const failed = (error: unknown, extra: { throttle?: ThrottleState; runtimeMs?: number } = {}): RunOutcome => ({
  kind: "failed",
  error: errorText(error),
  throttle: extra.throttle ?? "NO",
  ...(extra.runtimeMs !== undefined ? { runtimeMs: extra.runtimeMs } : {}),
  ...(error instanceof PortInUse ? { portInUse: true } : {}),
})

const ABORTED: RunOutcome = { kind: "aborted" }

export const runTask = async (ctx: RunContext): Promise<RunOutcome> => {
  const { runtime, signal, job } = ctx
  let containers: ReadonlyArray<ContainerInfo>
  try {
    containers = await ctx.listContainers()
  } catch (e) {
    return failed(e)
  }
  if (signal.aborted) return ABORTED
  const running = containers.filter((c) => c.running)
  const adopt = running.find((c) => c.id === ctx.knownContainerId) ?? running[0]
  // The container last reported running exited while nobody watched (the agent was down): its exit
  // is told (EXITED, counted for flapping, restarted after the usual delay) before anything replaces
  // it, as one seen live is; it went from RUNNING straight to PULLING_IMAGE.
  const last = ctx.lastReported()
  if (adopt === undefined && last?.containerId !== undefined && (last.state === "RUNNING" || last.state === "HEALTHCHECKING")) {
    const gone = containers.find((c) => c.id === last.containerId && !c.running)
    if (gone !== undefined) {
      const now = ctx.clock.now()
      return exited(gone.id, await runtime.inspect(gone.id).catch(() => undefined), now, now)
    }
  }
  for (const c of containers) {
    if (c === adopt) continue
    // Leftovers of earlier runs (Helios left them behind; we keep one container per job).
    await runtime.remove(c.id).catch((e) => ctx.logger.log("warn", "could not remove an old container", { id: c.id, error: errorText(e) }))
  }

  let containerId: string
  let startedAt: number
  if (adopt !== undefined) {
    containerId = adopt.id
    ctx.setContainer(containerId)
    let info: ContainerInfo | undefined
    try {
      info = await runtime.inspect(containerId)
    } catch (e) {
      return failed(e)
    }
    if (info === undefined || !info.running) return { kind: "exited", containerId, ...exitOf(info), runtimeMs: 0 }
    startedAt = info.startedAt ?? ctx.clock.now()
    ctx.imageOk()
    const last = ctx.lastReported()
    const wasHealthy = last?.containerId === containerId && last.state === "RUNNING"
    ctx.logger.log("info", "adopted a running container", { job: job.id, containerId })
    if (job.healthCheck !== undefined && !wasHealthy) {
      const h = await healthPhase(ctx, containerId, startedAt)
      if (h !== undefined) return h
    }
    ctx.report("RUNNING")
  } else {
    const refused = ctx.refusedHere()
    if (refused !== undefined) return { kind: "refused", error: refused }
    ctx.setContainer(undefined)
    ctx.report("PULLING_IMAGE")
    try {
      await runtime.pullImage(job.image, ctx.tuning.pullTimeoutMs)
    } catch (pullError) {
      if (pullError instanceof RuntimeUnavailable) return failed(pullError)
      let local: boolean
      try {
        local = await runtime.imageExists(job.image)
      } catch (e) {
        return failed(e)
      }
      // Helios: IMAGE_MISSING (2 min) when the registry says there is no such image, and
      // IMAGE_PULL_FAILED (30 s) when the pull itself failed (unreachable registry, 5xx, auth, timeout).
      if (!local) return failed(pullError, { throttle: pullError instanceof ImageNotFound ? "IMAGE_MISSING" : "IMAGE_PULL_FAILED" })
      ctx.logger.log("debug", "pull failed, using the local image", { image: job.image, error: errorText(pullError) })
    }
    ctx.imageOk()
    if (signal.aborted) return ABORTED

    ctx.report("CREATING")
    try {
      containerId = await runtime.create(ctx.spec())
    } catch (e) {
      return failed(e)
    }
    ctx.setContainer(containerId)
    if (signal.aborted) return ABORTED

    ctx.report("STARTING")
    try {
      await runtime.start(containerId)
    } catch (e) {
      return failed(e)
    }
    startedAt = ctx.clock.now()
    if (job.healthCheck !== undefined) {
      const h = await healthPhase(ctx, containerId, startedAt)
      if (h !== undefined) return h
    }
    ctx.report("RUNNING")
  }

  // Watch it: engine events ring the doorbell; a slow poll covers missed events (Helios polled every 5 s).
  const liveness = job.livenessCheck === undefined ? undefined : new LivenessProbe(job.livenessCheck, ctx.clock.now())
  for (;;) {
    if (signal.aborted) return ABORTED
    let info: ContainerInfo | undefined
    try {
      info = await runtime.inspect(containerId)
    } catch (e) {
      if (!(e instanceof RuntimeUnavailable)) ctx.logger.log("warn", "inspect failed", { containerId, error: errorText(e) })
      // The engine is away: as far as we know the container keeps running.
      await ctx.doorbell.wait(ctx.tuning.monitorIntervalMs, signal)
      continue
    }
    if (info === undefined || !info.running) return exited(containerId, info, startedAt, ctx.clock.now())
    ctx.running(startedAt)
    if (liveness?.due(ctx.clock.now())) {
      const r = await checkHealth(job.livenessCheck!, { runtime, container: info, ports: ctx.ports(), bindAddress: ctx.bindAddress }, ctx.tuning.healthTimeouts)
      if (signal.aborted) return ABORTED
      const verdict = liveness.record(r, ctx.clock.now())
      if (!r.healthy) ctx.logger.log("info", "liveness check failed", { job: job.id, containerId, reason: r.reason, failures: liveness.failures })
      if (verdict !== undefined) return restartUnhealthy(ctx, containerId, startedAt, verdict)
    }
    const untilCheck = liveness === undefined ? Infinity : Math.max(0, liveness.nextAt - ctx.clock.now())
    await ctx.doorbell.wait(Math.min(ctx.tuning.monitorIntervalMs, untilCheck), signal)
  }
}

/** The container failed its liveness check too often: stop it and fail the run with the reason (the supervisor restarts it). */
const restartUnhealthy = async (ctx: RunContext, containerId: string, startedAt: number, reason: string): Promise<RunOutcome> => {
  ctx.logger.log("warn", "liveness check failed, restarting the container", { job: ctx.job.id, containerId, reason })
  try {
    await ctx.runtime.stop(containerId, ctx.job.secondsToWaitBeforeKill ?? ctx.tuning.defaultStopTimeoutSeconds)
  } catch (e) {
    ctx.logger.log("warn", "could not stop the unhealthy container", { containerId, error: errorText(e) })
  }
  return failed(new Error(reason), { runtimeMs: Math.max(0, ctx.clock.now() - startedAt) })
}

const exitOf = (info: ContainerInfo | undefined): { exitCode?: number } =>
  info?.exitCode !== undefined ? { exitCode: info.exitCode } : {}

/** A container's end: its exit code, and how long it ran (from `startedAt` when the engine does not say; until now when not finished). */
const exited = (containerId: string, info: ContainerInfo | undefined, startedAt: number, now: number): RunOutcome => ({
  kind: "exited",
  containerId,
  ...exitOf(info),
  runtimeMs: Math.max(0, (info?.finishedAt ?? now) - (info?.startedAt ?? startedAt)),
})

/** HEALTHCHECKING until the check passes (undefined), the container dies (FAILED) or the run is aborted. */
const healthPhase = async (ctx: RunContext, containerId: string, startedAt: number): Promise<RunOutcome | undefined> => {
  const check = ctx.job.healthCheck!
  ctx.report("HEALTHCHECKING")
  let backoff = ctx.tuning.healthCheckInitialBackoffMs
  let lastReason = ""
  for (;;) {
    if (ctx.signal.aborted) return ABORTED
    let info: ContainerInfo | undefined
    try {
      info = await ctx.runtime.inspect(containerId)
    } catch (e) {
      if (!(e instanceof RuntimeUnavailable)) return failed(e)
      await ctx.doorbell.wait(backoff, ctx.signal)
      continue
    }
    if (info === undefined || !info.running) {
      const code = info?.exitCode !== undefined ? ` (exit code ${info.exitCode})` : ""
      const runtimeMs = Math.max(0, (info?.finishedAt ?? ctx.clock.now()) - (info?.startedAt ?? startedAt))
      return failed(new Error(`container exited during the health check${code}${lastReason ? `; last check: ${lastReason}` : ""}`), { runtimeMs })
    }
    const r = await checkHealth(check, { runtime: ctx.runtime, container: info, ports: ctx.ports(), bindAddress: ctx.bindAddress }, ctx.tuning.healthTimeouts)
    if (r.healthy) return undefined
    lastReason = r.reason ?? ""
    ctx.logger.log("debug", "health check failed", { job: ctx.job.id, reason: r.reason, nextMs: backoff })
    await ctx.doorbell.wait(backoff, ctx.signal)
    backoff = Math.min(ctx.tuning.healthCheckMaxBackoffMs, backoff * 2)
  }
}
