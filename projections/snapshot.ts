import { pack, unpack } from "msgpackr"
import type { EventEnvelope, StoredEvent, StreamId } from "../core/events.ts"
import type { Actor, HostName, Position } from "../core/ids.ts"
import type { Job } from "../core/job.ts"
import { cloneState, type Deployment, type FleetState, type GroupRecord, type HostRecord, type TaskStatus } from "../core/state.ts"
import { CommandIndex } from "./commands.ts"
import type { TaskState } from "../core/ids.ts"
import { applyHistory, emptyHistory, HistoryIndex } from "./history.ts"
import type { ReadModel } from "./read-model.ts"

/*
 * A snapshot is the read model as plain data, so a master's cold start reads it plus the log's
 * tail instead of the whole log. snapshot + tail == full replay (properties/ checks it), and a
 * snapshot of another format is refused (decodeSnapshot throws; master/snapshots.ts then starts
 * from the log).
 *
 * Format 4 stores the history compactly. The history is most of a read model (every job event,
 * with its envelope), and its events repeat themselves: the same job ids, hosts, states, actors,
 * port maps and environments over and over. So its events are written once each, in log order, as
 * one flat array of small numbers (`rows`), against three tables:
 *
 * - `strings`: every distinct string an event's top-level field or an actor holds, once;
 * - `values`: every distinct non-string field value (a job, a port map, an environment), once,
 *   told apart by their JSON text (so -0 is stored as 0, as msgpack itself does);
 * - `shapes`: the key lists of the events, once each (an event is rebuilt with its keys in order).
 *
 * Per event: position and time as the difference from the previous event's, the schema version,
 * the actor (two string indexes), the bumped streams (a count, then string indexes), the shape,
 * then each field: a string's index (>= 0) or -1 - a value's index. Command ids are unique, so
 * they are kept apart, as they are (`commandIds`, null for none). Decoding rebuilds the events
 * (sharing equal strings and values between them, which also shrinks the restored model) and
 * replays them into the history index, which gives the same index as the fold that built it.
 * The command index (hashes and positions, projections/commands.ts) is stored as its occupied
 * slots, put back in the same slots.
 *
 * Format 2 (every history entry as a msgpack map, command ids as strings) took ~400 bytes per
 * event; format 4 ~80. (Format 3 was format 4 with the command ids as strings, for an hour.)
 *
 * Format 5 added the deployment groups (with their latest rollouts), as they are. A build that
 * knows only format 4 refuses format 5 and replays the log, where it meets the group events it
 * cannot decode and says so, instead of dropping the groups silently.
 *
 * Format 6 stores the history as the index it now is (projections/history.ts): the job ids, then
 * per job event its position (as the difference from the previous one) and its job's number, and
 * each task's last states per host. The events themselves stay in the log. A format 4 or 5
 * snapshot is refused like any other: the first start of this build replays the log once.
 */

export const SNAPSHOT_FORMAT = 6

/** A string or value table: each distinct entry once, numbered in order of first use. */
class Table<K, V> {
  readonly index = new Map<K, number>()
  readonly entries: V[] = []
  of(key: K, value: V): number {
    let i = this.index.get(key)
    if (i === undefined) {
      i = this.entries.length
      this.index.set(key, i)
      this.entries.push(value)
    }
    return i
  }
}

const NO_STREAMS: ReadonlyArray<StreamId> = Object.freeze([])

interface RawSnapshot {
  format: number
  position: number
  jobs: Array<[string, Job]>
  hosts: Array<[HostName, HostRecord]>
  deployments: Array<[HostName, Array<[string, Deployment]>]>
  jobHosts: Array<[string, HostName[]]>
  tasks: Array<[HostName, Array<[string, TaskStatus]>]>
  /** Absent in format 4. */
  groups?: Array<[string, GroupRecord]>
  versions: Array<[StreamId, number]>
  commands: { slots: number; at: number[]; hashes: number[]; positions: number[] }
  history: RawHistory
}

/** Format 6's history: the index. `rows`: per job event, its position's difference from the previous one and its job's number. */
interface RawHistory {
  jobIds: string[]
  rows: number[]
  /** Per (task, host): job id, host, states, their positions. */
  taskStates: Array<[string, string, TaskState[], number[]]>
}

/** The index's first `count` events as rows (in parts of `slice` events: no array grows past a slice), yielding after each part. */
function* historyRowsSteps(positions: Float64Array, jobNumbers: Int32Array, count: number, slice: number): Generator<void, number[][]> {
  const parts: number[][] = []
  let previous = 0
  for (let from = 0; from < count; from += slice) {
    if (from > 0) yield
    const to = Math.min(count, from + slice)
    const rows = new Array<number>(2 * (to - from))
    for (let i = from, r = 0; i < to; i++) {
      rows[r++] = positions[i]! - previous
      rows[r++] = jobNumbers[i]!
      previous = positions[i]!
    }
    parts.push(rows)
  }
  return parts
}

