/**
 * A fleet in memory for testing rollout decisions without I/O: commands are decided with the real
 * `decide`, their events folded with the real fold (positions, stream versions and history as the
 * log would assign them). Agents are simulated by `report`. Used by the rollout unit and
 * model-based tests; integration tests use real masters, agents and Docker.
 */
import { Result } from "effect"
import type { Command, HostLabels, Rejection } from "../core/commands.ts"
import { decide, type Decision } from "../core/decide.ts"
import { envelopeOf } from "../core/envelope.ts"
import type { DomainEvent, StoredEvent, StreamId } from "../core/events.ts"
import { position, type AgentId, type HostName, type TaskState, type ThrottleState } from "../core/ids.ts"
import type { Job, JobId } from "../core/job.ts"
import { applyEvent, emptyState, type FleetState } from "../core/state.ts"
import { applyHistory, emptyHistory, previousStatesFrom, type HistoryIndex } from "../projections/history.ts"

export class RolloutSim {
  state: FleetState = emptyState()
  history: HistoryIndex = emptyHistory()
  readonly log: StoredEvent[] = []
  readonly labels = new Map<string, Record<string, string>>()
  now = 1_700_000_000_000

  private append(events: ReadonlyArray<DomainEvent>, bumped: ReadonlyArray<StreamId>, actor: "user" | "master" | "agent"): StoredEvent[] {
    const out = events.map((event, i): StoredEvent => {
      const stored: StoredEvent = {
        position: position(this.state.position + 1),
        envelope: envelopeOf(event, { at: this.now, actor: { kind: actor, name: actor } }),
        bumped: i === events.length - 1 ? bumped : [],
      }
      applyEvent(this.state, stored)
      applyHistory(this.history, stored)
      this.log.push(stored)
      return stored
    })
    return out
  }

  /** Decides a command now and appends what it decided; the rejection otherwise. */
  exec(command: Command, actor: "user" | "master" = "user"): Result.Result<StoredEvent[], Rejection> {
    const decision = decide(command, this.state, {
      now: this.now,
      actor: { kind: actor, name: actor },
      master: "sim-master",
      previousStates: previousStatesFrom(() => this.history),
    })
    if (Result.isFailure(decision)) return Result.fail(decision.failure)
    return Result.succeed(this.append(decision.success.events, Object.keys(decision.success.expected) as StreamId[], actor))
  }

  /**
   * Appends a decision made earlier (by another master, against an older state) as the log would:
   * only if every stream version it expects still holds; "conflict" otherwise, writing nothing.
   */
  appendDecided(decision: Decision, actor: "user" | "master" = "master"): StoredEvent[] | "conflict" {
    for (const [stream, expected] of Object.entries(decision.expected)) {
      const current = this.state.versions.get(stream as StreamId) ?? "none"
      if (current !== expected) return "conflict"
    }
    return this.append(decision.events, Object.keys(decision.expected) as StreamId[], actor)
  }

  /** Like exec, throwing on a rejection. */
  ok(command: Command, actor: "user" | "master" = "user"): StoredEvent[] {
    const r = this.exec(command, actor)
    if (Result.isFailure(r)) throw new Error(`${command._tag} refused: ${r.failure.status} ${r.failure.message}`)
    return r.success
  }

  get hostLabels(): HostLabels {
    return this.labels
  }

  addHost(name: string, labels: Record<string, string> | undefined, up = true): HostName {
    const host = name as HostName
    this.ok({ _tag: "RegisterHost", host, agentId: `agent-${name}` as AgentId }, "master")
    if (up) this.ok({ _tag: "MarkHostUp", host, agentId: `agent-${name}` as AgentId }, "master")
    if (labels !== undefined) this.labels.set(name, labels)
    return host
  }

  createJob(job: Job): JobId {
    this.ok({ _tag: "CreateJob", job })
    return job.id
  }

  /** An agent's report about a task on its host. */
  report(host: string, jobId: string, state: TaskState, throttled: ThrottleState = "NO", error?: string): void {
    this.append(
      [{ _tag: "TaskStateChanged", jobId: jobId as JobId, host: host as HostName, state, goal: "START", throttled, ...(error !== undefined ? { error } : {}) }],
      [],
      "agent",
    )
  }

  /** Runs the group's rollout as the leader would, until it waits or ends; the batches it appended. */
  advance(group: string, maxBatches = 10_000): number {
    let batches = 0
    for (; batches < maxBatches; batches++) {
      const appended = this.ok({ _tag: "AdvanceRollout", group }, "master")
      if (appended.length === 0) break
    }
    return batches
  }

  /** Every agent reports RUNNING for each START deployment it has no RUNNING report for (a healthy fleet). */
  runEverything(): void {
    for (const [host, byJob] of this.state.deployments)
      for (const d of byJob.values())
        if (d.goal === "START" && this.state.tasks.get(host)?.get(d.jobId)?.state !== "RUNNING") this.report(host, d.jobId, "RUNNING")
  }

  events<T extends DomainEvent["_tag"]>(tag: T): Array<Extract<DomainEvent, { _tag: T }>> {
    return this.log.map((e) => e.envelope.event).filter((e): e is Extract<DomainEvent, { _tag: T }> => e._tag === tag)
  }
}
