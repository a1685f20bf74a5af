import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { pack, unpack } from "msgpackr"
import { storageFailureOf, type EventLog } from "../core/event-log.ts"
import { position } from "../core/ids.ts"
import { decodeSnapshot, encodeSnapshot } from "../projections/snapshot.ts"
import type { ReadModel } from "../projections/read-model.ts"
import { nodeFs, replaceFileDurably, type DurableFs } from "../log/durable-file.ts"

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

export const loadSnapshot = async (file: string, log: EventLog): Promise<ReadModel | undefined> => {
  if (!existsSync(file)) return undefined
  try {
    const { fingerprint, model } = unpack(readFileSync(file)) as { fingerprint: string; model: Uint8Array }
    const decoded = decodeSnapshot(model)
    if ((await fingerprintAt(log, decoded.state.position)) !== fingerprint) return undefined
    return decoded
  } catch (error) {
    console.error(`helios-master: ignoring unreadable snapshot ${file}: ${String(error)}`)
    return undefined
  }
}

/**
 * Writes the snapshot durably (temp file fsynced, renamed, directory fsynced): after a crash the
 * file holds the old snapshot or the new one, whole. A full, read-only or failing disk rejects with
 * StorageFailed, leaving the old snapshot and no temp file.
 */
export const saveSnapshot = async (file: string, log: EventLog, model: ReadModel, io: DurableFs = nodeFs): Promise<void> => {
  // Encode first, in one synchronous step, so the model cannot move under us; then write atomically.
  const at = model.state.position
  const encoded = encodeSnapshot(model)
  const fingerprint = await fingerprintAt(log, at)
  if (fingerprint === undefined) return
  const bytes = pack({ fingerprint, model: encoded })
  try {
    replaceFileDurably(file, bytes, io)
  } catch (error) {
    throw storageFailureOf(error) ?? error
  }
}
