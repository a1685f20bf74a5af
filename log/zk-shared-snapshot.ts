import { createHash, randomUUID } from "node:crypto"
import { Schema } from "effect"
import type { SharedSnapshotStore } from "../core/event-log.ts"
import { ZK, zkCode, type ZkClient } from "./zk-client.ts"
import type { ZkPaths } from "./zk-paths.ts"
import { CHUNK_BYTES, decodeJson } from "./zk-chain-format.ts"
import { mapLimit } from "./map-limit.ts"

/*
 * The masters' shared snapshot on ZooKeeper: the read model at some position, so a master with no
 * snapshot of its own (a new machine, a lost disk) reads it and the log after it, not the whole log.
 *
 *   <root>/shared-snapshot                 {"position", "id", "chunks", "bytes", "sha256"}
 *   <root>/shared-snapshot-chunks/<id>-<k> the snapshot's bytes, k = 0..chunks-1, each <= CHUNK_BYTES
 *
 * A writer puts every chunk first under a fresh id, then points the manifest at them (one setData,
 * checked against the version it read: a newer snapshot is never replaced by an older one), then
 * removes the chunks of other ids. A reader that finds a chunk gone (replaced while it read) reads
 * the manifest again. What a reader returns has the size and digest the manifest names; whether it
 * belongs to this log is the master's check (master/snapshots.ts compares the event at its position).
 * A writer that dies midway leaves chunks no manifest names: the next save removes them. Only the
 * leader saves; two leaders at once may at worst leave a manifest whose chunks the other removed,
 * which a reader finds incomplete (an error: the master then reads the whole log) until the next save.
 */

const Manifest = Schema.Struct({
  position: Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))),
  id: Schema.String.pipe(Schema.check(Schema.isPattern(/^[0-9a-f-]{1,64}$/))),
  chunks: Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1), Schema.isLessThanOrEqualTo(100_000))),
  bytes: Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))),
  sha256: Schema.String.pipe(Schema.check(Schema.isPattern(/^[0-9a-f]{64}$/))),
})
type Manifest = typeof Manifest.Type

/** Reads of one snapshot that met a chunk already replaced, before the reader gives up. */
const READ_ATTEMPTS = 3
const CHUNKS_IN_FLIGHT = 4

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex")

export class ZkSharedSnapshots implements SharedSnapshotStore {
  constructor(
    private readonly zk: ZkClient,
    private readonly paths: ZkPaths,
  ) {}

  private chunkPath = (id: string, k: number) => `${this.paths.sharedSnapshotChunks}/${id}-${k}`

  /** The manifest and its node's version, or undefined if there is none. A malformed one is an Error naming it. */
  private async manifest(): Promise<{ manifest: Manifest; version: number } | undefined> {
    let read: { data: Buffer; stat: { version: number } }
    try {
      read = await this.zk.getData(this.paths.sharedSnapshot)
    } catch (e) {
      if (zkCode(e) === ZK.Exception.NO_NODE) return undefined
      throw e
    }
    return { manifest: decodeJson(Manifest, this.paths.sharedSnapshot, read.data), version: read.stat.version }
  }

  async position(): Promise<number | undefined> {
    await this.zk.sync(this.paths.sharedSnapshot)
    return (await this.manifest())?.manifest.position
  }

  async load(): Promise<{ readonly position: number; readonly bytes: Buffer } | undefined> {
    await this.zk.sync(this.paths.sharedSnapshot)
    for (let attempt = 1; ; attempt++) {
      const m = (await this.manifest())?.manifest
      if (m === undefined) return undefined
      try {
        const chunks = await mapLimit(
          Array.from({ length: m.chunks }, (_, k) => k),
          CHUNKS_IN_FLIGHT,
          async (k) => (await this.zk.getData(this.chunkPath(m.id, k))).data,
        )
        const bytes = Buffer.concat(chunks)
        if (bytes.length !== m.bytes || sha256(bytes) !== m.sha256)
          throw new Error(`${this.paths.sharedSnapshot}: the chunks of snapshot ${m.id} do not match its size and digest`)
        return { position: m.position, bytes }
      } catch (e) {
        // Replaced while read: the manifest names newer chunks now.
        if (zkCode(e) !== ZK.Exception.NO_NODE || attempt >= READ_ATTEMPTS) throw e
      }
    }
  }

  async save(position: number, bytes: Buffer): Promise<boolean> {
    await this.zk.ensurePath(this.paths.sharedSnapshotChunks)
    await this.zk.sync(this.paths.sharedSnapshot)
    const before = await this.manifest()
    if (before !== undefined && before.manifest.position >= position) return false
    const id = randomUUID()
    const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES))
    await mapLimit(Array.from({ length: chunks }, (_, k) => k), CHUNKS_IN_FLIGHT, (k) =>
      this.zk.create(this.chunkPath(id, k), bytes.subarray(k * CHUNK_BYTES, (k + 1) * CHUNK_BYTES)),
    )
    const manifest: Manifest = { position, id, chunks, bytes: bytes.length, sha256: sha256(bytes) }
    const data = Buffer.from(JSON.stringify(manifest))
    try {
      if (before === undefined) await this.zk.create(this.paths.sharedSnapshot, data)
      else await this.zk.setData(this.paths.sharedSnapshot, data, before.version)
    } catch (e) {
      // Another master stored one meanwhile: ours is not the newer one for certain; drop it.
      const code = zkCode(e)
      if (code !== ZK.Exception.NODE_EXISTS && code !== ZK.Exception.BAD_VERSION) throw e
      const now = await this.manifest()
      if (now !== undefined) await this.removeChunksExcept(now.manifest.id)
      return false
    }
    await this.removeChunksExcept(id)
    return true
  }

  /**
   * Removes every chunk but those of snapshot `keep` and of the one the manifest names now (another
   * master may have stored a newer one since `keep`'s: removing its chunks left a manifest naming
   * none): replaced snapshots, and those of writers that died midway.
   */
  private async removeChunksExcept(keep: string): Promise<void> {
    const current = (await this.manifest())?.manifest.id
    const stale = (await this.zk.getChildrenIfExists(this.paths.sharedSnapshotChunks)).filter(
      (name) => !name.startsWith(`${keep}-`) && (current === undefined || !name.startsWith(`${current}-`)),
    )
    await mapLimit(stale, CHUNKS_IN_FLIGHT, async (name) => {
      try {
        await this.zk.remove(`${this.paths.sharedSnapshotChunks}/${name}`)
      } catch (e) {
        if (zkCode(e) !== ZK.Exception.NO_NODE) throw e
      }
    })
  }
}
