import { pack, unpack } from "msgpackr"
import type { EventEnvelope, StoredEvent, StreamId } from "../core/events.ts"
import type { Actor, HostName, Position } from "../core/ids.ts"
import type { Job } from "../core/job.ts"
import { cloneState, type Deployment, type FleetState, type GroupRecord, type HostRecord, type TaskStatus } from "../core/state.ts"
import { CommandIndex } from "./commands.ts"
import { applyHistory, emptyHistory } from "./history.ts"
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
 * Format 5 adds the deployment groups (with their latest rollouts), as they are. A format 4
 * snapshot is still read: it was written before groups existed, so it has none. A build that
 * knows only format 4 refuses format 5 and replays the log, where it meets the group events it
 * cannot decode and says so, instead of dropping the groups silently.
 */

export const SNAPSHOT_FORMAT = 5
/** Formats this build reads: the current one, and 4 (no groups). */
const READABLE_FORMATS: ReadonlySet<number> = new Set([4, SNAPSHOT_FORMAT])

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
  history: {
    strings: string[]
    values: unknown[]
    shapes: string[][]
    rows: number[]
    commandIds: Array<string | null>
  }
}

/** The history's encoding, with its rows and command ids in parts (one per slice of events: no array grows past a slice). */
interface HistoryParts {
  readonly strings: string[]
  readonly values: unknown[]
  readonly shapes: string[][]
  readonly rows: number[][]
  readonly commandIds: Array<Array<string | null>>
}

/** Encodes the first `count` history events, yielding every `slice` events (see encodeSnapshotInSlices). */
function* encodeHistorySteps(events: ReadonlyArray<StoredEvent>, count: number, slice: number): Generator<void, HistoryParts> {
  const strings = new Table<string, string>()
  const values = new Table<string, unknown>()
  const shapes = new Table<string, string[]>()
  const rowParts: number[][] = []
  const commandIdParts: Array<Array<string | null>> = []
  let rows: number[] = []
  let commandIds: Array<string | null> = []
  let position = 0
  let at = 0
  for (let n = 0; n < count; n++) {
    if (n % slice === 0) {
      if (n > 0) yield
      rowParts.push((rows = []))
      commandIdParts.push((commandIds = []))
    }
    const stored = events[n]!
    const { event, schemaVersion, actor, commandId } = stored.envelope
    rows.push(stored.position - position, stored.envelope.at - at, schemaVersion, strings.of(actor.kind, actor.kind), strings.of(actor.name, actor.name))
    position = stored.position
    at = stored.envelope.at
    rows.push(stored.bumped.length)
    for (const s of stored.bumped) rows.push(strings.of(s, s))
    commandIds.push(commandId ?? null)
    const keys = Object.keys(event)
    rows.push(shapes.of(keys.join("\u0000"), keys))
    for (const k of keys) {
      const v = (event as Record<string, unknown>)[k]
      rows.push(typeof v === "string" ? strings.of(v, v) : -1 - values.of(JSON.stringify(v), v))
    }
  }
  return { strings: strings.entries, values: values.entries, shapes: shapes.entries, rows: rowParts, commandIds: commandIdParts }
}

const encodeHistory = (events: ReadonlyArray<StoredEvent>): RawSnapshot["history"] => {
  const h = runSteps(encodeHistorySteps(events, events.length, Number.MAX_SAFE_INTEGER))
  return { strings: h.strings, values: h.values, shapes: h.shapes, rows: h.rows[0] ?? [], commandIds: h.commandIds[0] ?? [] }
}

const runSteps = <T>(steps: Generator<void, T>): T => {
  for (;;) {
    const r = steps.next()
    if (r.done) return r.value
  }
}