/** What a snapshot takes of the index, at once: it only grows, so its arrays' first `count` entries never change. */
const captureHistory = (h: HistoryIndex) => ({
  count: h.length,
  positions: h.positions,
  jobNumbers: h.jobNumbers,
  jobIds: h.jobIds.slice(),
  taskStates: [...h.taskStates.values()].map((t): [string, string, TaskState[], number[]] => [t.jobId, t.host, t.states.slice(), t.positions.slice()]),
})

const encodeHistory = (h: HistoryIndex): RawHistory => {
  const c = captureHistory(h)
  return { jobIds: c.jobIds, rows: runSteps(historyRowsSteps(c.positions, c.jobNumbers, c.count, Number.MAX_SAFE_INTEGER))[0] ?? [], taskStates: c.taskStates }
}

const decodeIndex = (raw: RawHistory): HistoryIndex => {
  const history = emptyHistory()
  const { jobIds, rows, taskStates } = raw
  if (rows.length % 2 !== 0) throw new Error("snapshot history is malformed")
  let position = 0
  for (let r = 0; r < rows.length; r += 2) {
    position += rows[r]!
    const jobId = jobIds[rows[r + 1]!]
    if (jobId === undefined) throw new Error("snapshot history is malformed")
    history.add(jobId, position)
  }
  for (const [jobId, host, states, positions] of taskStates) states.forEach((state, i) => history.addTaskState(jobId, host, state, positions[i]!))
  return history
}

const runSteps = <T>(steps: Generator<void, T>): T => {
  for (;;) {
    const r = steps.next()
    if (r.done) return r.value
  }
}

/** The command index's occupied slots (it is mostly empty), to be put back in the same slots. */
const encodeCommands = (c: CommandIndex): RawSnapshot["commands"] => runSteps(encodeCommandsSteps(c.table, Number.MAX_SAFE_INTEGER))

/** The same, yielding every `slice` slots. */
function* encodeCommandsSteps(table: Float64Array, slice: number): Generator<void, RawSnapshot["commands"]> {
  const at: number[] = []
  const hashes: number[] = []
  const positions: number[] = []
  for (let i = 0; i < table.length; i += 2) {
    if (i > 0 && (i / 2) % slice === 0) yield
    if (table[i] !== 0) {
      at.push(i / 2)
      hashes.push(table[i]!)
      positions.push(table[i + 1]!)
    }
  }
  return { slots: table.length / 2, at, hashes, positions }
}

const decodeCommands = (raw: RawSnapshot["commands"]): CommandIndex => {
  const c = new CommandIndex()
  c.table = new Float64Array(2 * raw.slots)
  raw.at.forEach((slot, i) => {
    c.table[2 * slot] = raw.hashes[i]!
    c.table[2 * slot + 1] = raw.positions[i]!
  })
  c.size = raw.at.length
  return c
}

/** The fleet state's part of a snapshot: its maps as arrays of entries, in iteration order. */
type RawState = Pick<RawSnapshot, "position" | "jobs" | "hosts" | "deployments" | "jobHosts" | "tasks" | "groups" | "versions">

const rawState = (s: FleetState): RawState => ({
  position: s.position,
  jobs: [...s.jobs],
  hosts: [...s.hosts],
  deployments: [...s.deployments].map(([h, byJob]) => [h, [...byJob]]),
  // Kept as is (not rebuilt from deployments) so listings iterate in the same order as a replay.
  jobHosts: [...s.jobHosts].map(([j, hosts]) => [j, [...hosts]]),
  tasks: [...s.tasks].map(([h, byJob]) => [h, [...byJob]]),
  groups: [...s.groups],
  versions: [...s.versions],
})

export const encodeSnapshot = (m: ReadModel): Uint8Array =>
  pack({
    format: SNAPSHOT_FORMAT,
    ...rawState(m.state),
    commands: encodeCommands(m.commands),
    history: encodeHistory(m.history),
  } satisfies RawSnapshot)

export const decodeSnapshot = (bytes: Uint8Array): ReadModel => {
  const raw = unpack(bytes) as RawSnapshot
  if (raw?.format !== SNAPSHOT_FORMAT) throw new Error(`unknown snapshot format ${String(raw?.format)}`)
  const deployments = new Map(raw.deployments.map(([h, byJob]) => [h, new Map(byJob)]))
  const jobHosts = new Map(raw.jobHosts.map(([j, hosts]) => [j, new Set(hosts)]))
  return {
    state: {
      jobs: new Map(raw.jobs),
      hosts: new Map(raw.hosts),
      deployments,
      jobHosts,
      tasks: new Map(raw.tasks.map(([h, byJob]) => [h, new Map(byJob)])),
      groups: new Map(raw.groups ?? []),
      versions: new Map(raw.versions),
      position: raw.position as Position,
    },
    history: decodeIndex(raw.history),
    commands: decodeCommands(raw.commands),
  }
}

