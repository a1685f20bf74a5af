import { RuntimeUnavailable, type ContainerInfo, type ContainerRuntime } from "../core/container-runtime.ts"
import type { Goal, TaskGoal, TaskState, ThrottleState } from "../core/ids.ts"
import type { Job, PortMapping } from "../core/job.ts"
import { Doorbell, sleep, type Clock } from "./clock.ts"
import { buildContainerSpec, containerEnv, LABEL_JOB, namespaceLabels, resolvedPorts, type ContainerSettings } from "./container-spec.ts"
import {
  emptyFlapHistory,
  isFlapping,
  recordRun,
  restartDelay,
  type FlapConfig,
  type FlapHistory,
  type RestartDelays,
} from "./flapping.ts"
import { errorText, type Logger } from "./logger.ts"
import type { TaskReporter } from "./task-reporter.ts"
import { DEFAULT_CONTAINER_POLICY } from "../core/container-policy.ts"
import { policyViolationsOnThisHost } from "./bind-sources.ts"
import { runTask, type RunnerTuning } from "./task-runner.ts"

/*
 * One supervisor per job on this host (Helios's Supervisor): it owns the job's container and moves
 * it towards the goal the reconcile loop gives it. START: run it (task-runner.ts), and after every
 * exit or failure wait the restart delay of the current throttle and run it again. STOP: report
 * STOPPING, `docker stop`, STOPPED. UNDEPLOY: the same with goal UNDEPLOY (or EXITED when the
 * container had already exited unreported), then remove the container and finish: the end of the
 * task is in the history, as in Helios. Closing a supervisor (agent shutdown) leaves the container
 * as it is.
 */

export type ExecutionGoal = Goal | "UNDEPLOY"

export interface SupervisorTuning extends RunnerTuning {
  readonly restartDelays: RestartDelays
  readonly flapping: FlapConfig
  /** `docker stop` grace period when the job sets no secondsToWaitBeforeKill (Helios: 120 s). */
  readonly defaultStopTimeoutSeconds: number
}

export interface SupervisorDeps {
  readonly runtime: ContainerRuntime
  readonly reporter: TaskReporter
  readonly settings: ContainerSettings
  readonly tuning: SupervisorTuning
  readonly clock: Clock
  readonly logger: Logger
  /** The container the job now has (persisted with the execution). */
  readonly onContainer: (jobId: string, containerId: string | undefined) => void
  /** New dynamic ports after a start failed because one was taken; undefined when none are left. */
  readonly reallocatePorts: (jobId: string, avoid: ReadonlySet<number>) => Promise<Record<string, number> | undefined>
  readonly onFinished: (jobId: string) => void
}

export class Supervisor {
  private goal: ExecutionGoal
  private controller = new AbortController()
  private readonly doorbell = new Doorbell()
  private readonly goalBell = new Doorbell()
  private flaps: FlapHistory = emptyFlapHistory
  private imageThrottle: ThrottleState | undefined
  private currentRunStartedAt: number | undefined
  private nextDelayMs = 0
  private containerId: string | undefined
  private closed = false
  private done = false
  private readonly loop: Promise<void>

  constructor(
    readonly job: Job,
    private allocated: Record<string, number>,
    goal: ExecutionGoal,
    knownContainerId: string | undefined,
    private readonly deps: SupervisorDeps,
  ) {
    this.goal = goal
    this.containerId = knownContainerId
    this.loop = this.drive()
  }

  get jobId(): string {
    return this.job.id
  }
  get currentGoal(): ExecutionGoal {
    return this.goal
  }
  get finished(): boolean {
    return this.done
  }
  get container(): string | undefined {
    return this.containerId
  }
  get ports(): Readonly<Record<string, number>> {
    return this.allocated
  }