const decodeHistory = (raw: RawSnapshot["history"]) => {
  const { strings, values, shapes, rows, commandIds } = raw
  const history = emptyHistory()
  // Actors are few: one object per (kind, name), shared by the events that carry it.
  const actors = new Map<number, Actor>()
  let position = 0
  let at = 0
  let i = 0
  for (let n = 0; n < commandIds.length; n++) {
    position += rows[i++]!
    at += rows[i++]!
    const schemaVersion = rows[i++]!
    const kind = rows[i++]!
    const name = rows[i++]!
    const actorKey = kind * strings.length + name
    let actor = actors.get(actorKey)
    if (actor === undefined) actors.set(actorKey, (actor = { kind: strings[kind] as Actor["kind"], name: strings[name]! }))
    const bumpedCount = rows[i++]!
    let bumped = NO_STREAMS
    if (bumpedCount > 0) {
      const streams: StreamId[] = []
      for (let b = 0; b < bumpedCount; b++) streams.push(strings[rows[i++]!] as StreamId)
      bumped = streams
    }
    const event: Record<string, unknown> = {}
    for (const k of shapes[rows[i++]!]!) {
      const v = rows[i++]!
      event[k] = v >= 0 ? strings[v] : values[-1 - v]
    }
    const commandId = commandIds[n]
    const envelope = (
      commandId === null || commandId === undefined
        ? { event, schemaVersion, at, actor }
        : { event, schemaVersion, at, actor, commandId }
    ) as EventEnvelope
    applyHistory(history, { position: position as Position, envelope, bumped })
  }
  if (i !== rows.length) throw new Error("snapshot history is malformed")
  return history
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
    history: encodeHistory(m.history.events),
  } satisfies RawSnapshot)

export const decodeSnapshot = (bytes: Uint8Array): ReadModel => {
  const raw = unpack(bytes) as RawSnapshot
  if (!READABLE_FORMATS.has(raw?.format)) throw new Error(`unknown snapshot format ${String(raw?.format)}`)
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
    history: decodeHistory(raw.history),
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
 *   its maps, not their immutable values), a copy of the command index's table, and the number of
 *   history events (the history only grows, its events never change). The projection may apply
 *   more events meanwhile: the snapshot is the model as of that first step.
 * - msgpack is a streaming format: a map or an array is a header followed by its elements, each
 *   encoded on its own. So the snapshot is written as the headers msgpackr would write (the default
 *   packr writes objects as map16, arrays with the smallest header) followed by its elements packed
 *   a slice at a time, each slice's own array header cut off. properties/projections.test.ts checks
 *   that the bytes are those of encodeSnapshot.
 * (A worker thread does not help: the model would have to be copied to it by structured clone,
 * which for a 10^6-event history takes longer than encoding it, on the main thread.)
 *
 * The result is the list of byte chunks, in order (written to the file as they are, never joined).
 */

const MAP16 = (n: number): Uint8Array => Uint8Array.of(0xde, n >> 8, n & 0xff)

const arrayHeader = (n: number): Uint8Array =>
  n < 0x10 ? Uint8Array.of(0x90 | n) : n < 0x10000 ? Uint8Array.of(0xdc, n >> 8, n & 0xff) : Uint8Array.of(0xdd, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)

/** Elements per packed slice: a few ms of work each. */
export interface SliceSizes {
  readonly events: number
  readonly entries: number
  readonly numbers: number
  readonly strings: number
}
const SLICE: SliceSizes = { events: 1_000, entries: 100, numbers: 10_000, strings: 2_000 }

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
  const count = m.history.events.length
  const events = m.history.events
  yield
  const commands = yield* encodeCommandsSteps(table, SLICE.numbers * 4)
  const history = yield* encodeHistorySteps(events, count, SLICE.events)
  const out: Uint8Array[] = []
  const key = (k: keyof RawSnapshot | keyof RawSnapshot["history"] | keyof RawSnapshot["commands"]) => out.push(pack(k))
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
  out.push(MAP16(5))
  key("strings")
  yield* packArraySteps(out, history.strings, SLICE.strings)
  key("values")
  yield* packArraySteps(out, history.values, SLICE.entries)
  key("shapes")
  yield* packArraySteps(out, history.shapes, SLICE.entries)
  key("rows")
  yield* packPartsSteps(out, history.rows, SLICE.numbers)
  key("commandIds")
  yield* packPartsSteps(out, history.commandIds, SLICE.strings)
  return out
}