/*
 * Encoding in slices. A master writes its snapshot while it serves: encoding the read model of a
 * 10^6-event log in one go blocks it for seconds (~4 s on the dev machine). encodeSnapshotInSlices
 * gives the same bytes as encodeSnapshot, in steps: a generator that yields every few thousand
 * events or entries, so its driver (master/snapshots.ts) lets the event loop run in between.
 *
 * - The first step (the first `next()`) captures the model: a copy of the fleet state (cloneState:
 *   its maps, not their immutable values), a copy of the command index's table, and the history
 *   index's length (it only grows, its entries never change) with a copy of its task states. The projection may apply
 *   more events meanwhile: the snapshot is the model as of that first step.
 * - msgpack is a streaming format: a map or an array is a header followed by its elements, each
 *   encoded on its own. So the snapshot is written as the headers msgpackr would write (the default
 *   packr writes objects as map16, arrays with the smallest header) followed by its elements packed
 *   a slice at a time, each slice's own array header cut off. properties/projections.test.ts checks
 *   that the bytes are those of encodeSnapshot.
 * (Since format 6 the history is three numbers per job event: the whole encoding is small enough
 * that a worker thread, which would first need the model copied to it, has nothing to save.)
 *
 * The result is the list of byte chunks, in order (written to the file as they are, never joined).
 */

const MAP16 = (n: number): Uint8Array => Uint8Array.of(0xde, n >> 8, n & 0xff)

const arrayHeader = (n: number): Uint8Array =>
  n < 0x10 ? Uint8Array.of(0x90 | n) : n < 0x10000 ? Uint8Array.of(0xdc, n >> 8, n & 0xff) : Uint8Array.of(0xdd, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)

/** Elements per packed slice: a few ms of work each. */
export interface SliceSizes {
  readonly entries: number
  readonly numbers: number
  readonly strings: number
}
const SLICE: SliceSizes = { entries: 100, numbers: 10_000, strings: 2_000 }

/** An array as a header and its elements packed `size` at a time, yielding after each slice. */
function* packArraySteps(out: Uint8Array[], items: ReadonlyArray<unknown>, size: number): Generator<void> {
  yield* packPartsSteps(out, [items], size)
}

/** The array that is the concatenation of `parts`, packed `size` elements at a time (never joined). */
function* packPartsSteps(out: Uint8Array[], parts: ReadonlyArray<ReadonlyArray<unknown>>, size: number): Generator<void> {
  out.push(arrayHeader(parts.reduce((n, p) => n + p.length, 0)))
  for (const items of parts)
    for (let i = 0; i < items.length; i += size) {
      const slice = items.slice(i, i + size)
      out.push(pack(slice).subarray(arrayHeader(slice.length).length))
      yield
    }
}

/** pack(items) as chunks, `size` elements at a time (what encodeSnapshotInSlices does with each array). */
export const packArrayInSlices = (items: ReadonlyArray<unknown>, size: number): Uint8Array[] => {
  const out: Uint8Array[] = []
  runSteps(packArraySteps(out, items, size))
  return out
}

/** The bytes of encodeSnapshot(m), as chunks, in steps (see above). The model is captured at the first step. */
export function* encodeSnapshotInSlices(m: ReadModel, slices: SliceSizes = SLICE): Generator<void, Uint8Array[]> {
  const SLICE = slices
  const state = cloneState(m.state)
  // The command index's table as it is (a copy of one typed array); its occupied slots are listed later.
  const table = m.commands.table.slice()
  const captured = captureHistory(m.history)
  yield
  const commands = yield* encodeCommandsSteps(table, SLICE.numbers * 4)
  const rows = yield* historyRowsSteps(captured.positions, captured.jobNumbers, captured.count, Math.max(1, SLICE.numbers >> 1))
  const out: Uint8Array[] = []
  const key = (k: keyof RawSnapshot | keyof RawHistory | keyof RawSnapshot["commands"]) => out.push(pack(k))
  const raw = rawState(state)
  out.push(MAP16(11))
  key("format")
  out.push(pack(SNAPSHOT_FORMAT))
  key("position")
  out.push(pack(raw.position))
  for (const field of ["jobs", "hosts", "deployments", "jobHosts", "tasks", "groups", "versions"] as const) {
    key(field)
    yield* packArraySteps(out, raw[field] ?? [], SLICE.entries)
  }
  key("commands")
  out.push(MAP16(4))
  key("slots")
  out.push(pack(commands.slots))
  for (const field of ["at", "hashes", "positions"] as const) {
    key(field)
    yield* packArraySteps(out, commands[field], SLICE.numbers)
  }
  key("history")
  out.push(MAP16(3))
  key("jobIds")
  yield* packArraySteps(out, captured.jobIds, SLICE.strings)
  key("rows")
  yield* packPartsSteps(out, rows, SLICE.numbers)
  key("taskStates")
  yield* packArraySteps(out, captured.taskStates, SLICE.entries)
  return out
}