  setGoal(goal: ExecutionGoal): void {
    if (goal === this.goal || this.done) return
    this.deps.logger.log("info", "goal changed", { job: this.jobId, from: this.goal, to: goal })
    this.goal = goal
    this.nextDelayMs = 0
    this.controller.abort()
    this.goalBell.ring()
  }

  /** An engine event about one of this job's containers. */
  containerEvent(): void {
    this.doorbell.ring()
  }

  /**
   * Stops supervising without touching the container (agent shutdown). Waits for the current step
   * at most `waitMs`: a `docker stop` in progress may take the job's whole grace period, and it
   * finishes on its own (reporting nothing more).
   */
  async close(waitMs = 5_000): Promise<void> {
    this.closed = true
    this.controller.abort()
    this.goalBell.ring()
    await Promise.race([this.loop, sleep(waitMs)])
  }

  // ---- status -------------------------------------------------------------------------------

  private throttle(): ThrottleState {
    if (this.imageThrottle !== undefined) return this.imageThrottle
    const current = this.currentRunStartedAt === undefined ? undefined : this.deps.clock.now() - this.currentRunStartedAt
    return isFlapping(this.flaps, this.deps.tuning.flapping, current) ? "FLAPPING" : "NO"
  }

  private resolvedPorts(): Record<string, PortMapping> {
    return resolvedPorts(this.job, this.allocated)
  }

  /**
   * Reports a transition. Without an explicit goal it is the run's own (START or STOP), and is
   * dropped once the job is being undeployed: only the stop sequence speaks then.
   */
  private report(state: TaskState, extra: { error?: string; goal?: TaskGoal } = {}): void {
    if (this.closed || (extra.goal === undefined && this.goal === "UNDEPLOY")) return
    const ports = this.resolvedPorts()
    this.deps.reporter.report(this.jobId, {
      state,
      goal: extra.goal ?? (this.goal === "STOP" ? "STOP" : "START"),
      throttled: this.throttle(),
      ...(this.containerId !== undefined ? { containerId: this.containerId } : {}),
      ...(Object.keys(ports).length > 0 ? { ports } : {}),
      env: containerEnv(this.job, ports, this.deps.settings),
      ...(extra.error !== undefined ? { error: extra.error } : {}),
    })
  }

  private setContainer(id: string | undefined): void {
    if (id === this.containerId) return
    this.containerId = id
    this.deps.onContainer(this.jobId, id)
  }

  private listContainers(): Promise<ReadonlyArray<ContainerInfo>> {
    return this.deps.runtime.list({
      ...namespaceLabels(this.deps.settings.agentId, this.deps.settings.host),
      [LABEL_JOB]: this.jobId,
    })
  }

  // ---- the loop -----------------------------------------------------------------------------

  private async drive(): Promise<void> {
    while (!this.closed && !this.done) {
      this.controller = new AbortController()
      const signal = this.controller.signal
      const goal = this.goal
      try {
        if (goal === "START") await this.startCycle(signal)
        else if (goal === "STOP") {
          await this.stopContainers(signal, "STOP")
          if (!signal.aborted) await this.goalBell.wait(Infinity, signal)
        } else {
          await this.stopContainers(signal, "UNDEPLOY")
          if (signal.aborted || this.closed) continue
          await this.removeContainers()
          this.deps.reporter.forget(this.jobId)
          this.setContainer(undefined)
          this.done = true
          this.deps.onFinished(this.jobId)
        }
      } catch (e) {
        this.deps.logger.log("error", "supervisor step failed", { job: this.jobId, goal, error: errorText(e) })
        await sleep(1_000, signal)
      }
    }
  }

  /**
   * Why this agent's policy refuses the job now, if it does. The master refused such a job when it
   * was created; an event that reached the log otherwise (another writer, a master with a looser
   * policy), a policy tightened since, or a bind source that has become a symlink out of the allowed
   * prefixes (agent/bind-sources.ts) is refused here, before each container is created: a recreated
   * container is checked as a first one is.
   */
  private refusedHere(): string | undefined {
    const refused = policyViolationsOnThisHost(this.job, this.deps.settings.policy ?? DEFAULT_CONTAINER_POLICY)
    return refused.length === 0 ? undefined : `refused by this agent's container policy: ${refused.map((e) => `${e.field}: ${e.message}`).join("; ")}`
  }

