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

/** A job's place in the index: its number, where its chain of events ends, and how long it is. */
interface JobChain {
  readonly number: number
  last: number
  count: number
}

/** The last few states a task reported on one host (not its undeploy's): a failed rollout step's evidence. */
export interface TaskStates {
  readonly jobId: string
  readonly host: string
  readonly states: TaskState[]
  readonly positions: number[]
}

/** How many of a task's states the index keeps per host (the evidence of a failed step shows 10). */
export const TASK_STATES_KEPT = 10

const MIN_CAPACITY = 1024

const grow = <A extends Float64Array | Int32Array>(a: A, make: (n: number) => A): A => {
  const grown = make(2 * a.length)
  grown.set(a)
  return grown
}

/**
 * Where each job's events are in the log: every event that mentions a job, per job, in log order,
 * as positions only. The events themselves stay in the log; a job's history is read from it when
 * asked for (master/history-reader.ts), so a master's memory does not grow with the log's length
 * (8 + 4 + 4 bytes per job event here, against a decoded event's few hundred).
 *
 * All job events are in three typed arrays in log order: their positions, their job's number, and
 * (chaining each job's events) the index of the job's previous event, or -1. Folding an event
 * appends to them: no allocation per event. Uncapped (Helios kept 30 per host).
 *
 * Beside it, the last TASK_STATES_KEPT states of each task on each host, which the rollout planner
 * reads synchronously as a failed step's evidence.
 */
export class HistoryIndex {
  /** How many job events the index holds. */
  length = 0
  /** positions[i]: the log position of the i-th job event. Capacity grows by doubling. */
  positions = new Float64Array(MIN_CAPACITY)
  /** jobNumbers[i]: the number of its job (an index into `jobIds`). */
  jobNumbers = new Int32Array(MIN_CAPACITY)
  /** previous[i]: index of the previous event of the same job, or -1. */
  previous = new Int32Array(MIN_CAPACITY)
  /** Job ids, numbered in order of first mention. */
  readonly jobIds: string[] = []
  readonly jobs = new Map<string, JobChain>()
  /** `${jobId}\n${host}` → the task's last states there. */
  readonly taskStates = new Map<string, TaskStates>()

  /** Adds an event at `position` that mentions `jobId` (positions arrive in ascending order). */
  add(jobId: string, position: number): void {
    const i = this.length
    if (i === this.positions.length) {
      this.positions = grow(this.positions, (n) => new Float64Array(n))
      this.jobNumbers = grow(this.jobNumbers, (n) => new Int32Array(n))
      this.previous = grow(this.previous, (n) => new Int32Array(n))
    }
    this.positions[i] = position
    let chain = this.jobs.get(jobId)
    if (chain === undefined) {
      chain = { number: this.jobIds.length, last: -1, count: 0 }
      this.jobIds.push(jobId)
      this.jobs.set(jobId, chain)
    }
    this.jobNumbers[i] = chain.number
    this.previous[i] = chain.last
    chain.last = i
    chain.count++
    this.length = i + 1
  }

  /** Records a task's state on a host, keeping the last TASK_STATES_KEPT. */
  addTaskState(jobId: string, host: string, state: TaskState, position: number): void {
    const key = `${jobId}\n${host}`
    let kept = this.taskStates.get(key)
    if (kept === undefined) this.taskStates.set(key, (kept = { jobId, host, states: [], positions: [] }))
    kept.states.push(state)
    kept.positions.push(position)
    if (kept.states.length > TASK_STATES_KEPT) {
      kept.states.shift()
      kept.positions.shift()
    }
  }

  /** The positions of a job's events, oldest first. */
  positionsOf(jobId: string): number[] {
    const chain = this.jobs.get(jobId)
    if (chain === undefined) return []
    const out = new Array<number>(chain.count)
    for (let i = chain.last, k = chain.count - 1; k >= 0; i = this.previous[i]!, k--) out[k] = this.positions[i]!
    return out
  }

  /** A task's last states on a host, oldest first. */
  taskStatesOf(jobId: string, host: string): ReadonlyArray<{ state: TaskState; position: Position }> {
    const kept = this.taskStates.get(`${jobId}\n${host}`)
    if (kept === undefined) return []
    return kept.states.map((state, i) => ({ state, position: kept.positions[i]! as Position }))
  }
}

export const emptyHistory = (): HistoryIndex => new HistoryIndex()

export const applyHistory = (index: HistoryIndex, stored: StoredEvent): HistoryIndex => {
  const event = stored.envelope.event
  // Task reports are most of a log: name their job without going through jobOf's switch.
  if (event._tag === "TaskStateChanged") {
    index.add(event.jobId, stored.position)
    if (event.goal !== "UNDEPLOY") index.addTaskState(event.jobId, event.host, event.state, stored.position)
    return index
  }
  const jobId = jobOf(event)
  if (jobId !== undefined) index.add(jobId, stored.position)
  return index
}

/** A history line from the event at its position (read back from the log). */
export const entryOf = (stored: StoredEvent): HistoryEntry => ({
  position: stored.position,
  at: stored.envelope.at,
  actor: stored.envelope.actor,
  event: stored.envelope.event,
})

/** How many events the index holds, over all jobs. */
export const historySize = (index: HistoryIndex): number => index.length

/** A task's earlier states on a host (not its undeploy's), oldest first, at most the last 10: a failed rollout step's evidence. */
export const previousStatesFrom =
  (history: () => HistoryIndex): PreviousStates =>
  (jobId, host) =>
    history().taskStatesOf(jobId, host)
