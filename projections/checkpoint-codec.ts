import { pack, unpack } from "msgpackr"
import type { Position } from "../core/ids.ts"
import type { FleetState } from "../core/state.ts"

/*
 * A checkpoint as bytes (master/checkpoints.ts keeps them in the master's state dir), encoded and
 * decoded in slices: a generator that yields after every slice of about `sliceEntries` map entries,
 * so its driver can let the event loop run in between (a fleet state of 10^6 events' log is
 * ~40,000 map entries, ~5 MB, ~200 ms to encode in one go on the dev machine). Pure: the driver
 * decides when to resume.
 *
 * Layout: one msgpack map { checkpointFormat, position, maxAt, fingerprint, parts }, where each
 * part is itself msgpack bytes of [field, entries]: consecutive entries of one of the state's maps
 * (nested maps and sets as arrays of entries), in iteration order, so the decoded maps iterate in
 * the same order as the fold that built them.
 */

export const CHECKPOINT_FORMAT = 1

/** A checkpoint: the fleet state after `position`, and what tells it apart. */
export interface CheckpointRecord {
  readonly position: number
  /** The largest event time at positions 1..position. */
  readonly maxAt: number
  /** Of the event at `position` (master/checkpoints.ts): a checkpoint of another log is refused. */
  readonly fingerprint: string
  readonly state: FleetState
}

type Field = "jobs" | "hosts" | "deployments" | "jobHosts" | "tasks" | "groups" | "versions"
const FIELDS: ReadonlyArray<Field> = ["jobs", "hosts", "deployments", "jobHosts", "tasks", "groups", "versions"]
/** Fields whose values are maps or sets (stored as arrays of their entries). */
const NESTED: ReadonlySet<Field> = new Set(["deployments", "jobHosts", "tasks"])

const DEFAULT_SLICE = 500

/** Encodes a checkpoint, yielding between slices; returns the bytes. The state must not change meanwhile (pass a copy). */
export function* encodeCheckpoint(record: CheckpointRecord, sliceEntries = DEFAULT_SLICE): Generator<void, Uint8Array> {
  const parts: Uint8Array[] = []
  for (const field of FIELDS) {
    const nested = NESTED.has(field)
    let slice: Array<[unknown, unknown]> = []
    let cost = 0
    for (const [key, value] of record.state[field] as Map<unknown, unknown>) {
      const inner = nested ? [...(value as Map<unknown, unknown> | Set<unknown>)] : value
      slice.push([key, inner])
      cost += nested ? 1 + (inner as unknown[]).length : 1
      if (cost >= sliceEntries) {
        parts.push(pack([field, slice]))
        slice = []
        cost = 0
        yield
      }
    }
    if (slice.length > 0) parts.push(pack([field, slice]))
  }
  yield
  return pack({ checkpointFormat: CHECKPOINT_FORMAT, position: record.position, maxAt: record.maxAt, fingerprint: record.fingerprint, parts })
}

/** Decodes a checkpoint, yielding between parts. Throws on another format or malformed bytes. */
export function* decodeCheckpoint(bytes: Uint8Array): Generator<void, CheckpointRecord> {
  const raw = unpack(bytes) as { checkpointFormat?: unknown; position: number; maxAt: number; fingerprint: string; parts: Uint8Array[] }
  if (raw?.checkpointFormat !== CHECKPOINT_FORMAT) throw new Error(`unknown checkpoint format ${String(raw?.checkpointFormat)}`)
  if (typeof raw.position !== "number" || typeof raw.maxAt !== "number" || typeof raw.fingerprint !== "string" || !Array.isArray(raw.parts))
    throw new Error("malformed checkpoint")
  const state: FleetState = {
    jobs: new Map(),
    hosts: new Map(),
    deployments: new Map(),
    jobHosts: new Map(),
    tasks: new Map(),
    groups: new Map(),
    versions: new Map(),
    position: raw.position as Position,
  }
  for (const part of raw.parts) {
    yield
    const [field, entries] = unpack(part) as [Field, Array<[unknown, unknown]>]
    if (!FIELDS.includes(field) || !Array.isArray(entries)) throw new Error("malformed checkpoint part")
    const target = state[field] as Map<unknown, unknown>
    for (const [key, value] of entries)
      target.set(key, !NESTED.has(field) ? value : field === "jobHosts" ? new Set(value as unknown[]) : new Map(value as Array<[unknown, unknown]>))
  }
  return { position: raw.position, maxAt: raw.maxAt, fingerprint: raw.fingerprint, state }
}

/** Runs a sliced encoding or decoding to its end at once. */
export const runToEnd = <T>(steps: Generator<void, T>): T => {
  for (;;) {
    const r = steps.next()
    if (r.done) return r.value
  }
}
