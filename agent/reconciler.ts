import type { ContainerRuntime, RuntimeEvent } from "../core/container-runtime.ts"
import type { Job } from "../core/job.ts"
import { LABEL_JOB, namespaceLabels } from "./container-spec.ts"
import type { DesiredDeployment } from "../core/desired-state.ts"
import { errorText, type Logger } from "./logger.ts"
import type { PortAllocator } from "./ports.ts"
import { readJson, writeJsonAtomic } from "./state-dir.ts"
import { Supervisor, type ExecutionGoal, type SupervisorDeps } from "./supervisor.ts"

/*
 * The reconcile loop (Helios's Agent.reconcile), kept apart from the per-job supervisors:
 *   1. merge the desired deployments into executions {job, goal, ports, container}, persisted in
 *      `<state-dir>/executions.json`; a deployment that disappeared (undeployed, the host
 *      deregistered, the job expired) becomes goal UNDEPLOY: its supervisor stops the container,
 *      reports STOPPING/STOPPED with goal UNDEPLOY, removes it, and the execution is forgotten;
 *   2. allocate ports for executions that have none (stable: they are persisted);
 *   3. create a supervisor per execution and push its goal; forget finished undeploys;
 *   4. reap: remove containers in this agent's namespace that no execution owns.
 * It runs on every desired-state change, on engine events and periodically.
 */

export interface Execution {
  readonly job: Job
  readonly goal: ExecutionGoal
  /** Port name → external port, once allocated. */
  readonly ports?: Readonly<Record<string, number>>
  readonly containerId?: string
}

export interface ReconcilerOptions {
  readonly file: string
  readonly agentId: string
  readonly host: string
  readonly runtime: ContainerRuntime
  readonly allocator: PortAllocator
  readonly logger: Logger
  readonly desired: () => Readonly<Record<string, DesiredDeployment>>
  /** While true, passes do nothing (e.g. the host is registered to another agent). */
  readonly paused?: () => boolean
  /** Everything a supervisor needs except the callbacks the reconciler provides. */
  readonly supervisorDeps: Omit<SupervisorDeps, "onContainer" | "reallocatePorts" | "onFinished">
  /** Hears how long each pass took, in seconds (metrics). */
  readonly onPass?: ((seconds: number) => void) | undefined
}

const portRequests = (job: Job) =>
  Object.fromEntries(
    Object.entries(job.ports ?? {}).map(([name, p]) => [
      name,
      { ...(p.externalPort !== undefined ? { externalPort: p.externalPort } : {}), protocol: p.protocol ?? "tcp" },
    ]),
  )

export class Reconciler {
  private executions: Map<string, Execution>
  private readonly supervisors = new Map<string, Supervisor>()
  private running: Promise<void> | undefined
  private again = false
  private closed = false
  /** Reconcile passes completed (for tests and the fleet benchmark). */
  passes = 0
  private readonly passWaiters: Array<{ after: number; resolve: () => void }> = []

  constructor(private readonly o: ReconcilerOptions) {
    this.executions = new Map(Object.entries(readJson<Record<string, Execution>>(o.file) ?? {}))
  }

  /** Executions as persisted (job, goal, ports, container). */
  snapshot(): ReadonlyMap<string, Execution> {
    return this.executions
  }

  supervisor(jobId: string): Supervisor | undefined {
    return this.supervisors.get(jobId)
  }

  /** Asks for a pass; passes never overlap, and a request during a pass gives one more after it. */
  trigger(): void {
    if (this.closed) return
    if (this.running) {
      this.again = true
      return
    }
    const startedAt = performance.now()
    this.running = this.pass()
      .catch((e) => this.o.logger.log("error", "reconcile failed", { error: errorText(e) }))
      .finally(() => {
        this.o.onPass?.((performance.now() - startedAt) / 1000)
        this.running = undefined
        this.passes++
        for (const w of this.passWaiters.filter((x) => x.after < this.passes)) {
          this.passWaiters.splice(this.passWaiters.indexOf(w), 1)
          w.resolve()
        }
        if (this.again) {
          this.again = false
          this.trigger()
        }
      })
  }

  /** Resolves after the next complete pass that starts after this call. */
  nextPass(): Promise<void> {
    if (this.closed) return Promise.resolve()
    const after = this.passes + (this.running ? 1 : 0)
    this.trigger()
    return new Promise((resolve) => this.passWaiters.push({ after, resolve }))
  }

  /** An engine event: wake the job's supervisor, and reconcile when containers come or go. */
  containerEvent(e: RuntimeEvent): void {
    const jobId = e.labels[LABEL_JOB]
    if (jobId !== undefined) this.supervisors.get(jobId)?.containerEvent()
    if (e.action === "destroy" || e.action === "create" || e.action === "die") this.trigger()
  }

  private persist(): void {
    writeJsonAtomic(this.o.file, Object.fromEntries(this.executions))
  }

