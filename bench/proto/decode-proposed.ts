/**
 * PROTOTYPE (not used by Helios): core/codec.ts decodeBatch with one change, to measure it in
 * bench/fold.ts: envelopes read back from the log are decoded with Effect Schema's default
 * options (first error only, excess properties ignored) instead of core/decode.ts's strict
 * `{ errors: "all", onExcessProperty: "error" }`, which is right for user input (a typo must not be
 * dropped) but costs ~1.75x on every event of a catch-up. Trade-off: an unknown field written by a
 * newer build would be dropped instead of failing the read (the batch's schemaVersion check stays).
 */
import { Result, Schema } from "effect"
import { unpack } from "msgpackr"
import { MalformedEvent, type EncodedBatch } from "../../core/codec.ts"
import { EVENT_SCHEMA_VERSION, EventEnvelope, type StreamId } from "../../core/events.ts"

const decodeLenient = Schema.decodeUnknownResult(EventEnvelope)

export const decodeBatchProposed = (bytes: Uint8Array): Result.Result<EncodedBatch, MalformedEvent> => {
  let raw: unknown
  try {
    raw = unpack(bytes)
  } catch (e) {
    return Result.fail(new MalformedEvent({ reason: `not msgpack: ${(e as Error).message}` }))
  }
  if (!Array.isArray(raw) || raw.length !== 4 || raw[0] !== 1 || typeof raw[1] !== "string" || !Array.isArray(raw[2]) || !Array.isArray(raw[3]))
    return Result.fail(new MalformedEvent({ reason: "not a batch" }))
  const events: EventEnvelope[] = []
  for (const [i, e] of (raw[3] as unknown[]).entries()) {
    const version = (e as { schemaVersion?: unknown } | null)?.schemaVersion
    if (typeof version === "number" && version > EVENT_SCHEMA_VERSION)
      return Result.fail(new MalformedEvent({ reason: `event ${i}: schema version ${version} is newer than this build` }))
    const r = decodeLenient(e)
    if (Result.isFailure(r)) return Result.fail(new MalformedEvent({ reason: `event ${i}: ${r.failure.message}` }))
    events.push(r.success)
  }
  return Result.succeed({ batchId: raw[1] as string, bumped: raw[2] as StreamId[], events })
}
