import { createHash } from "node:crypto"
import { pacer } from "./slices.ts"

/*
 * A master's local files (its snapshot, its checkpoints: master/checkpoints.ts) carry a digest of
 * their bytes, checked before anything is decoded: a flipped bit would otherwise mostly decode into
 * a wrong fleet state, served as if true. (The shared snapshot has its own, in its manifest:
 * log/zk-shared-snapshot.ts; its bytes stay the body alone, which masters of every version read.)
 *
 *   magic      an ASCII line naming the kind of file, e.g. "HELIOS-SNAPSHOT sha256\n"
 *   digest     SHA-256 of the body, 32 bytes
 *   body       the bytes the previous format wrote whole (one msgpack map)
 *
 * Telling the formats apart: a file of the previous format (no digest) is one msgpack map, so its
 * first byte is a map header (0x80-0x8f, 0xde, 0xdf) and it is read as before, unchecked. The magic
 * starts with "H" (0x48), at least two bits from any of those, so no single flipped bit turns a
 * digested file into one read unchecked; a file that starts with neither is refused as damaged.
 *
 * SHA-256, as the shared snapshot and the archives: measured ~0.6 ms per MiB (SHA-NI), ~41 ms for a
 * 70 MiB snapshot in one go, against ~15 ms for zlib.crc32, which would block longer than a slice
 * too: too little saved for a check that misses one damage in 2^32. So it is hashed 1 MiB at a
 * time, the event loop given a turn every ~5 ms (SLICE_MS), as the encoding is: ~50 ms in all for
 * 70 MiB, no turn longer than ~7 ms.
 */

/** A local file whose bytes do not match the digest it carries, or whose header is damaged. */
export class DamagedFile extends Error {}

const DIGEST_BYTES = 32
const HASH_PIECE = 1 << 20

const isMsgpackMap = (byte: number | undefined): boolean =>
  byte !== undefined && ((byte >= 0x80 && byte <= 0x8f) || byte === 0xde || byte === 0xdf)

const sha256InSlices = async (chunks: ReadonlyArray<Uint8Array>): Promise<Buffer> => {
  const hash = createHash("sha256")
  const pace = pacer()
  for (const chunk of chunks)
    for (let offset = 0; offset < chunk.length; offset += HASH_PIECE) {
      hash.update(chunk.subarray(offset, offset + HASH_PIECE))
      await pace()
    }
  return hash.digest()
}

/** A local file's chunks: `magic`, the digest of `body`, then `body`. */
export const digestedFileChunks = async (magic: Uint8Array, body: ReadonlyArray<Uint8Array>): Promise<Uint8Array[]> => [
  magic,
  await sha256InSlices(body),
  ...body,
]

/**
 * The body of a local file digestedFileChunks wrote, its digest checked (DamagedFile if it does
 * not match), or a file of the previous format as it is (DamagedFile if it is neither).
 */
export const digestedFileBody = async (magic: Uint8Array, bytes: Uint8Array): Promise<Uint8Array> => {
  const file = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  if (file.subarray(0, magic.length).equals(magic)) {
    const header = magic.length + DIGEST_BYTES
    const body = file.subarray(header)
    if (file.length < header || !(await sha256InSlices([body])).equals(file.subarray(magic.length, header)))
      throw new DamagedFile("its SHA-256 digest does not match its bytes (damaged on disk)")
    return body
  }
  if (isMsgpackMap(file[0])) return file
  throw new DamagedFile(`its header is damaged: neither a digest's nor the previous format's (first bytes ${file.subarray(0, 8).toString("hex")})`)
}