  private async startCycle(signal: AbortSignal): Promise<void> {
    if (this.nextDelayMs > 0) {
      await sleep(this.nextDelayMs, signal)
      if (signal.aborted) return
      this.nextDelayMs = 0
    }
    const t = this.deps.tuning
    const outcome = await runTask({
      job: this.job,
      runtime: this.deps.runtime,
      clock: this.deps.clock,
      logger: this.deps.logger,
      tuning: t,
      bindAddress: this.deps.settings.bindAddress,
      signal,
      doorbell: this.doorbell,
      knownContainerId: this.containerId,
      lastReported: () => this.deps.reporter.get(this.jobId),
      ports: () => this.resolvedPorts(),
      spec: () => buildContainerSpec(this.job, this.allocated, this.deps.settings),
      listContainers: () => this.listContainers(),
      refusedHere: () => this.refusedHere(),
      report: (state, extra) => this.report(state, extra ?? {}),
      setContainer: (id) => this.setContainer(id),
      imageOk: () => {
        this.imageThrottle = undefined
      },
      running: (startedAt) => {
        this.currentRunStartedAt = startedAt
        this.report("RUNNING") // no event unless the throttle changed (flapping cleared)
      },
    })
    this.currentRunStartedAt = undefined
    switch (outcome.kind) {
      case "aborted":
        return
      case "refused":
        // Not retried: only a new goal (or job) can change the answer.
        this.deps.logger.log("warn", "job refused by the container policy", { job: this.jobId, error: outcome.error })
        this.report("FAILED", { error: outcome.error })
        await this.goalBell.wait(Infinity, signal)
        return
      case "exited": {
        this.flaps = recordRun(this.flaps, outcome.runtimeMs, t.flapping)
        this.report("EXITED")
        this.nextDelayMs = restartDelay(this.throttle(), t.restartDelays)
        this.deps.logger.log("info", "container exited", {
          job: this.jobId,
          containerId: outcome.containerId,
          exitCode: outcome.exitCode,
          runtimeMs: outcome.runtimeMs,
          throttled: this.throttle(),
          restartInMs: this.nextDelayMs,
        })
        return
      }
      case "failed": {
        if (outcome.runtimeMs !== undefined) this.flaps = recordRun(this.flaps, outcome.runtimeMs, t.flapping)
        if (outcome.throttle !== "NO") this.imageThrottle = outcome.throttle
        this.report("FAILED", { error: outcome.error })
        this.nextDelayMs = restartDelay(this.throttle(), t.restartDelays)
        this.deps.logger.log("warn", "task failed", { job: this.jobId, error: outcome.error, throttled: this.throttle(), restartInMs: this.nextDelayMs })
        if (outcome.portInUse) await this.reallocate()
        return
      }
    }
  }

  private async reallocate(): Promise<void> {
    const dynamic = Object.entries(this.job.ports ?? {}).filter(([, p]) => p.externalPort === undefined)
    if (dynamic.length === 0) return
    const avoid = new Set(dynamic.map(([name]) => this.allocated[name]).filter((p): p is number => p !== undefined))
    const next = await this.deps.reallocatePorts(this.jobId, avoid)
    if (next !== undefined) {
      this.deps.logger.log("info", "reallocated ports after a conflict", { job: this.jobId, from: this.allocated, to: next })
      this.allocated = next
    }
  }

