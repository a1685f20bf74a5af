import { envelopeOf } from "../core/envelope.ts"
import type { EventEnvelope, TaskReport } from "../core/events.ts"
import type { AgentId, HostName } from "../core/ids.ts"
import type { JobId } from "../core/job.ts"
import type { Clock } from "./clock.ts"
import { readJson, writeJsonAtomic } from "./state-dir.ts"

/*
 * Task statuses as the agent last reported them (Helios's task-status.json), and the rule for what
 * counts as a real transition: a change of state, goal, throttle, container or error. Only those
 * become TaskStateChanged events (queued in the outbox).
 */

export type TaskStatus = TaskReport

export const isTransition = (prev: TaskStatus | undefined, next: TaskStatus): boolean =>
  prev === undefined ||
  prev.state !== next.state ||
  prev.goal !== next.goal ||
  prev.throttled !== next.throttled ||
  prev.containerId !== next.containerId ||
  prev.error !== next.error

export interface TaskReporterOptions {
  readonly file: string
  readonly host: HostName
  readonly agentId: AgentId
  readonly clock: Clock
  /** Where TaskStateChanged envelopes go (the outbox): whether it took it (durably). */
  readonly emit: (envelope: EventEnvelope) => boolean
  /** The last status the log holds, used when the state dir has none (e.g. it was wiped). */
  readonly logged?: (jobId: string) => TaskStatus | undefined
}

export class TaskReporter {
  private readonly last: Map<string, TaskStatus>

  constructor(private readonly o: TaskReporterOptions) {
    this.last = new Map(Object.entries(readJson<Record<string, TaskStatus>>(o.file) ?? {}))
  }

  get(jobId: string): TaskStatus | undefined {
    return this.last.get(jobId) ?? this.o.logged?.(jobId)
  }

  all(): ReadonlyMap<string, TaskStatus> {
    return this.last
  }

  /** Records a status; emits TaskStateChanged when it is a real transition. Returns whether it did. */
  report(jobId: string, status: TaskStatus): boolean {
    const prev = this.get(jobId)
    if (!isTransition(prev, status)) {
      // No event; keep the freshest ports/env (they change only with the state, in practice).
      if (JSON.stringify([prev?.ports, prev?.env]) !== JSON.stringify([status.ports, status.env])) {
        this.last.set(jobId, status)
        this.persist()
      }
      return false
    }
    // Queued first, recorded after: the other order lost the transition when the agent died between
    // the two, or the outbox could not take it (full, disk full): the restarted agent found it
    // recorded and reported nothing. This order reports it again after such a crash (the same
    // state twice in the log, harmless to the state it folds into).
    const queued = this.o.emit(envelopeOf(
      {
        _tag: "TaskStateChanged",
        jobId: jobId as JobId,
        host: this.o.host,
        state: status.state,
        goal: status.goal,
        throttled: status.throttled,
        ...(status.containerId !== undefined ? { containerId: status.containerId } : {}),
        ...(status.ports !== undefined ? { ports: status.ports } : {}),
        ...(status.env !== undefined ? { env: status.env } : {}),
        ...(status.error !== undefined ? { error: status.error } : {}),
      },
      { at: this.o.clock.now(), actor: { kind: "agent", name: this.o.agentId } },
    ))
    if (!queued) return false
    this.last.set(jobId, status)
    this.persist()
    return true
  }

  /** The job is undeployed: forget its status (the log's JobUndeployed ends the task). */
  forget(jobId: string): void {
    if (this.last.delete(jobId)) this.persist()
  }

  private persist(): void {
    // Not fsynced: the outbox's entry is (agent/outbox.ts), and a record lost with the page cache
    // only makes the restarted agent report the same state again.
    writeJsonAtomic(this.o.file, Object.fromEntries(this.last), { durable: false })
  }
}
