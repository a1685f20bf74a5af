import type { StoredEvent } from "../core/events.ts"
import type { Job } from "../core/job.ts"
import type { FleetState } from "../core/state.ts"
import { AnswerSegment } from "./large-answer.ts"
import { addTask, arrayIndexOf, ByteList, COMMA, HOSTS_PER_SEGMENT, JOB_STATUS_END, jobHead, jsonKeyOrder, ofDeployment, ofKey, TASK_STATUSES } from "./status-json.ts"

/*
 * The live statuses of polled jobs, kept as runs of hosts that the events touching them mark for
 * rendering again, so that an answer costs what changed since the last one rather than a look at
 * every host (10 jobs × 1,000 hosts looked up and compared took 2–3 ms of a busy master per poll,
 * and as much again for each round of master/status-warmer.ts).
 *
 * A view's runs are by position in the job's hosts, in the order JSON.stringify writes them: run k
 * holds the deployments of hosts [k·n, (k+1)·n), and another run the task statuses of those of them
 * that have one, so a host's first task status changes one run, not every run after it. A task run
 * begins with a comma when a run before it shows a task status; it is rendered again when that
 * changes. A host deployed on for the first time goes at the end (unless its name looks like an
 * integer: JSON.stringify writes those first), changing the last runs; anything else that moves
 * hosts (an undeploy, a deregistered host, the job created again) rebuilds the view from the state.
 * An answer of a view checks first that it still shows the state it follows, the job and the
 * number of hosts it has, and rebuilds otherwise.
 */

interface TaskRun {
  readonly segment: AnswerSegment
  /** No host of the run has a task status: the run shows nothing. */
  readonly empty: boolean
  readonly leadingComma: boolean
}

export class JobStatusView {
  private hosts: string[] = []
  private index = new Map<string, number>()
  /** Per run: its bytes, or undefined when an event changed it since. */
  private deploymentRuns: Array<AnswerSegment | undefined> = []
  private taskRuns: Array<TaskRun | undefined> = []
  /** Hosts moved: built again from the state at the next answer. */
  private stale = true
  private job: Job | undefined
  private state: FleetState | undefined

  constructor(
    readonly jobId: string,
    private readonly hostsPerRun = HOSTS_PER_SEGMENT,
  ) {}

  /** The job's status now, as the parts of an answer (undefined for a job the state does not hold), rendering only the runs that changed. */
  parts(state: FleetState): Array<Buffer | AnswerSegment> | undefined {
    const job = state.jobs.get(this.jobId)
    if (job === undefined) {
      this.stale = true
      return undefined
    }
    if (this.stale || state !== this.state || job !== this.job || this.hosts.length !== (state.jobHosts.get(this.jobId)?.size ?? 0)) this.rebuild(state, job)
    const parts: Array<Buffer | AnswerSegment> = [jobHead(job)]
    for (let k = 0; k < this.deploymentRuns.length; k++) parts.push((this.deploymentRuns[k] ??= this.renderDeployments(state, k)))
    parts.push(TASK_STATUSES)
    let shown = false
    for (let k = 0; k < this.taskRuns.length; k++) {
      let run = this.taskRuns[k]
      if (run === undefined || (!run.empty && run.leadingComma !== shown)) run = this.taskRuns[k] = this.renderTasks(state, job, k, shown)
      if (run.empty) continue
      parts.push(run.segment)
      shown = true
    }
    parts.push(JOB_STATUS_END)
    return parts
  }

  /** A host of the job first deployed on, or deployed on again (a new deployment object). */
  deployed(host: string): void {
    if (this.stale) return
    if (this.index.has(host)) return this.touch(host, "deployment")
    // JSON.stringify writes integer-like keys first: such a host does not go at the end.
    if (arrayIndexOf(host) >= 0) return this.markStale()
    this.index.set(host, this.hosts.length)
    this.hosts.push(host)
    const k = Math.floor((this.hosts.length - 1) / this.hostsPerRun)
    this.deploymentRuns[k] = undefined
    this.taskRuns[k] = undefined
  }

  /** A host gone from the fleet: if it was one of the job's, the hosts after it moved. */
  hostRemoved(host: string): void {
    if (this.index.has(host)) this.markStale()
  }

  /** Hosts moved (an undeploy, the job removed or created again): built again from the state at the next answer. */
  markStale(): void {
    this.stale = true
  }

