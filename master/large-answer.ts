import zlib from "node:zlib"
import type { Context } from "hono"
import { crc32Combine, crc32Shift } from "./crc32-combine.ts"
import { pacer, SLICE_MS } from "./slices.ts"

/*
 * Large JSON answers (job and host statuses, state as of a position), rendered in slices of the
 * event loop, then written with one write: libuv sends the bytes as the socket takes them without
 * coming back to JavaScript, where an answer streamed in pieces waited for a turn of a busy event
 * loop for each of them.
 *
 * From COMPRESS_FROM_BYTES on, a client that accepts gzip gets it, as Kubernetes' API server does
 * past 128 KiB: a status answer is mostly the job repeated in every task status, so it shrinks 10 to
 * 20 times, and the master's own socket writes shrink with it. fetch, browsers and the helios CLI ask
 * for gzip; a client that does not (Helios's Java client) gets the same bytes as before.
 *
 * Compressing a 7 MB answer whole costs 15 to 20 ms of zlib per request, and an answer polled during
 * a rollout is mostly what the last one was. So an answer is a list of segments (AnswerSegment): a
 * job status's hosts in runs that master/status-json.ts keeps while they are unchanged, each
 * deflated once, apart from the others, and fresh bytes between them. The gzip answer is the
 * segments' deflated bytes one after another between a gzip header and trailer, a single deflate
 * stream (one gzip member: browsers decode only the first of several), with the CRC-32 of the whole:
 * combined from the segments' own CRCs where they were made ahead (master/crc32-combine.ts), else
 * zlib.crc32 over the bytes (about 0.3 ms per MB). Polled statuses have their runs deflated ahead,
 * between polls (master/status-warmer.ts).
 */

/** Answers at least this large are compressed for a client that accepts gzip (default of --compress-from). */
export const COMPRESS_FROM_BYTES = 64 * 1024

/** Whether an Accept-Encoding header accepts gzip: `gzip`, `x-gzip` or `*` with a q above 0 (RFC 9110 §12.5.3). */
export const acceptsGzip = (header: string | undefined): boolean => {
  if (header === undefined) return false
  let gzip: number | undefined
  let any: number | undefined
  for (const item of header.split(",")) {
    const [coding = "", ...params] = item.split(";").map((s) => s.trim().toLowerCase())
    const q = params.find((p) => p.startsWith("q="))
    const weight = q === undefined ? 1 : Number(q.slice(2))
    if (!Number.isFinite(weight)) continue
    if (coding === "gzip" || coding === "x-gzip") gzip = Math.max(gzip ?? 0, weight)
    else if (coding === "*") any = weight
  }
  return (gzip ?? any ?? 0) > 0
}

/**
 * Bytes of an answer that later answers may show again unchanged (master/status-json.ts keeps a job
 * status's hosts in runs of these), with their compressed form, made the first time it is asked for.
 */
export class AnswerSegment {
  private deflatedBytes: Buffer | undefined
  private checksumOf: { readonly crc: number; readonly shift: number } | undefined
  constructor(readonly plain: Buffer) {}
  /** Whether its deflated bytes are made already (an answer joining it costs no compression). */
  get isDeflated(): boolean {
    return this.deflatedBytes !== undefined
  }
  /**
   * The bytes as raw deflate ending in a sync flush rather than a final block: segments deflated
   * apart, one after another, are one deflate stream (none refers back into another), so a gzip
   * answer is a header, the segments' deflated bytes as they are, and a trailer.
   */
  deflated(): Buffer {
    return (this.deflatedBytes ??=
      this.plain.length < STORE_BELOW_BYTES ? storedBlock(this.plain) : zlib.deflateRawSync(this.plain, { level: 1, finishFlush: zlib.constants.Z_SYNC_FLUSH }))
  }
  /** Its CRC-32, with what carries a CRC past its bytes (master/crc32-combine.ts): an answer joining it then combines CRCs rather than reading its bytes. */
  checksum(): { readonly crc: number; readonly shift: number } {
    return (this.checksumOf ??= { crc: zlib.crc32(this.plain), shift: crc32Shift(this.plain.length) })
  }
  get hasChecksum(): boolean {
    return this.checksumOf !== undefined
  }
}

/** Bytes this few are sent as they are (a stored block): compressing them would save a few bytes for a call into zlib. */
const STORE_BELOW_BYTES = 128

/** A non-final stored deflate block of `plain` (< 64 KiB): a header byte, LEN, NLEN, the bytes (RFC 1951 §3.2.4). Like a sync flush, it ends on a byte. */
const storedBlock = (plain: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(5 + plain.length)
  out[0] = 0
  out.writeUInt16LE(plain.length, 1)
  out.writeUInt16LE(~plain.length & 0xffff, 3)
  plain.copy(out, 5)
  return out
}

/** gzip's header: deflate, no name, no time, unknown OS (RFC 1952 §2.3). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])
/** An empty final block (fixed Huffman, end of block only): closes the joined deflate stream. */
const FINAL_EMPTY_BLOCK = [0x03, 0x00]

