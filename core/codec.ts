import { Data, Result, Schema } from "effect"
import { SchemaJITCompiler } from "effect/schema"
import { pack, unpack } from "msgpackr"
import { decodeInput, formatFieldErrors } from "./decode.ts"
import { EVENT_SCHEMA_VERSION, EventEnvelope, isStreamId, type StreamId } from "./events.ts"
import type { Actor } from "./ids.ts"
import type { Job } from "./job.ts"

/** Bytes read back from the log that are not a batch we can understand. */
export class MalformedEvent extends Data.TaggedError("MalformedEvent")<{
  readonly reason: string
  /** The streams the batch bumped, when its frame could be read (only an event in it is bad). */
  readonly bumped?: ReadonlyArray<StreamId>
}> {}

/**
 * What one append stores: its events, the streams it bumped and an id that lets a writer
 * recognise its own batch after a lost connection.
 */
export interface EncodedBatch {
  readonly batchId: string
  readonly bumped: ReadonlyArray<StreamId>
  readonly events: ReadonlyArray<EventEnvelope>
}

// Batch format version 1: a msgpack array [1, batchId, bumped[], envelopes[]].
const BATCH_FORMAT = 1

/*
 * msgpackr turns an own `__proto__` key into `__proto_` and -0 into 0. The job schema rejects
 * `__proto__` keys; -0 is folded to 0 before packing, so decode(encode(x)) == x for every x we store.
 */
const normalise = (value: unknown): unknown => {
  if (Object.is(value, -0)) return 0
  if (Array.isArray(value)) return value.map(normalise)
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {}
    const from = value as Record<string, unknown>
    for (const k of Object.keys(from)) {
      // defineProperty for "__proto__" only (assignment would set the prototype): it is ~10x
      // slower than assignment, which matters on every append.
      if (k === "__proto__") Object.defineProperty(out, k, { value: normalise(from[k]), enumerable: true, writable: true, configurable: true })
      else out[k] = normalise(from[k])
    }
    return out
  }
  return value
}

export const encodeBatch = (batch: EncodedBatch): Uint8Array =>
  pack([BATCH_FORMAT, batch.batchId, batch.bumped, normalise(batch.events)])

/** Upcasts an envelope written by an older schema version. Version 1 is the first; nothing to do yet. */
const upcast = (raw: unknown): unknown => raw

/*
 * Every envelope read back from the log is decoded by the EventEnvelope schema, strictly: every
 * field checked, and no field the schema does not know (an excess key is an error, not dropped).
 * That is core/decode.ts's decodeInput, which reports every problem; but it costs ~10 µs an event,
 * most of a master's catch-up. So the log is decoded in two steps that give the same answers:
 *
 * 1. The fast path: effect's JIT-compiled decoder for the envelope schema (SchemaJITCompiler:
 *    generated once from the schema, the same checks, no per-call interpretation of the schema)
 *    with the default parse options, for which it stops at the first problem and skips the excess
 *    key check (both cost ~2x); then `sameKeys` confirms that the decoded value has every key of
 *    the input, i.e. that nothing was dropped as excess.
 * 2. Anything the fast path refuses or would have trimmed is decoded again by decodeInput, whose
 *    answer (every problem, or a success) is the result.
 *
 * A value the fast path accepts with all its keys is one the strict decode accepts, with the same
 * output (the checks are the same; excess keys are the only difference), so no event is accepted
 * that decodeInput would refuse, and every refusal carries decodeInput's full report.
 */
SchemaJITCompiler.enable(EventEnvelope.ast)
const decodeFast = Schema.decodeUnknownResult(EventEnvelope)

/**
 * Whether `output` (what the schema built from `input`) kept every key of every object of
 * `input`: the schema copies the keys it knows and drops the others, so equal counts mean none
 * was dropped.
 */
const sameKeys = (input: unknown, output: unknown): boolean => {
  if (typeof output !== "object" || output === null) return true
  if (typeof input !== "object" || input === null) return false
  if (Array.isArray(output)) {
    for (let i = 0; i < output.length; i++) if (!sameKeys((input as ReadonlyArray<unknown>)[i], output[i])) return false
    return true
  }
  let keys = 0
  for (const k in output) {
    keys++
    if (!sameKeys((input as Record<string, unknown>)[k], (output as Record<string, unknown>)[k])) return false
  }
  for (const _ in input) keys--
  return keys === 0
}

