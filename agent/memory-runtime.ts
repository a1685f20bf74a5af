import { randomBytes } from "node:crypto"
import {
  ContainerNotFound,
  ImageNotFound,
  PortInUse,
  RuntimeFailure,
  RuntimeUnavailable,
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSpec,
  type ExecResult,
  type RuntimeEvent,
  type RuntimeVersion,
  type Unwatch,
} from "../core/container-runtime.ts"
import { systemClock, type Clock } from "./clock.ts"

/*
 * An in-memory container engine for property tests and fleet simulations only (never for the
 * acceptance tests, which use the real engine). Containers "run" until stopped, killed, or until
 * their behaviour says they exit. Faults can be injected: a container dies, create or start
 * fails, the whole runtime is unavailable, a pull fails.
 */

/** What a started container does; decided per container from its spec. */
export interface MemoryBehaviour {
  /** Exit by itself this long after start (undefined: run until stopped). */
  readonly exitAfterMs?: number
  readonly exitCode?: number
  /** Exit code of `exec` health checks (default 0). */
  readonly execExitCode?: number
}

export interface MemoryContainer {
  readonly id: string
  readonly spec: ContainerSpec
  status: ContainerInfo["status"]
  exitCode?: number
  startedAt?: number
  finishedAt?: number
  starts: number
  timer?: NodeJS.Timeout
}

export interface MemoryRuntimeOptions {
  readonly clock?: Clock
  /** Images present locally. */
  readonly localImages?: Iterable<string>
  /** Images a pull can fetch (then they are local too). */
  readonly registryImages?: Iterable<string>
  readonly behaviour?: (spec: ContainerSpec) => MemoryBehaviour
  /** Simulated latency of every call, ms (default 0). */
  readonly latencyMs?: number
}

export class MemoryRuntime implements ContainerRuntime {
  private readonly clock: Clock
  private readonly local: Set<string>
  private readonly registry: Set<string>
  private readonly behaviour: (spec: ContainerSpec) => MemoryBehaviour
  private readonly latencyMs: number
  private readonly byId = new Map<string, MemoryContainer>()
  private readonly watchers = new Set<{ labels: Readonly<Record<string, string>>; onEvent: (e: RuntimeEvent) => void }>()
  private unavailable = false
  private createFailures: string[] = []
  private startFailures: Array<{ reason: string; portInUse: boolean }> = []
  private pullFailures = 0
  /** Counts of calls, for assertions ("no re-pull", "no restart"). */
  readonly calls = { pull: 0, create: 0, start: 0, stop: 0, kill: 0, remove: 0 }

  constructor(options: MemoryRuntimeOptions = {}) {
    this.clock = options.clock ?? systemClock
    this.local = new Set(options.localImages ?? [])
    this.registry = new Set(options.registryImages ?? [])
    this.behaviour = options.behaviour ?? (() => ({}))
    this.latencyMs = options.latencyMs ?? 0
  }

  // ---- fault injection and inspection -------------------------------------------------------

  /** While on, every call rejects with RuntimeUnavailable; running containers keep running. */
  setUnavailable(on: boolean): void {
    this.unavailable = on
  }
  failNextCreate(reason = "injected create failure", times = 1): void {
    for (let i = 0; i < times; i++) this.createFailures.push(reason)
  }
  failNextStart(reason = "injected start failure", options: { portInUse?: boolean; times?: number } = {}): void {
    for (let i = 0; i < (options.times ?? 1); i++) this.startFailures.push({ reason, portInUse: options.portInUse ?? false })
  }
  failNextPulls(times = 1): void {
    this.pullFailures += times
  }
  addImage(image: string, where: { local?: boolean; registry?: boolean } = { local: true }): void {
    if (where.local) this.local.add(image)
    if (where.registry) this.registry.add(image)
  }
  removeImage(image: string): void {
    this.local.delete(image)
    this.registry.delete(image)
  }
  /** The container dies by itself (crash, OOM, `docker kill` by hand). */
  die(id: string, exitCode = 137): void {
    const c = this.byId.get(id)
    if (c?.status === "running") this.exit(c, exitCode, "die")
  }
  /** Every container, running or not. */
  containers(): ReadonlyArray<MemoryContainer> {
    return [...this.byId.values()]
  }
  running(): ReadonlyArray<MemoryContainer> {
    return this.containers().filter((c) => c.status === "running")
  }

  // ---- the port -----------------------------------------------------------------------------