/** Fresh bytes (not kept in a segment) are deflated in runs of about this many bytes. */
const FRESH_RUN_BYTES = 64 * 1024
/**
 * A kept segment smaller than this is deflated with the fresh bytes around it, unless its deflated
 * bytes are made already (master/status-warmer.ts makes them for the large statuses it keeps
 * ready): deflated alone, a few hosts' statuses compress several times worse (nothing earlier to
 * refer back to), and a job on few hosts costs little to compress again.
 */
export const MIN_KEPT_SEGMENT_BYTES = 4 * 1024

/** Text, bytes, bytes as buffers one after another (master/status-json.ts), or a kept segment. */
export type Piece = string | Uint8Array | ReadonlyArray<Uint8Array> | AnswerSegment

const noPause = (): undefined => undefined

/** An answer's pieces as segments: kept ones as they are (unless small and not compressed yet), fresh bytes between them in runs of FRESH_RUN_BYTES. */
export const segmentsOf = async (
  pieces: Iterable<Piece> | AsyncIterable<Piece>,
  { pace = noPause, minKeptBytes = MIN_KEPT_SEGMENT_BYTES }: { readonly pace?: () => Promise<void> | undefined; readonly minKeptBytes?: number } = {},
): Promise<{ segments: AnswerSegment[]; size: number }> => {
  const segments: AnswerSegment[] = []
  let fresh: Uint8Array[] = []
  let freshSize = 0
  let size = 0
  const closeFresh = () => {
    if (freshSize === 0) return
    segments.push(new AnswerSegment(Buffer.concat(fresh, freshSize)))
    fresh = []
    freshSize = 0
  }
  const add = (bytes: Uint8Array) => {
    fresh.push(bytes)
    freshSize += bytes.length
    size += bytes.length
    if (freshSize >= FRESH_RUN_BYTES) closeFresh()
  }
  const take = (piece: Piece) => {
    if (typeof piece === "string") add(Buffer.from(piece, "utf8"))
    else if (piece instanceof AnswerSegment && piece.plain.length < minKeptBytes && !piece.isDeflated) add(piece.plain)
    else if (piece instanceof AnswerSegment) {
      closeFresh()
      segments.push(piece)
      size += piece.plain.length
    } else if (piece instanceof Uint8Array) add(piece)
    else piece.forEach(add)
  }
  // A plain loop over a generator of pieces (a status answer: hundreds of runs), awaiting only a turn that is due.
  if (Symbol.asyncIterator in pieces)
    for await (const piece of pieces) {
      take(piece)
      await pace()
    }
  else
    for (const piece of pieces) {
      take(piece)
      const turn = pace()
      if (turn) await turn
    }
  closeFresh()
  return { segments, size }
}

/** The gzip of the segments' bytes one after another: their deflated bytes joined, between a header and a trailer. */
export const gzipOf = async (segments: ReadonlyArray<AnswerSegment>, pace: () => Promise<void> | undefined = noPause): Promise<Buffer<ArrayBuffer>> => {
  const parts: Buffer[] = [GZIP_HEADER]
  let crc = 0
  let size = 0
  for (const s of segments) {
    // zlib.crc32 of an empty buffer answers 0, not the CRC so far (Node 20).
    if (s.plain.length === 0) continue
    parts.push(s.deflated())
    if (s.hasChecksum) {
      const { crc: crcOfSegment, shift } = s.checksum()
      crc = crc32Combine(crc, crcOfSegment, shift)
    } else crc = zlib.crc32(s.plain, crc)
    size += s.plain.length
    const turn = pace()
    if (turn) await turn
  }
  const trailer = Buffer.from([...FINAL_EMPTY_BLOCK, 0, 0, 0, 0, 0, 0, 0, 0])
  trailer.writeUInt32LE(crc >>> 0, 2)
  trailer.writeUInt32LE(size % 2 ** 32, 6)
  parts.push(trailer)
  return Buffer.concat(parts)
}

/**
 * A 200 JSON answer made of `pieces`, gathered with a turn of the event loop every `sliceMs`, then
 * written in one write with its length: as it is, or gzip-compressed for a client that accepts
 * gzip once it is `compressFromBytes` or more. Compressing reuses the deflated bytes of segments
 * earlier answers already compressed, so a status answer polled during a rollout deflates only the
 * hosts that changed; fresh bytes are deflated in runs of FRESH_RUN_BYTES, a slice at a time.
 */
export const largeJsonAnswer = async (
  c: Context,
  pieces: Iterable<Piece> | AsyncIterable<Piece>,
  compressFromBytes = COMPRESS_FROM_BYTES,
  sliceMs = SLICE_MS,
): Promise<Response> => {
  const pace = pacer(sliceMs)
  const { segments, size } = await segmentsOf(pieces, { pace })
  c.header("Content-Type", "application/json")
  c.header("Vary", "Accept-Encoding")
  if (size < compressFromBytes || !acceptsGzip(c.req.header("Accept-Encoding")))
    return c.body(Buffer.concat(segments.map((s) => s.plain), size))
  const body = await gzipOf(segments, pace)
  c.header("Content-Encoding", "gzip")
  return c.body(body)
}
