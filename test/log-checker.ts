/**
 * Checks a whole event log after a fault run (test/nemesis.ts) against what the clients were told
 * and what every master's projection holds. Pure: the log, the acknowledgements and the masters'
 * digests come in as data.
 *
 * - the log is dense: positions 1..N, each either a batch (its first position) or an empty marker
 *   inside the batch before it, with no hole, no orphan marker and no batch cut short;
 * - no batch id appears twice, and no command id appears in two batches (a duplicate);
 * - every acknowledged command (command id -> the position it was answered with) appears exactly
 *   once, and the answer named the last position of the batch where it landed (a retried command
 *   is answered with its first position, never a second one); an acknowledged command absent from
 *   the log is lost;
 * - a command answered with a refusal (4xx) is not in the log (it was not written after all);
 * - every master's projection equals a fresh replay of the log: the SHA-256 of the read model's
 *   snapshot encoding (projections/snapshot.ts, as GET /projection/digest computes it) at the
 *   position the master applied, which must be the log's head (converged).
 */
import { createHash } from "node:crypto"
import type { EncodedBatch } from "../core/codec.ts"
import { NO_STREAMS, type StoredEvent } from "../core/events.ts"
import type { Position } from "../core/ids.ts"
import { applyToReadModel, emptyReadModel } from "../projections/read-model.ts"
import { encodeSnapshot } from "../projections/snapshot.ts"

/** One znode of the log: a batch at its first position, or an empty marker (batch undefined). */
export interface LogEntry {
  readonly position: number
  readonly batch?: EncodedBatch
}

/** A client was told OK for this command id, at this position (the answer's `position`). */
export interface Acknowledgement {
  readonly commandId: string
  readonly position: number
  /** HTTP attempts it took (1: no retry). */
  readonly attempts: number
}

/** A client was told no (4xx) for this command id. */
export interface Refusal {
  readonly commandId: string
  readonly status: number
  readonly body: string
}

/** What GET /projection/digest answered on one master. */
export interface MasterDigest {
  readonly name: string
  readonly position: number
  readonly sha256: string
  readonly diverged?: boolean
}

export type ViolationKind =
  | "hole"
  | "orphan-marker"
  | "short-batch"
  | "duplicate-batch-id"
  | "duplicate-command"
  | "lost"
  | "wrong-position"
  | "refused-but-written"
  | "master-behind"
  | "master-diverged"

export interface Violation {
  readonly kind: ViolationKind
  readonly message: string
}

export interface CheckReport {
  /** The log's head (its last position). */
  readonly head: number
  readonly batches: number
  readonly acknowledged: number
  /** Acknowledged commands that took more than one attempt. */
  readonly retried: number
  readonly lost: number
  readonly duplicated: number
  readonly mastersConverged: boolean
  readonly violations: ReadonlyArray<Violation>
}

export const sha256Of = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/** The log's events in order, as EventLog.read returns them (a batch's bumped streams on its last event). */
export const storedEvents = (entries: ReadonlyArray<LogEntry>): StoredEvent[] =>
  entries.flatMap((entry) =>
    entry.batch === undefined
      ? []
      : entry.batch.events.map((envelope, i, all) => ({
          position: (entry.position + i) as Position,
          envelope,
          bumped: i === all.length - 1 ? entry.batch!.bumped : NO_STREAMS,
        })),
  )

/** The digests a fresh replay gives at each of `positions` (what GET /projection/digest answers there). */
export const replayDigests = (events: ReadonlyArray<StoredEvent>, positions: Iterable<number>): Map<number, string> => {
  const wanted = [...new Set(positions)].sort((a, b) => a - b)
  const out = new Map<number, string>()
  const model = emptyReadModel()
  let i = 0
  for (const p of wanted) {
    while (i < events.length && events[i]!.position <= p) applyToReadModel(model, events[i++]!)
    out.set(p, sha256Of(encodeSnapshot(model)))
  }
  return out
}

export interface CheckInput {
  /** Every znode of the log, in any order. */
  readonly entries: ReadonlyArray<LogEntry>
  readonly acknowledged: ReadonlyArray<Acknowledgement>
  readonly refused?: ReadonlyArray<Refusal>
  readonly masters: ReadonlyArray<MasterDigest>
}