  /** A host's task status or deployment replaced. */
  touch(host: string, what: "task" | "deployment"): void {
    const i = this.index.get(host)
    if (this.stale || i === undefined) return
    const k = Math.floor(i / this.hostsPerRun)
    if (what === "task") this.taskRuns[k] = undefined
    else this.deploymentRuns[k] = undefined
  }

  private rebuild(state: FleetState, job: Job): void {
    this.state = state
    this.job = job
    this.hosts = jsonKeyOrder([...(state.jobHosts.get(this.jobId) ?? [])])
    this.index = new Map(this.hosts.map((h, i) => [h, i]))
    const runs = Math.ceil(this.hosts.length / this.hostsPerRun)
    this.deploymentRuns = new Array<AnswerSegment | undefined>(runs).fill(undefined)
    this.taskRuns = new Array<TaskRun | undefined>(runs).fill(undefined)
    this.stale = false
  }

  private renderDeployments(state: FleetState, k: number): AnswerSegment {
    const out = new ByteList()
    const to = Math.min((k + 1) * this.hostsPerRun, this.hosts.length)
    for (let i = k * this.hostsPerRun; i < to; i++) {
      const host = this.hosts[i]!
      if (i > 0) out.add(COMMA)
      out.add(ofKey(host))
      out.add(ofDeployment(state.deployments.get(host as never)!.get(this.jobId)!))
    }
    const size = out.size
    return new AnswerSegment(Buffer.concat(out.take(), size))
  }

  private renderTasks(state: FleetState, job: Job, k: number, leadingComma: boolean): TaskRun {
    const out = new ByteList()
    const to = Math.min((k + 1) * this.hostsPerRun, this.hosts.length)
    let empty = true
    for (let i = k * this.hostsPerRun; i < to; i++) {
      const host = this.hosts[i]!
      const task = state.tasks.get(host as never)?.get(this.jobId)
      if (task === undefined) continue
      if (!empty || leadingComma) out.add(COMMA)
      empty = false
      out.add(ofKey(host))
      addTask(out, job, task)
    }
    const size = out.size
    return { segment: new AnswerSegment(Buffer.concat(out.take(), size)), empty, leadingComma }
  }
}

/** The views of the jobs being polled, following the events applied to the live state. */
export class JobStatusViews {
  private readonly views = new Map<string, JobStatusView>()

  constructor(private readonly hostsPerRun = HOSTS_PER_SEGMENT) {}

  /** The view of a job, made on first use. */
  of(jobId: string): JobStatusView {
    let view = this.views.get(jobId)
    if (view === undefined) this.views.set(jobId, (view = new JobStatusView(jobId, this.hostsPerRun)))
    return view
  }

  has(jobId: string): boolean {
    return this.views.has(jobId)
  }

  drop(jobId: string): void {
    this.views.delete(jobId)
  }

  /** Events just applied to the live state (LiveProjection.onEvents: after the batch, before anything else runs). */
  onEvents(events: ReadonlyArray<StoredEvent>): void {
    if (this.views.size === 0) return
    for (const e of events) {
      const event = e.envelope.event
      switch (event._tag) {
        case "TaskStateChanged":
          this.views.get(event.jobId)?.touch(event.host, "task")
          break
        case "DeploymentGoalChanged":
          this.views.get(event.jobId)?.touch(event.host, "deployment")
          break
        case "JobDeployed":
          this.views.get(event.job.id)?.deployed(event.host)
          break
        case "JobUndeployed":
        case "JobRemoved":
          this.views.get(event.jobId)?.markStale()
          break
        case "JobCreated":
          this.views.get(event.job.id)?.markStale()
          break
        case "HostDeregistered":
          for (const view of this.views.values()) view.hostRemoved(event.host)
          break
        case "HostRegistered":
        case "HostWentUp":
        case "HostWentDown":
        case "DeploymentGroupCreated":
        case "DeploymentGroupRemoved":
        case "RolloutStarted":
        case "RolloutStepStarted":
        case "RolloutStepSucceeded":
        case "RolloutStepSkipped":
        case "RolloutStepFailed":
        case "RolloutFinished":
        case "RolloutStopped":
        case "RolloutAwaitingPromotion":
        case "RolloutPromoted":
          // Deployments and task statuses change only through the events above.
          break
        default: {
          const unhandled: never = event
          return unhandled
        }
      }
    }
  }
}
