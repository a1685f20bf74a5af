import { createHash } from "node:crypto"
import { open, type FileHandle } from "node:fs/promises"
import { Schema } from "effect"
import { NonNegativeInt } from "../core/ids.ts"
import { replaceFileDurablyAsync } from "./durable-file.ts"
import { decodeJson } from "./zk-chain-format.ts"

/*
 * An archive file: packed segments of the global log moved out of ZooKeeper (README "Retention and
 * archiving"). Its layout:
 *
 *   MAGIC                      "HELIOS-ARCHIVE 1\n"
 *   chunk, chunk, ...          each packed chunk's bytes exactly as its znode held them
 *   footer                     JSON: the log's root and segment size, and per segment its chunks'
 *                              first positions, offsets, lengths and SHA-256 digests
 *   trailer                    the footer's length (uint32, big-endian), then TRAILER_MAGIC
 *
 * The footer is written last, so a file is indexed without knowing its size beforehand; the
 * digest of the footer's bytes names the file in ZooKeeper's archive mark, so a master never reads
 * a file that is not the one archived (another cluster's, or a damaged copy). Every chunk read is
 * checked against its digest.
 */

const MAGIC = Buffer.from("HELIOS-ARCHIVE 1\n")
const TRAILER_MAGIC = Buffer.from("HAR1")
const TRAILER_BYTES = 4 + TRAILER_MAGIC.length

const ArchivedChunk = Schema.Struct({ start: NonNegativeInt, offset: NonNegativeInt, length: NonNegativeInt, sha256: Schema.String })
const ArchivedSegment = Schema.Struct({ segment: NonNegativeInt, chunks: Schema.Array(ArchivedChunk) })
const ArchiveFooter = Schema.Struct({
  format: Schema.Literal(1),
  root: Schema.String,
  segmentSize: NonNegativeInt,
  segments: Schema.Array(ArchivedSegment),
})
export type ArchiveFooter = typeof ArchiveFooter.Type

/** A packed segment as it is archived: its chunks' first positions and bytes, in order. */
export interface SegmentToArchive {
  readonly segment: number
  readonly starts: ReadonlyArray<number>
  readonly chunks: ReadonlyArray<Buffer>
}

const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex")

/**
 * Writes the segments to `file` durably (a temp file, fsync, rename, fsync of the directory), the
 * segments read one at a time as they are written. Returns the footer's digest and the file's size.
 */
export const writeArchiveFile = async (
  file: string,
  header: { readonly root: string; readonly segmentSize: number },
  segments: AsyncIterable<SegmentToArchive>,
): Promise<{ readonly footerSha256: string; readonly bytes: number; readonly footer: ArchiveFooter }> => {
  const index: Array<ArchiveFooter["segments"][number]> = []
  let offset = 0
  let footerBytes: Buffer | undefined
  async function* parts(): AsyncIterable<Uint8Array> {
    yield MAGIC
    offset = MAGIC.length
    for await (const s of segments) {
      const chunks = s.chunks.map((data, k) => {
        const chunk = { start: s.starts[k]!, offset, length: data.length, sha256: sha256(data) }
        offset += data.length
        return chunk
      })
      yield* s.chunks
      index.push({ segment: s.segment, chunks })
    }
    footerBytes = Buffer.from(JSON.stringify({ format: 1, root: header.root, segmentSize: header.segmentSize, segments: index }))
    const trailer = Buffer.alloc(TRAILER_BYTES)
    trailer.writeUInt32BE(footerBytes.length, 0)
    TRAILER_MAGIC.copy(trailer, 4)
    yield footerBytes
    yield trailer
  }
  // Events hold jobs' env and tokens: the file is its owner's alone (PRIVATE_FILE_MODE, the default).
  await replaceFileDurablyAsync(file, parts())
  return {
    footerSha256: sha256(footerBytes!),
    bytes: offset + footerBytes!.length + TRAILER_BYTES,
    footer: { format: 1, root: header.root, segmentSize: header.segmentSize, segments: index },
  }
}

/** An archive file opened for reading: its footer (checked) and chunks read on demand. */
export class ArchiveFile {
  private readonly bySegment: ReadonlyMap<number, ArchiveFooter["segments"][number]>

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    readonly footer: ArchiveFooter,
    readonly footerSha256: string,
  ) {
    this.bySegment = new Map(footer.segments.map((s) => [s.segment, s]))
  }

  /** Opens `file` and reads its footer; rejects naming what is wrong (not an archive, truncated, damaged). */
  static async open(file: string): Promise<ArchiveFile> {
    const handle = await open(file, "r")
    try {
      const { size } = await handle.stat()
      const read = async (position: number, length: number): Promise<Buffer> => {
        const buffer = Buffer.alloc(length)
        const { bytesRead } = await handle.read(buffer, 0, length, position)
        if (bytesRead !== length) throw new Error(`${file}: truncated`)
        return buffer
      }
      if (size < MAGIC.length + TRAILER_BYTES || !(await read(0, MAGIC.length)).equals(MAGIC)) throw new Error(`${file}: not a Helios archive file`)
      const trailer = await read(size - TRAILER_BYTES, TRAILER_BYTES)
      if (!trailer.subarray(4).equals(TRAILER_MAGIC)) throw new Error(`${file}: no archive trailer (truncated or damaged)`)
      const footerLength = trailer.readUInt32BE(0)
      if (footerLength > size - MAGIC.length - TRAILER_BYTES) throw new Error(`${file}: footer length ${footerLength} past the file's size`)
      const footerBytes = await read(size - TRAILER_BYTES - footerLength, footerLength)
      const footer = decodeJson(ArchiveFooter, `${file}: footer`, footerBytes)
      return new ArchiveFile(file, handle, footer, sha256(footerBytes))
    } catch (e) {
      await handle.close()
      throw e
    }
  }

  holds(segment: number): boolean {
    return this.bySegment.has(segment)
  }

  /** Segment s's chunks' first positions. */
  chunkStarts(segment: number): ReadonlyArray<number> {
    return this.segment(segment).chunks.map((c) => c.start)
  }

  /** Chunk k of segment s, its bytes checked against the footer's digest. */
  async chunk(segment: number, k: number): Promise<Buffer> {
    const chunk = this.segment(segment).chunks[k]
    if (chunk === undefined) throw new Error(`${this.file}: segment ${segment} has no chunk ${k}`)
    const buffer = Buffer.alloc(chunk.length)
    const { bytesRead } = await this.handle.read(buffer, 0, chunk.length, chunk.offset)
    if (bytesRead !== chunk.length || sha256(buffer) !== chunk.sha256) throw new Error(`${this.file}: segment ${segment} chunk ${k} is damaged (digest mismatch)`)
    return buffer
  }

  private segment(segment: number): ArchiveFooter["segments"][number] {
    const s = this.bySegment.get(segment)
    if (s === undefined) throw new Error(`${this.file}: does not hold segment ${segment}`)
    return s
  }

  close(): Promise<void> {
    return this.handle.close()
  }
}
