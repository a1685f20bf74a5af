import { Data, Result } from "effect"
import { pack, unpack } from "msgpackr"
import { decodeInput, formatFieldErrors } from "./decode.ts"
import { EVENT_SCHEMA_VERSION, EventEnvelope, type StreamId } from "./events.ts"

/** Bytes read back from the log that are not a batch we can understand. */
export class MalformedEvent extends Data.TaggedError("MalformedEvent")<{ readonly reason: string }> {}

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
    // defineProperty, not assignment: an own "__proto__" key stays a key instead of a prototype.
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: normalise(v), enumerable: true, writable: true, configurable: true })
    return out
  }
  return value
}

export const encodeBatch = (batch: EncodedBatch): Uint8Array =>
  pack([BATCH_FORMAT, batch.batchId, batch.bumped, normalise(batch.events)])

/** Upcasts an envelope written by an older schema version. Version 1 is the first; nothing to do yet. */
const upcast = (raw: unknown): unknown => raw

const decodeEnvelope = (raw: unknown, index: number): Result.Result<EventEnvelope, MalformedEvent> => {
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion
  if (typeof version === "number" && version > EVENT_SCHEMA_VERSION)
    return Result.fail(new MalformedEvent({ reason: `event ${index}: schema version ${version} is newer than this build` }))
  const r = decodeInput(EventEnvelope, upcast(raw))
  return Result.isFailure(r)
    ? Result.fail(new MalformedEvent({ reason: `event ${index}: ${formatFieldErrors(r.failure)}` }))
    : Result.succeed(r.success)
}

const unpackSafely = (bytes: Uint8Array): Result.Result<unknown, MalformedEvent> => {
  try {
    return Result.succeed(unpack(bytes))
  } catch (e) {
    return Result.fail(new MalformedEvent({ reason: `not msgpack: ${(e as Error).message}` }))
  }
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
  if (!Array.isArray(bumped) || !bumped.every((s) => typeof s === "string" && /^(job|host):/.test(s)))
    return Result.fail(new MalformedEvent({ reason: "bumped streams malformed" }))
  if (!Array.isArray(events) || events.length === 0) return Result.fail(new MalformedEvent({ reason: "no events" }))
  const decoded: EventEnvelope[] = []
  for (const [i, e] of events.entries()) {
    const r = decodeEnvelope(e, i)
    if (Result.isFailure(r)) return Result.fail(r.failure)
    decoded.push(r.success)
  }
  return Result.succeed({ batchId, bumped: bumped as StreamId[], events: decoded })
}
