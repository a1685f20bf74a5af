import type { Command, CommandContext, RejectionStatus } from "../core/commands.ts"
import type { DomainEvent, StreamId } from "../core/events.ts"
import type { Goal, TaskState, ThrottleState } from "../core/ids.ts"
import type { Job } from "../core/job.ts"

/*
 * A plain model of the master's state machine, written from the spec (Helios's behaviour and
 * the README), NOT from core/state.ts or core/decide.ts: a few Maps and Sets, and a function that
 * says what each command must do. The model-based test runs the same commands against the model
 * and against decide + applyEvent and compares after every step.
 *
 * What the model knows that the real code computes: whether a definition's id carries the hash
 * Helios computes (the test's generator knows which ids it tampered with) and when a job expires.
 */

export interface ModelJobInfo {
  /** false when the id's hash is not the one Helios computes for the definition. */
  readonly idMatchesDefinition: boolean
  readonly expiresMs?: number
}

export interface ModelHost {
  readonly agentId: string
  readonly up: boolean
}

export interface ModelDeployment {
  readonly jobId: string
  readonly host: string
  readonly goal: Goal
  readonly deployerUser?: string
  readonly deployerMaster?: string
}

export interface ModelTask {
  readonly state: TaskState
  readonly goal: Goal
  readonly throttled: ThrottleState
  readonly containerId?: string
}

/** What a command must do: be refused with a status, or be accepted with exactly these events. */
export type Outcome =
  | { readonly kind: "rejected"; readonly status: RejectionStatus }
  | {
      readonly kind: "accepted"
      /** Empty: accepted as a no-op (nothing to append). */
      readonly events: ReadonlyArray<DomainEvent>
      /** The streams whose versions the decision read, with the versions it must expect. */
      readonly expected: Readonly<Record<string, number | "none">>
    }

const key = (jobId: string, host: string) => `${jobId}\u0000${host}`

/** `port/protocol` of every static external port of a job. */
export const staticPortsOf = (job: Job): Set<string> =>
  new Set(
    Object.values(job.ports ?? {})
      .filter((p) => p.externalPort !== undefined)
      .map((p) => `${p.externalPort}/${p.protocol ?? "tcp"}`),
  )

export class FleetModel {
  readonly jobs = new Map<string, Job>()
  readonly hosts = new Map<string, ModelHost>()
  /** One entry per (job, host) deployment, in deployment order. */
  readonly deployments = new Map<string, ModelDeployment>()
  /** Latest task report per deployment (only while deployed). */
  readonly tasks = new Map<string, ModelTask & { readonly jobId: string; readonly host: string }>()
  /** Per stream: how many accepted appends listed it. */
  readonly appends = new Map<string, number>()
  /** Events appended so far (= the log's head position). */
  eventCount = 0

  /** The version a stream has now: appends listing it minus one; "none" before its first. */
  version(stream: string): number | "none" {
    const n = this.appends.get(stream) ?? 0
    return n === 0 ? "none" : n - 1
  }

  private expecting(streams: ReadonlyArray<string>): Record<string, number | "none"> {
    return Object.fromEntries(streams.map((s) => [s, this.version(s)]))
  }

  deploymentsOf(jobId: string): ModelDeployment[] {
    return [...this.deployments.values()].filter((d) => d.jobId === jobId)
  }

  deploymentsOn(host: string): ModelDeployment[] {
    return [...this.deployments.values()].filter((d) => d.host === host)
  }

  private tokenOk(jobId: string, token: string | undefined): boolean {
    // Helios's rule: the given token equals the job's, both empty when absent.
    return (this.jobs.get(jobId)?.token ?? "") === (token ?? "")
  }

  private portsClash(job: Job, host: string): boolean {
    const wanted = staticPortsOf(job)
    return this.deploymentsOn(host).some((d) => {
      const other = this.jobs.get(d.jobId)
      return other !== undefined && [...staticPortsOf(other)].some((p) => wanted.has(p))
    })
  }