/*
 * What is decoded is shared. Each event read back brings its own copies of the same job ids,
 * hosts, states, actor names, container ids, actors and jobs, and a master keeps every job event
 * (its history). So a decoded envelope's strings are replaced by the first copy seen of each (one
 * Map lookup each), its actor by the first equal actor and its job by the first equal job (same id
 * and JSON): a master's read model of 10^6 events weighs half as much (1,145 -> 505 MiB of heap,
 * with `detached` below), and the fold's lookups by job and host get cheaper (a shared string's
 * hash is computed once). Equal values, shared: nothing a reader can tell apart, as decoded values
 * are never changed. The pools forget everything when full, and start again.
 */
const POOL_LIMIT = 1 << 17
const pool = new Map<string, string>()

/**
 * A copy of `s` that keeps no other string alive. msgpackr (with its native string extraction)
 * decodes a buffer's strings as one long string and hands out slices of it: one slice kept from a
 * batch would keep the whole batch's text in memory. Below 13 characters a slice is a copy already.
 */
const detached = (s: string): string => (s.length < 13 ? s : (" " + s).slice(1))

const shared = (s: string): string => {
  const known = pool.get(s)
  if (known !== undefined) return known
  if (pool.size >= POOL_LIMIT) pool.clear()
  const copy = detached(s)
  pool.set(copy, copy)
  return copy
}

/** Replaces, in place, every string inside a freshly decoded value (not shared with anyone yet) by its shared copy. */
const shareStrings = (value: Record<string, unknown> | unknown[]): void => {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i]
      if (typeof v === "string") value[i] = shared(v)
      else if (typeof v === "object" && v !== null) shareStrings(v as Record<string, unknown>)
    }
    return
  }
  for (const k in value) {
    const v = value[k]
    if (typeof v === "string") value[k] = shared(v)
    else if (typeof v === "object" && v !== null) shareStrings(v as Record<string, unknown>)
  }
}

/** One object per actor: `{kind, name}` of each event read back is replaced by the first one seen. */
const actors = new Map<string, Map<string, Actor>>()
/** One object per job definition: JobCreated and every JobDeployed of a job carry the same job (compared as JSON). */
const jobs = new Map<string, { readonly json: string; readonly job: Job }>()

const sharedJob = (job: Job): Job => {
  const json = JSON.stringify(job)
  const known = jobs.get(job.id)
  if (known !== undefined && known.json === json) return known.job
  if (jobs.size >= POOL_LIMIT) jobs.clear()
  jobs.set(job.id, { json, job })
  return job
}

/** The envelope with its strings, actor and job shared (in place: it was just decoded). */
const sharedParts = (envelope: EventEnvelope): EventEnvelope => {
  const e = envelope as { -readonly [K in keyof EventEnvelope]: EventEnvelope[K] }
  // The command id is unique: not worth sharing, but not worth the batch's text either.
  if (e.commandId !== undefined) e.commandId = detached(e.commandId)
  shareStrings(e.event as Record<string, unknown>)
  const event = e.event as { job?: Job }
  if (event.job !== undefined) event.job = sharedJob(event.job)
  const kind = shared(e.actor.kind) as Actor["kind"]
  const name = shared(e.actor.name)
  let byName = actors.get(kind)
  if (byName === undefined) actors.set(kind, (byName = new Map()))
  const actor = byName.get(name)
  if (actor !== undefined) e.actor = actor
  else {
    if (byName.size >= POOL_LIMIT) byName.clear()
    byName.set(name, (e.actor = { kind, name }))
  }
  return envelope
}

const decodeEnvelope = (raw: unknown, index: number): Result.Result<EventEnvelope, MalformedEvent> => {
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion
  if (typeof version === "number" && version > EVENT_SCHEMA_VERSION)
    return Result.fail(new MalformedEvent({ reason: `event ${index}: schema version ${version} is newer than this build` }))
  const input = upcast(raw)
  const fast = decodeFast(input)
  let decoded: EventEnvelope
  if (Result.isSuccess(fast) && sameKeys(input, fast.success)) decoded = fast.success
  else {
    const r = decodeInput(EventEnvelope, input)
    if (Result.isFailure(r)) return Result.fail(new MalformedEvent({ reason: `event ${index}: ${formatFieldErrors(r.failure)}` }))
    decoded = r.success
  }
  return Result.succeed(sharedParts(decoded))
}

