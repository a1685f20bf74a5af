import { promisify } from "node:util"
import zlib from "node:zlib"
import type { Context } from "hono"
import { pacer } from "./slices.ts"

/*
 * Large JSON answers (job and host statuses, state as of a position), rendered in slices of the
 * event loop, then written with one write: libuv sends the bytes as the socket takes them without
 * coming back to JavaScript, where an answer streamed in pieces waited for a turn of a busy event
 * loop for each of them.
 *
 * From COMPRESS_FROM_BYTES on, a client that accepts gzip gets it, as Kubernetes' API server does
 * past 128 KiB: a status answer is mostly the job repeated in every task status, so it shrinks 10 to
 * 24 times for about 1.2 ms of zlib per MB at level 1, in one call on libuv's thread pool rather than
 * on the master's event loop, and the master's own socket writes shrink with it. fetch, browsers and
 * the helios CLI ask for gzip; a client that does not (Helios's Java client) gets the same bytes as
 * before. The trade: over loopback on a saturated machine (bench/fleet.ts), compressing and
 * decompressing cost more time than the bytes saved; over a network the bytes dominate.
 */

/** Answers at least this large are compressed for a client that accepts gzip. */
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

const gzip = promisify(zlib.gzip)

/** Text, bytes, or bytes as buffers one after another (master/status-json.ts). */
type Piece = string | Uint8Array | ReadonlyArray<Uint8Array>

/** A 200 JSON answer made of `pieces`, which are rendered with a turn of the event loop every few ms. */
export const largeJsonAnswer = async (c: Context, pieces: Iterable<Piece> | AsyncIterable<Piece>): Promise<Response> => {
  const parts: Uint8Array[] = []
  let size = 0
  const pace = pacer()
  const add = (bytes: Uint8Array) => {
    parts.push(bytes)
    size += bytes.length
  }
  for await (const piece of pieces) {
    if (typeof piece === "string") add(Buffer.from(piece, "utf8"))
    else if (piece instanceof Uint8Array) add(piece)
    else piece.forEach(add)
    await pace()
  }
  let body = Buffer.concat(parts, size)
  c.header("Content-Type", "application/json")
  c.header("Vary", "Accept-Encoding")
  if (size >= COMPRESS_FROM_BYTES && acceptsGzip(c.req.header("Accept-Encoding"))) {
    // An output buffer of a quarter of the input: JSON this size shrinks more than that, so zlib
    // runs once on the thread pool rather than once per 16 KiB.
    body = await gzip(body, { level: 1, chunkSize: Math.max(zlib.constants.Z_DEFAULT_CHUNK, Math.ceil(size / 4)) })
    c.header("Content-Encoding", "gzip")
  }
  return c.body(body)
}