  /** What the command must do in the model's current state. */
  outcome(command: Command, ctx: CommandContext, info: (job: Job) => ModelJobInfo): Outcome {
    const no = (status: RejectionStatus): Outcome => ({ kind: "rejected", status })
    const yes = (events: DomainEvent[], streams: string[]): Outcome => ({
      kind: "accepted",
      events,
      expected: this.expecting(streams),
    })
    const noop: Outcome = { kind: "accepted", events: [], expected: {} }
    const jobStream = (id: string) => `job:${id}`
    const hostStream = (h: string) => `host:${h}`

    switch (command._tag) {
      case "CreateJob": {
        const { job } = command
        const { idMatchesDefinition, expiresMs } = info(job)
        if (!idMatchesDefinition || (expiresMs !== undefined && expiresMs < ctx.now)) return no("INVALID_JOB_DEFINITION")
        if (this.jobs.has(job.id)) return no("JOB_ALREADY_EXISTS")
        return yes([{ _tag: "JobCreated", job: { ...job, created: ctx.now, creatingUser: ctx.actor.name } }], [jobStream(job.id)])
      }
      case "RemoveJob": {
        if (!this.jobs.has(command.jobId)) return no("JOB_NOT_FOUND")
        if (!this.tokenOk(command.jobId, command.token)) return no("FORBIDDEN")
        if (this.deploymentsOf(command.jobId).length > 0) return no("STILL_IN_USE")
        return yes([{ _tag: "JobRemoved", jobId: command.jobId }], [jobStream(command.jobId)])
      }
      case "DeployJob": {
        const job = this.jobs.get(command.jobId)
        if (job === undefined) return no("JOB_NOT_FOUND")
        if (!this.hosts.has(command.host)) return no("HOST_NOT_FOUND")
        if (!this.tokenOk(command.jobId, command.token)) return no("FORBIDDEN")
        if (this.deployments.has(key(command.jobId, command.host))) return no("JOB_ALREADY_DEPLOYED")
        if (this.portsClash(job, command.host)) return no("PORT_CONFLICT")
        return yes(
          [
            {
              _tag: "JobDeployed",
              job,
              host: command.host,
              goal: command.goal,
              ...(ctx.actor.kind === "user" ? { deployerUser: ctx.actor.name } : {}),
              ...(ctx.master !== undefined ? { deployerMaster: ctx.master } : {}),
            },
          ],
          [jobStream(command.jobId), hostStream(command.host)],
        )
      }
      case "UndeployJob": {
        if (!this.hosts.has(command.host)) return no("HOST_NOT_FOUND")
        if (!this.jobs.has(command.jobId)) return no("JOB_NOT_FOUND")
        if (!this.deployments.has(key(command.jobId, command.host))) return no("JOB_NOT_DEPLOYED")
        if (!this.tokenOk(command.jobId, command.token)) return no("FORBIDDEN")
        return yes(
          [{ _tag: "JobUndeployed", jobId: command.jobId, host: command.host }],
          [jobStream(command.jobId), hostStream(command.host)],
        )
      }
      case "SetGoal": {
        if (!this.hosts.has(command.host)) return no("HOST_NOT_FOUND")
        const d = this.deployments.get(key(command.jobId, command.host))
        if (d === undefined) return no("JOB_NOT_DEPLOYED")
        if (!this.tokenOk(command.jobId, command.token)) return no("FORBIDDEN")
        if (d.goal === command.goal) return noop
        return yes(
          [{ _tag: "DeploymentGoalChanged", jobId: command.jobId, host: command.host, goal: command.goal }],
          [hostStream(command.host)],
        )
      }
      case "RegisterHost": {
        if (this.hosts.get(command.host)?.agentId === command.agentId) return noop
        return yes([{ _tag: "HostRegistered", host: command.host, agentId: command.agentId }], [hostStream(command.host)])
      }
      case "DeregisterHost": {
        if (!this.hosts.has(command.host)) return no("HOST_NOT_FOUND")
        const on = this.deploymentsOn(command.host)
        return yes(
          [
            ...on.map((d): DomainEvent => ({ _tag: "JobUndeployed", jobId: d.jobId as never, host: command.host })),
            { _tag: "HostDeregistered", host: command.host },
          ],
          [...on.map((d) => jobStream(d.jobId)), hostStream(command.host)],
        )
      }
      case "MarkHostUp":
      case "MarkHostDown": {
        const h = this.hosts.get(command.host)
        if (h === undefined) return no("HOST_NOT_FOUND")
        const up = command._tag === "MarkHostUp"
        if (h.up === up) return noop
        // Liveness is a fact the agent's session reports: no stream version guards it.
        return yes(
          [command._tag === "MarkHostUp" ? { _tag: "HostWentUp", host: command.host, agentId: command.agentId } : { _tag: "HostWentDown", host: command.host }],
          [],
        )
      }
      case "CreateDeploymentGroup":
      case "RemoveDeploymentGroup":
      case "StartRollout":
      case "RolloutOnHostsChange":
      case "StopRollout":
      case "PromoteRollout":
      case "Rollback":
      case "AdvanceRollout":
        // Never generated here: rollouts have their own model (properties/rollout-model.test.ts).
        throw new Error(`${command._tag} is not modelled by the job/host model`)
      case "ReportTaskState": {
        // A fact from an agent: always recorded (even about a deployment that is gone), never guarded.
        const { _tag, ...status } = command
        return yes([{ _tag: "TaskStateChanged", ...status }], [])
      }
    }
  }