const unpackSafely = (bytes: Uint8Array): Result.Result<unknown, MalformedEvent> => {
  try {
    return Result.succeed(unpack(bytes))
  } catch (e) {
    return Result.fail(new MalformedEvent({ reason: `not msgpack: ${(e as Error).message}` }))
  }
}

/**
 * A batch's bumped streams, its length, and only the events at the indices `wanted` accepts, the
 * others left undecoded (a job's history reads a few events out of batches of many agents' facts:
 * the schema check is most of a read's cost). An unwanted event that is malformed goes unnoticed.
 */
export const decodeBatchSome = (
  bytes: Uint8Array,
  wanted: (index: number) => boolean,
): Result.Result<{ readonly bumped: ReadonlyArray<StreamId>; readonly length: number; readonly events: ReadonlyArray<readonly [number, EventEnvelope]> }, MalformedEvent> => {
  const unpacked = unpackSafely(bytes)
  if (Result.isFailure(unpacked)) return Result.fail(unpacked.failure)
  const raw = unpacked.success
  if (!Array.isArray(raw) || raw.length !== 4) return Result.fail(new MalformedEvent({ reason: "not a batch" }))
  const [format, , bumped, events] = raw as [unknown, unknown, unknown, unknown]
  if (format !== BATCH_FORMAT) return Result.fail(new MalformedEvent({ reason: `unknown batch format ${String(format)}` }))
  if (!Array.isArray(bumped) || !bumped.every((s) => typeof s === "string" && isStreamId(s)))
    return Result.fail(new MalformedEvent({ reason: "bumped streams malformed" }))
  if (!Array.isArray(events) || events.length === 0) return Result.fail(new MalformedEvent({ reason: "no events" }))
  const decoded: Array<readonly [number, EventEnvelope]> = []
  for (const [i, e] of events.entries()) {
    if (!wanted(i)) continue
    const r = decodeEnvelope(e, i)
    if (Result.isFailure(r)) return Result.fail(new MalformedEvent({ reason: r.failure.reason, bumped: bumped as StreamId[] }))
    decoded.push([i, r.success])
  }
  return Result.succeed({ bumped: (bumped as StreamId[]).map((s) => shared(s) as StreamId), length: events.length, events: decoded })
}

/** One envelope on its own (the embedded log stores a row per event). */
export const encodeEvent = (envelope: EventEnvelope): Uint8Array => pack(normalise(envelope))
export const decodeEvent = (bytes: Uint8Array): Result.Result<EventEnvelope, MalformedEvent> =>
  Result.flatMap(unpackSafely(bytes), (raw) => decodeEnvelope(raw, 0))

export const decodeBatch = (bytes: Uint8Array): Result.Result<EncodedBatch, MalformedEvent> => {
  const unpacked = unpackSafely(bytes)
  if (Result.isFailure(unpacked)) return Result.fail(unpacked.failure)
  const raw = unpacked.success
  if (!Array.isArray(raw) || raw.length !== 4) return Result.fail(new MalformedEvent({ reason: "not a batch" }))
  const [format, batchId, bumped, events] = raw as [unknown, unknown, unknown, unknown]
  if (format !== BATCH_FORMAT) return Result.fail(new MalformedEvent({ reason: `unknown batch format ${String(format)}` }))
  if (typeof batchId !== "string") return Result.fail(new MalformedEvent({ reason: "batch id is not a string" }))
  if (!Array.isArray(bumped) || !bumped.every((s) => typeof s === "string" && isStreamId(s)))
    return Result.fail(new MalformedEvent({ reason: "bumped streams malformed" }))
  if (!Array.isArray(events) || events.length === 0) return Result.fail(new MalformedEvent({ reason: "no events" }))
  const decoded: EventEnvelope[] = []
  for (const [i, e] of events.entries()) {
    const r = decodeEnvelope(e, i)
    if (Result.isFailure(r)) return Result.fail(new MalformedEvent({ reason: r.failure.reason, bumped: bumped as StreamId[] }))
    decoded.push(r.success)
  }
  return Result.succeed({ batchId, bumped: (bumped as StreamId[]).map((s) => shared(s) as StreamId), events: decoded })
}
