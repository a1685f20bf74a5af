import { Result, Schema } from "effect"
import { pack, unpack } from "msgpackr"
import { decodeInput, formatFieldErrors } from "../core/decode.ts"

/*
 * The formats of a chain's nodes on ZooKeeper (the global log and host streams): a host stream's
 * layout, and packed segments.
 *
 * Packed segments: what a sealed segment of a chain (the global log or a host stream) becomes.
 *
 * A segment holds a fixed range of positions, one znode each (a batch's bytes at its first
 * position, empty markers after). Once the chain has moved on past it, the leader writes its
 * entries (the non-empty znodes, with their positions) into a few chunks of at most CHUNK_BYTES,
 * then records the segment as packed, then removes its per-position znodes:
 *
 *   <chain>-packed                     {"through": S}: segments 0..S are packed (always a prefix)
 *   <chain>-packed/<segment>           {"chunks": [first position of each chunk, ...]}
 *   <chain>-packed/<segment>/<chunk>   msgpack [[position, bytes], ...], ascending
 *
 * Readers never see a hole: the chunks and the "through" mark are written before any per-position
 * znode is removed, and a reader that meets a missing position asks whether its segment is packed
 * before it calls it the chain's end. Packing is idempotent: a packer that crashed, or two leaders
 * at once, write the same chunks again.
 */

/**
 * Positions per segment of a host stream whose base node records none: host streams created before
 * the size was recorded (and the size the global log always has).
 */
export const LEGACY_SEGMENT_SIZE = 10_000

/**
 * A host stream's base node records its segment size, written by whoever creates it (new host
 * streams: small segments, so a host's sealed entries are packed after a few hundred events, not
 * after 10,000). Read back once per chain by every reader and writer.
 */
const ChainLayout = Schema.Struct({ segmentSize: Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(2))) })
export const encodeLayout = (segmentSize: number): Buffer => Buffer.from(JSON.stringify({ segmentSize }))
/** The segment size a chain's base node records (empty: LEGACY_SEGMENT_SIZE). */
export const decodeLayout = (data: Buffer, path: string): number => (data.length === 0 ? LEGACY_SEGMENT_SIZE : decodeJson(ChainLayout, path, data).segmentSize)

/** One chunk's znode stays well under jute.maxbuffer (1,048,575 bytes). */
export const CHUNK_BYTES = 900_000

/** A chain position's non-empty znode: where a batch (or a host's slice of one) starts, and its bytes. */
export interface ChainEntry {
  readonly start: number
  readonly data: Buffer
}

const Position = Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)))
const PackedThrough = Schema.Struct({ through: Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(-1))) })
const PackedSegment = Schema.Struct({ chunks: Schema.Array(Position) })
const Chunk = Schema.Array(Schema.Tuple([Position, Schema.Uint8Array]))

/** Read back from ZooKeeper: decoded with a schema like any input; a malformed node is an Error naming it. */
export const decodeJson = <S extends Schema.Decoder<unknown>>(schema: S, what: string, data: Buffer): S["Type"] => {
  let value: unknown
  try {
    value = JSON.parse(data.toString("utf8"))
  } catch (e) {
    throw new Error(`${what}: not JSON (${(e as Error).message})`)
  }
  const decoded = decodeInput(schema, value)
  if (Result.isFailure(decoded)) throw new Error(`${what}: ${formatFieldErrors(decoded.failure)}`)
  return decoded.success
}

export const encodeThrough = (through: number): Buffer => Buffer.from(JSON.stringify({ through }))
/** The last packed segment (-1: none; an empty node, as created, says none too). */
export const decodeThrough = (data: Buffer, path: string): number =>
  data.length === 0 ? -1 : decodeJson(PackedThrough, path, data).through

export const encodeSegment = (chunkStarts: ReadonlyArray<number>): Buffer => Buffer.from(JSON.stringify({ chunks: chunkStarts }))
export const decodeSegment = (data: Buffer, path: string): ReadonlyArray<number> => decodeJson(PackedSegment, path, data).chunks

export const encodeChunk = (entries: ReadonlyArray<ChainEntry>): Buffer => Buffer.from(pack(entries.map((e) => [e.start, e.data])))
export const decodeChunk = (data: Buffer, path: string): ReadonlyArray<ChainEntry> => {
  let value: unknown
  try {
    value = unpack(data)
  } catch (e) {
    throw new Error(`${path}: not a packed chunk (${(e as Error).message})`)
  }
  const decoded = decodeInput(Chunk, value)
  if (Result.isFailure(decoded)) throw new Error(`${path}: ${formatFieldErrors(decoded.failure)}`)
  return decoded.success.map(([start, data]) => ({ start, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }))
}

/** Splits a segment's entries, in order, into chunks of at most `maxBytes` each (an entry larger than that gets a chunk alone). */
export const chunkEntries = (entries: ReadonlyArray<ChainEntry>, maxBytes = CHUNK_BYTES): ChainEntry[][] => {
  const chunks: ChainEntry[][] = []
  let current: ChainEntry[] = []
  let bytes = 0
  for (const entry of entries) {
    const size = entry.data.length + 16
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(entry)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** The index of the chunk holding position p's entry or the batch that covers it: the last chunk starting at or before p (-1: none). */
export const chunkIndexFor = (chunkStarts: ReadonlyArray<number>, p: number): number => {
  let lo = 0
  let hi = chunkStarts.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (chunkStarts[mid]! <= p) {
      found = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return found
}