  private update(jobId: string, f: (e: Execution) => Execution | undefined): void {
    const e = this.executions.get(jobId)
    if (e === undefined) return
    const next = f(e)
    if (next === undefined) this.executions.delete(jobId)
    else this.executions.set(jobId, next)
    this.persist()
  }

  /** The last port allocation's turn (allocating). */
  private allocations: Promise<unknown> = Promise.resolve()

  /**
   * Port allocations one at a time, each recording its ports before the next looks at what is
   * used: a supervisor's reallocation (after "port is already allocated") and a reconcile pass
   * picking at once, both during their bind checks, handed out the same port.
   */
  private allocating<T>(allocate: () => Promise<T>): Promise<T> {
    const turn = this.allocations.then(allocate, allocate)
    this.allocations = turn.catch(() => undefined)
    return turn
  }

  private usedPorts(except?: string): Set<number> {
    const used = new Set<number>()
    for (const [jobId, e] of this.executions) if (jobId !== except) for (const p of Object.values(e.ports ?? {})) used.add(p)
    return used
  }

  private async pass(): Promise<void> {
    if (this.closed) return
    if (this.o.paused?.()) {
      this.o.logger.log("debug", "reconcile paused")
      return
    }
    const desired = this.o.desired()
    let changed = false

    // 1. Merge desired deployments into executions.
    for (const [jobId, d] of Object.entries(desired)) {
      const e = this.executions.get(jobId)
      if (e === undefined || e.goal !== d.goal) {
        this.executions.set(jobId, { ...(e ?? {}), job: d.job, goal: d.goal })
        changed = true
      }
    }
    for (const [jobId, e] of this.executions)
      if (desired[jobId] === undefined && e.goal !== "UNDEPLOY") {
        this.executions.set(jobId, { ...e, goal: "UNDEPLOY" })
        changed = true
      }

    // 2. Ports for executions that have none (not for undeploys).
    for (const [jobId, e] of this.executions) {
      if (e.ports !== undefined || e.goal === "UNDEPLOY") continue
      const ports = await this.allocating(async () => {
        const picked = await this.o.allocator.allocate(portRequests(e.job), this.usedPorts(jobId))
        if (picked !== undefined) this.executions.set(jobId, { ...(this.executions.get(jobId) ?? e), ports: picked })
        return picked
      })
      if (ports === undefined) {
        this.o.logger.log("warn", "no ports left for job; it stays pending", { job: jobId })
        continue
      }
      changed = true
    }
    if (changed) this.persist()
    if (this.closed) return

    // 3. Supervisors: one per execution that has ports; push goals; drop finished undeploys.
    for (const [jobId, e] of this.executions) {
      const s = this.supervisors.get(jobId)
      if (s !== undefined) {
        s.setGoal(e.goal)
        continue
      }
      if (e.ports === undefined) {
        if (e.goal === "UNDEPLOY") {
          // Never got ports, so never ran here; still remove anything of it (e.g. from before a crash).
          this.startSupervisor(jobId, e, {})
        }
        continue
      }
      this.startSupervisor(jobId, e, e.ports)
    }

    // 4. Reap containers in our namespace that belong to no execution.
    try {
      const ours = await this.o.runtime.list(namespaceLabels(this.o.agentId, this.o.host))
      for (const c of ours) {
        const jobId = c.labels[LABEL_JOB]
        if (jobId !== undefined && (this.executions.has(jobId) || this.supervisors.has(jobId))) continue
        this.o.logger.log("info", "reaping a container no deployment owns", { id: c.id, name: c.name, job: jobId })
        await this.o.runtime.remove(c.id)
      }
    } catch (e) {
      this.o.logger.log("warn", "reaping failed", { error: errorText(e) })
    }
  }

  private startSupervisor(jobId: string, e: Execution, ports: Readonly<Record<string, number>>): void {
    const s = new Supervisor(e.job, { ...ports }, e.goal, e.containerId, {
      ...this.o.supervisorDeps,
      onContainer: (id, containerId) =>
        this.update(id, (x) => {
          const { containerId: _, ...rest } = x
          return containerId === undefined ? rest : { ...rest, containerId }
        }),
      reallocatePorts: (id, avoid) =>
        this.allocating(async () => {
          const x = this.executions.get(id)
          if (x === undefined) return undefined
          const ports = await this.o.allocator.allocate(portRequests(x.job), this.usedPorts(id), avoid)
          if (ports !== undefined) this.update(id, (y) => ({ ...y, ports }))
          return ports
        }),
      onFinished: (id) => {
        this.supervisors.delete(id)
        // Forget the execution unless it was deployed again meanwhile.
        if (this.executions.get(id)?.goal === "UNDEPLOY") this.update(id, () => undefined)
        this.trigger()
      },
    })
    this.supervisors.set(jobId, s)
  }

  /** Stops reconciling and supervising; containers are left as they are. */
  async close(): Promise<void> {
    this.closed = true
    await this.running
    for (const w of this.passWaiters.splice(0)) w.resolve()
    await Promise.all([...this.supervisors.values()].map((s) => s.close()))
    this.supervisors.clear()
  }
}