export const checkLog = (input: CheckInput): CheckReport => {
  const violations: Violation[] = []
  const add = (kind: ViolationKind, message: string) => violations.push({ kind, message })
  const entries = [...input.entries].sort((a, b) => a.position - b.position)
  const head = entries.length === 0 ? 0 : entries[entries.length - 1]!.position

  // Dense: 1..head, each marker inside the batch before it, each batch whole.
  let expected = 1
  let batchEnd = 0 // last position the current batch covers
  for (const entry of entries) {
    if (entry.position !== expected) {
      if (entry.position < expected) add("hole", `position ${entry.position} appears twice`)
      else add("hole", `positions ${expected}..${entry.position - 1} are missing`)
    }
    if (entry.batch === undefined) {
      if (entry.position > batchEnd) add("orphan-marker", `marker at ${entry.position} belongs to no batch`)
    } else {
      if (batchEnd >= entry.position) add("short-batch", `batch at ${entry.position} starts inside the batch ending at ${batchEnd}`)
      batchEnd = entry.position + entry.batch.events.length - 1
    }
    expected = entry.position + 1
  }
  if (batchEnd > head) add("short-batch", `the last batch ends at ${batchEnd}, past the log's head ${head}`)

  // Batch ids and command ids: each once. A command's events are one batch; where did it end?
  const batchIds = new Map<string, number>()
  const commandEnds = new Map<string, number[]>()
  let batches = 0
  for (const entry of entries) {
    const batch = entry.batch
    if (batch === undefined) continue
    batches++
    const seen = batchIds.get(batch.batchId)
    if (seen !== undefined) add("duplicate-batch-id", `batch ${batch.batchId} at ${seen} and at ${entry.position}`)
    else batchIds.set(batch.batchId, entry.position)
    const ids = new Set(batch.events.flatMap((e) => (e.commandId !== undefined ? [e.commandId] : [])))
    for (const id of ids) commandEnds.set(id, [...(commandEnds.get(id) ?? []), entry.position + batch.events.length - 1])
  }

  let duplicated = 0
  for (const [id, ends] of commandEnds)
    if (ends.length > 1) {
      add("duplicate-command", `command ${id} landed ${ends.length} times, ending at ${ends.join(", ")}`)
      duplicated += ends.length - 1
    }

  let lost = 0
  const lostIds = new Set<string>()
  for (const ack of input.acknowledged) {
    const ends = commandEnds.get(ack.commandId)
    if (ends === undefined) {
      if (!lostIds.has(ack.commandId)) lost++
      lostIds.add(ack.commandId)
      add("lost", `command ${ack.commandId} was acknowledged at ${ack.position} but is not in the log`)
    } else if (!ends.includes(ack.position))
      add("wrong-position", `command ${ack.commandId} was acknowledged at ${ack.position} but its batch ends at ${ends[0]}`)
  }
  for (const r of input.refused ?? [])
    if (commandEnds.has(r.commandId)) add("refused-but-written", `command ${r.commandId} was refused (${r.status} ${r.body.slice(0, 120)}) yet is in the log`)

  // Projections: each master at the head, and equal to a replay there.
  const replay = replayDigests(storedEvents(entries), input.masters.map((m) => m.position))
  let mastersConverged = true
  for (const m of input.masters) {
    if (m.position !== head) {
      mastersConverged = false
      add("master-behind", `master ${m.name} applied position ${m.position}, the log's head is ${head}`)
    }
    if (m.diverged === true || replay.get(m.position) !== m.sha256) {
      mastersConverged = false
      add("master-diverged", `master ${m.name}'s projection at ${m.position} differs from a replay of the log${m.diverged ? " (it says DIVERGED)" : ""}`)
    }
  }

  return {
    head,
    batches,
    acknowledged: new Set(input.acknowledged.map((a) => a.commandId)).size,
    retried: new Set(input.acknowledged.filter((a) => a.attempts > 1).map((a) => a.commandId)).size,
    lost,
    duplicated,
    mastersConverged,
    violations,
  }
}

/** One line of figures, e.g. for a CI log. */
export const formatReport = (r: CheckReport): string =>
  `log head ${r.head} (${r.batches} batches), commands acknowledged ${r.acknowledged} (${r.retried} after a retry), ` +
  `lost ${r.lost}, duplicated ${r.duplicated}, masters converged ${r.mastersConverged ? "yes" : "no"}, violations ${r.violations.length}`
