import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { pack, unpack } from "msgpackr"
import { storageFailureOf, type EventLog, type SharedSnapshotStore } from "../core/event-log.ts"
import { position } from "../core/ids.ts"
import { decodeSnapshot, encodeSnapshotInSlices } from "../projections/snapshot.ts"
import type { ReadModel } from "../projections/read-model.ts"
import { nodeFsAsync, replaceFileDurablyAsync, type DurableFsAsync } from "../log/durable-file.ts"
import { runInSlices } from "./slices.ts"
import { DamagedFile, digestedFileBody, digestedFileChunks } from "./digested-file.ts"

/*
 * A master's local snapshot of its read model, so a restart reads the log's tail only. The log is
 * immutable, so a snapshot at position p plus the events after p is the full replay — as long as it
 * is the same log: the snapshot keeps a fingerprint of the event at p and is ignored if the log
 * there differs (a reset ZooKeeper, another cluster's root).
 */

const fingerprintAt = async (log: EventLog, p: number): Promise<string | undefined> => {
  if (p === 0) return "empty"
  const [e] = await log.read(position(p - 1), 1)
  return e && e.position === p ? createHash("sha1").update(JSON.stringify(e.envelope)).digest("hex") : undefined
}

/** The read model a snapshot file's bytes hold, if it is of this log (its fingerprint matches the log's event there). */
const modelOf = async (bytes: Uint8Array, log: EventLog): Promise<ReadModel | undefined> => {
  const { fingerprint, model } = unpack(bytes) as { fingerprint: string; model: Uint8Array }
  const decoded = decodeSnapshot(model)
  if ((await fingerprintAt(log, decoded.state.position)) !== fingerprint) return undefined
  return decoded
}

/** The first line of a local snapshot file (master/digested-file.ts). */
const SNAPSHOT_MAGIC = Buffer.from("HELIOS-SNAPSHOT sha256\n")

export const loadSnapshot = async (file: string, log: EventLog): Promise<ReadModel | undefined> => {
  if (!existsSync(file)) return undefined
  try {
    return await modelOf(await digestedFileBody(SNAPSHOT_MAGIC, readFileSync(file)), log)
  } catch (error) {
    if (error instanceof DamagedFile) console.error(`helios-master: ignoring the snapshot ${file}: ${error.message}`)
    else console.error(`helios-master: ignoring unreadable snapshot ${file}: ${String(error)}`)
    return undefined
  }
}

/**
 * The masters' shared snapshot (beside the log: log/zk-shared-snapshot.ts), if there is one of this
 * log; anything wrong with it is said and ignored (the master then reads the log instead).
 */
export const loadSharedSnapshot = async (store: SharedSnapshotStore, log: EventLog): Promise<ReadModel | undefined> => {
  try {
    const stored = await store.load()
    if (stored === undefined) return undefined
    const model = await modelOf(stored.bytes, log)
    if (model === undefined) console.error(`helios-master: ignoring the shared snapshot at position ${stored.position}: it is not of this log`)
    return model
  } catch (error) {
    console.error(`helios-master: ignoring the shared snapshot: ${String(error)}`)
    return undefined
  }
}

/** The snapshot file's bytes for `model` (captured at once, encoded in slices), or undefined if the log does not hold its position. */
const snapshotBytes = async (log: EventLog, model: ReadModel): Promise<Uint8Array[] | undefined> => {
  const at = model.state.position
  const steps = encodeSnapshotInSlices(model)
  steps.next() // the capture, before anything else runs
  const fingerprint = await fingerprintAt(log, at)
  if (fingerprint === undefined) return undefined
  return snapshotFileChunks(fingerprint, await runInSlices(steps))
}

/** Shares `model` with the other masters (unless a newer one is shared already): whether it was stored. */
export const saveSharedSnapshot = async (store: SharedSnapshotStore, log: EventLog, model: ReadModel): Promise<boolean> => {
  const at = model.state.position
  const bytes = await snapshotBytes(log, model)
  return bytes !== undefined && (await store.save(at, Buffer.concat(bytes)))
}

/** msgpack's bin header for `n` bytes, as msgpackr writes it. */
const binHeader = (n: number): Uint8Array =>
  n < 0x100 ? Uint8Array.of(0xc4, n) : n < 0x10000 ? Uint8Array.of(0xc5, n >> 8, n & 0xff) : Uint8Array.of(0xc6, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)

/**
 * A snapshot's bytes, as chunks: pack({ fingerprint, model }) with the model's bytes given as
 * chunks (msgpackr's default packr writes an object as a map16). The shared snapshot is these; a
 * local file is these after its digest (digestedFileChunks).
 */
export const snapshotFileChunks = (fingerprint: string, model: ReadonlyArray<Uint8Array>): Uint8Array[] => {
  const size = model.reduce((n, c) => n + c.length, 0)
  return [Uint8Array.of(0xde, 0, 2), pack("fingerprint"), pack(fingerprint), pack("model"), binHeader(size), ...model]
}

/**
 * Writes the snapshot durably (temp file fsynced, renamed, directory fsynced), with its digest:
 * after a crash the file holds the old snapshot or the new one, whole. A full, read-only or
 * failing disk rejects with StorageFailed, leaving the old snapshot and no temp file.
 *
 * The master keeps serving meanwhile: the model is captured at once (a copy of the fleet state, the
 * history's length), then encoded in slices that give the event loop a turn every ~5 ms
 * (projections/snapshot.ts, encodeSnapshotInSlices), and written by libuv's threads.
 */
export const saveSnapshot = async (file: string, log: EventLog, model: ReadModel, io: DurableFsAsync = nodeFsAsync): Promise<void> => {
  const bytes = await snapshotBytes(log, model)
  if (bytes === undefined) return
  try {
    await replaceFileDurablyAsync(file, await digestedFileChunks(SNAPSHOT_MAGIC, bytes), io)
  } catch (error) {
    throw storageFailureOf(error) ?? error
  }
}