  /**
   * Stops every running container of the job, reported as STOPPING and STOPPED with `goal`. For
   * STOP a task not yet STOPPED is announced even with nothing running (the status must say
   * STOPPED). For UNDEPLOY only a task whose end the history lacks: a running container is
   * stopped (STOPPING, STOPPED); one that exited unreported ends as EXITED; a task caught midway
   * with no container up (pulling, creating) ends as STOPPING, STOPPED. A task already EXITED,
   * FAILED or STOPPED gets nothing more.
   */
  private async stopContainers(signal: AbortSignal, goal: "STOP" | "UNDEPLOY"): Promise<void> {
    let backoff = 1_000
    for (;;) {
      if (signal.aborted) return
      try {
        const containers = await this.listContainers()
        const running = containers.filter((c) => c.running)
        const last = this.deps.reporter.get(this.jobId)
        if (running[0] !== undefined) this.setContainer(running[0].id)
        const ending = goal === "STOP" ? stopEnding(running.length, last?.state) : undeployEnding(running.length, last?.state, this.exitedContainer(containers))
        if (ending.kind === "exited") {
          this.setContainer(ending.containerId)
          this.report("EXITED", { goal })
          return
        }
        const announce = ending.kind === "stop"
        if (announce) this.report("STOPPING", { goal })
        // Helios: unregister from discovery, then wait the grace period so clients drain away.
        const grace = this.job.gracePeriod ?? 0
        if (running.length > 0 && grace > 0) {
          await sleep(grace * 1_000, signal)
          if (signal.aborted) return
        }
        for (const c of running) await this.stopOne(c.id)
        if (announce) this.report("STOPPED", { goal })
        return
      } catch (e) {
        this.deps.logger.log(e instanceof RuntimeUnavailable ? "info" : "warn", "stop failed, retrying", { job: this.jobId, error: errorText(e) })
        await sleep(backoff, signal)
        backoff = Math.min(30_000, backoff * 2)
      }
    }
  }

  /** `docker stop` with the job's grace period, then SIGKILL until it is down (1 s to 30 s backoff). */
  private async stopOne(id: string): Promise<void> {
    const seconds = this.job.secondsToWaitBeforeKill ?? this.deps.tuning.defaultStopTimeoutSeconds
    await this.deps.runtime.stop(id, seconds)
    let backoff = 1_000
    for (let i = 0; i < 10; i++) {
      const info = await this.deps.runtime.inspect(id)
      if (info === undefined || !info.running) return
      await this.deps.runtime.kill(id)
      await sleep(backoff)
      backoff = Math.min(30_000, backoff * 2)
    }
    throw new Error(`container ${id} did not stop`)
  }

  /** The job's container that exited on its own: the one we know, else any that is down. */
  private exitedContainer(containers: ReadonlyArray<ContainerInfo>): string | undefined {
    const down = containers.filter((c) => c.status === "exited" || c.status === "dead")
    return (down.find((c) => c.id === this.containerId) ?? down[0])?.id
  }

  private async removeContainers(): Promise<void> {
    for (const c of await this.listContainers()) await this.deps.runtime.remove(c.id)
  }
}

/** How a stop sequence ends the task in the history. */
type Ending = { readonly kind: "stop" } | { readonly kind: "exited"; readonly containerId: string } | { readonly kind: "silent" }

const stopEnding = (running: number, last: TaskState | undefined): Ending =>
  running > 0 || (last !== undefined && last !== "STOPPED") ? { kind: "stop" } : { kind: "silent" }

/** States after which the history already holds the container's end. */
const ENDED: ReadonlySet<TaskState> = new Set(["EXITED", "FAILED", "STOPPED"])

const undeployEnding = (running: number, last: TaskState | undefined, exited: string | undefined): Ending => {
  if (running > 0) return { kind: "stop" }
  if (last === undefined || ENDED.has(last)) return { kind: "silent" }
  // Nothing runs, yet the last report says the task was alive: it exited unseen, or never got a container.
  if (exited !== undefined && last !== "STOPPING") return { kind: "exited", containerId: exited }
  return { kind: "stop" }
}