  /** Moves the model by an outcome it computed. */
  accept(outcome: Outcome & { kind: "accepted" }): void {
    if (outcome.events.length === 0) return
    for (const s of Object.keys(outcome.expected)) this.appends.set(s, (this.appends.get(s) ?? 0) + 1)
    this.eventCount += outcome.events.length
    for (const e of outcome.events) this.apply(e)
  }

  private apply(e: DomainEvent): void {
    switch (e._tag) {
      case "JobCreated":
        this.jobs.set(e.job.id, e.job)
        return
      case "JobRemoved":
        this.jobs.delete(e.jobId)
        return
      case "JobDeployed": {
        const { job, _tag, ...rest } = e
        this.deployments.set(key(job.id, e.host), { jobId: job.id, ...rest })
        return
      }
      case "DeploymentGoalChanged": {
        const k = key(e.jobId, e.host)
        const d = this.deployments.get(k)
        if (d) this.deployments.set(k, { ...d, goal: e.goal })
        return
      }
      case "JobUndeployed":
        this.deployments.delete(key(e.jobId, e.host))
        this.tasks.delete(key(e.jobId, e.host))
        return
      case "HostRegistered":
        this.hosts.set(e.host, { agentId: e.agentId, up: this.hosts.get(e.host)?.up ?? false })
        return
      case "HostDeregistered":
        for (const d of this.deploymentsOn(e.host)) {
          this.deployments.delete(key(d.jobId, d.host))
          this.tasks.delete(key(d.jobId, d.host))
        }
        this.hosts.delete(e.host)
        return
      case "HostWentUp":
      case "HostWentDown": {
        const h = this.hosts.get(e.host)
        if (h) this.hosts.set(e.host, { ...h, up: e._tag === "HostWentUp" })
        return
      }
      case "TaskStateChanged": {
        const k = key(e.jobId, e.host)
        // The end of an undeployed task is history only: it never makes a task (re)appear.
        if (!this.deployments.has(k) || e.goal === "UNDEPLOY") return
        this.tasks.set(k, {
          jobId: e.jobId,
          host: e.host,
          state: e.state,
          goal: e.goal,
          throttled: e.throttled,
          ...(e.containerId !== undefined ? { containerId: e.containerId } : {}),
        })
        return
      }
    }
  }
}

/** Streams the model has seen appended to, for comparing against the real versions map. */
export const modelVersions = (m: FleetModel): Map<StreamId, number> =>
  new Map([...m.appends].map(([s, n]) => [s as StreamId, n - 1]))
