import { jobOf, type StoredEvent } from "../core/events.ts"
import type { Actor, Position, TaskState } from "../core/ids.ts"
import type { PreviousStates } from "../core/rollout-step.ts"

/** One line of a job's audit trail: what happened, where, by whom, when, at which position. */
export interface HistoryEntry {
  readonly position: number
  readonly at: number
  /** Kept as the object; formatted ("user:alice") when served, not once per folded event. */
  readonly actor: Actor
  readonly event: StoredEvent["envelope"]["event"]
}

/** Where a job's chain of events ends, and how long it is. */
interface JobChain {
  last: number
  count: number
}

const MIN_CAPACITY = 1024

/**
 * Every event that mentions a job, per job, in log order. Uncapped (Helios kept 30 per host).
 *
 * The index holds the stored events themselves (the decoded envelopes, not copies), once, in one
 * array in log order; each job's events are chained through `previous` (an Int32Array: index of
 * the job's previous event in `events`, or -1). Folding an event appends it and links it: no
 * allocation per event, no write into one of thousands of per-job arrays. A job's history is
 * collected when it is read (`historyOf`), one job at a time; a snapshot takes `events` as it is.
 */
export class HistoryIndex {
  /** Every job event, in log order. */
  readonly events: StoredEvent[] = []
  /** jobId → its last event's index in `events` and its number of events, in order of first mention. */
  readonly jobs = new Map<string, JobChain>()
  /** previous[i]: index in `events` of the previous event of the same job, or -1. Capacity grows by doubling. */
  previous = new Int32Array(MIN_CAPACITY)

  /** Adds an event that mentions `jobId`. */
  add(jobId: string, stored: StoredEvent): void {
    const i = this.events.length
    this.events.push(stored)
    if (i === this.previous.length) {
      const grown = new Int32Array(2 * i)
      grown.set(this.previous)
      this.previous = grown
    }
    const chain = this.jobs.get(jobId)
    if (chain === undefined) {
      this.previous[i] = -1
      this.jobs.set(jobId, { last: i, count: 1 })
    } else {
      this.previous[i] = chain.last
      chain.last = i
      chain.count++
    }
  }

  /** A job's events, oldest first. */
  of(jobId: string): StoredEvent[] {
    const chain = this.jobs.get(jobId)
    if (chain === undefined) return []
    const out = new Array<StoredEvent>(chain.count)
    for (let i = chain.last, k = chain.count - 1; k >= 0; i = this.previous[i]!, k--) out[k] = this.events[i]!
    return out
  }

  /** The job event at `position`, if there is one (binary search: `events` is in log order). */
  at(position: number): StoredEvent | undefined {
    let lo = 0
    let hi = this.events.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const p = this.events[mid]!.position
      if (p === position) return this.events[mid]
      if (p < position) lo = mid + 1
      else hi = mid - 1
    }
    return undefined
  }
}

export const emptyHistory = (): HistoryIndex => new HistoryIndex()

export const applyHistory = (index: HistoryIndex, stored: StoredEvent): HistoryIndex => {
  const event = stored.envelope.event
  // Task reports are most of a log: name their job without going through jobOf's switch.
  const jobId = event._tag === "TaskStateChanged" ? event.jobId : jobOf(event)
  if (jobId !== undefined) index.add(jobId, stored)
  return index
}

const entryOf = (stored: StoredEvent): HistoryEntry => ({
  position: stored.position,
  at: stored.envelope.at,
  actor: stored.envelope.actor,
  event: stored.envelope.event,
})

export const historyOf = (index: HistoryIndex, jobId: string): ReadonlyArray<HistoryEntry> => index.of(jobId).map(entryOf)

/** How many events the index holds, over all jobs. */
export const historySize = (index: HistoryIndex): number => index.events.length

/** A task's earlier states on a host (not its undeploy's), oldest first, at most the last 10: a failed rollout step's evidence. */
export const previousStatesFrom =
  (history: () => HistoryIndex): PreviousStates =>
  (jobId, host) => {
    const out: Array<{ state: TaskState; position: Position }> = []
    for (const e of history().of(jobId)) {
      const event = e.envelope.event
      if (event._tag === "TaskStateChanged" && event.host === host && event.goal !== "UNDEPLOY") out.push({ state: event.state, position: e.position })
    }
    return out.slice(-10)
  }