  private async enter(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs))
    if (this.unavailable) throw new RuntimeUnavailable({ reason: "memory runtime unavailable (injected)" })
  }

  private get(id: string): MemoryContainer {
    const c = this.byId.get(id)
    if (c === undefined) throw new ContainerNotFound({ id })
    return c
  }

  private emit(c: MemoryContainer, action: string): void {
    const event: RuntimeEvent = { containerId: c.id, action, labels: c.spec.labels, at: this.clock.now() }
    for (const w of this.watchers)
      if (Object.entries(w.labels).every(([k, v]) => c.spec.labels[k] === v)) queueMicrotask(() => w.onEvent(event))
  }

  private exit(c: MemoryContainer, exitCode: number, action: string): void {
    if (c.timer) clearTimeout(c.timer)
    delete c.timer
    c.status = "exited"
    c.exitCode = exitCode
    c.finishedAt = this.clock.now()
    this.emit(c, action)
  }

  async pullImage(image: string): Promise<void> {
    await this.enter()
    this.calls.pull++
    if (this.pullFailures > 0) {
      this.pullFailures--
      throw new ImageNotFound({ image, reason: `pull of ${image} failed (injected)` })
    }
    if (!this.registry.has(image)) throw new ImageNotFound({ image, reason: `repository ${image} not found` })
    this.local.add(image)
  }

  async imageExists(image: string): Promise<boolean> {
    await this.enter()
    return this.local.has(image)
  }

  async create(spec: ContainerSpec): Promise<string> {
    await this.enter()
    this.calls.create++
    const failure = this.createFailures.shift()
    if (failure !== undefined) throw new RuntimeFailure({ operation: "create", reason: failure })
    if (!this.local.has(spec.image)) throw new RuntimeFailure({ operation: "create", reason: `No such image: ${spec.image}`, statusCode: 404 })
    if ([...this.byId.values()].some((c) => c.spec.name === spec.name))
      throw new RuntimeFailure({ operation: "create", reason: `name ${spec.name} is already in use`, statusCode: 409 })
    const id = randomBytes(32).toString("hex")
    this.byId.set(id, { id, spec, status: "created", starts: 0 })
    this.emit(this.byId.get(id)!, "create")
    return id
  }

  async start(id: string): Promise<void> {
    await this.enter()
    this.calls.start++
    const c = this.get(id)
    const failure = this.startFailures.shift()
    if (failure !== undefined)
      throw failure.portInUse ? new PortInUse({ reason: failure.reason }) : new RuntimeFailure({ operation: "start", reason: failure.reason })
    if (c.status === "running") return
    for (const other of this.byId.values())
      if (other !== c && other.status === "running")
        for (const p of c.spec.ports)
          if (other.spec.ports.some((q) => q.hostPort === p.hostPort && q.protocol === p.protocol))
            throw new PortInUse({ reason: `Bind for ${p.hostIp}:${p.hostPort} failed: port is already allocated` })
    c.status = "running"
    c.starts++
    c.startedAt = this.clock.now()
    delete c.exitCode
    delete c.finishedAt
    this.emit(c, "start")
    const b = this.behaviour(c.spec)
    if (b.exitAfterMs !== undefined) {
      c.timer = setTimeout(() => c.status === "running" && this.exit(c, b.exitCode ?? 0, "die"), b.exitAfterMs)
      c.timer.unref()
    }
  }

  async stop(id: string): Promise<void> {
    await this.enter()
    this.calls.stop++
    const c = this.get(id)
    if (c.status === "running") this.exit(c, 0, "die")
  }

  async kill(id: string): Promise<void> {
    await this.enter()
    this.calls.kill++
    const c = this.get(id)
    if (c.status === "running") this.exit(c, 137, "die")
  }

  async remove(id: string): Promise<void> {
    await this.enter()
    this.calls.remove++
    const c = this.byId.get(id)
    if (c === undefined) return
    if (c.timer) clearTimeout(c.timer)
    this.byId.delete(id)
    this.emit(c, "destroy")
  }

  private info(c: MemoryContainer): ContainerInfo {
    return {
      id: c.id,
      name: c.spec.name,
      image: c.spec.image,
      labels: c.spec.labels,
      status: c.status,
      running: c.status === "running",
      ...(c.exitCode !== undefined ? { exitCode: c.exitCode } : {}),
      ...(c.startedAt !== undefined ? { startedAt: c.startedAt } : {}),
      ...(c.finishedAt !== undefined ? { finishedAt: c.finishedAt } : {}),
      ...(c.spec.networkMode !== undefined ? { networkMode: c.spec.networkMode } : {}),
      ipAddress: "10.0.0.2",
    }
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    await this.enter()
    const c = this.byId.get(id)
    return c === undefined ? undefined : this.info(c)
  }

  async list(labels: Readonly<Record<string, string>>): Promise<ReadonlyArray<ContainerInfo>> {
    await this.enter()
    return [...this.byId.values()]
      .filter((c) => Object.entries(labels).every(([k, v]) => c.spec.labels[k] === v))
      .map((c) => this.info(c))
  }

  async exec(id: string): Promise<ExecResult> {
    await this.enter()
    const c = this.get(id)
    if (c.status !== "running") throw new RuntimeFailure({ operation: "exec", reason: `container ${id} is not running`, statusCode: 409 })
    return { exitCode: this.behaviour(c.spec).execExitCode ?? 0, output: "" }
  }

  watch(labels: Readonly<Record<string, string>>, onEvent: (e: RuntimeEvent) => void): Unwatch {
    const w = { labels, onEvent }
    this.watchers.add(w)
    return () => this.watchers.delete(w)
  }

  async version(): Promise<RuntimeVersion> {
    await this.enter()
    return { version: "memory", apiVersion: "1.41" }
  }
}
