import { Data } from "effect"
import type { EventEnvelope, StoredEvent, StreamId } from "./events.ts"
import type { HostName, Position } from "./ids.ts"
import type { HostStreamBase } from "./desired-state.ts"

/**
 * The expected version of a stream when appending: "none" = the stream must not exist yet, a
 * number = the stream's current version (0 after its first append, +1 per append that lists it).
 */
export type ExpectedVersion = number | "none"

export interface AppendOptions {
  /** Streams this append read; each is checked and bumped atomically with the append. */
  readonly expected?: Readonly<Record<StreamId, ExpectedVersion>>
  /**
   * Streams this append read but does not change: each must still be at this version, checked
   * atomically with the append and NOT bumped (a host's stream is bumped only by a batch with an
   * event of that host: agents count their stream's bumps). A stream in both is taken as expected.
   */
  readonly unchanged?: Readonly<Record<StreamId, ExpectedVersion>>
}

export interface AppendResult {
  readonly firstPosition: Position
  readonly lastPosition: Position
}

/** An event of one host's stream: its place in that stream and in the global log. */
export interface HostStreamEvent extends StoredEvent {
  readonly hostPosition: number
}

/** Another append touched a stream this one expected at a given version; nothing was written. */
export class AppendConflict extends Data.TaggedError("AppendConflict")<{
  readonly stream: StreamId
  readonly expected: ExpectedVersion
}> {}
/** The batch is larger than one ZooKeeper request can carry; nothing was written. */
export class BatchTooLarge extends Data.TaggedError("BatchTooLarge")<{ readonly bytes: number; readonly limit: number }> {}
/**
 * The log holds, at `position`, bytes this build cannot decode: garbage, a schema violation, or a
 * schema version newer than it knows. A read returns the events before it, and the next read
 * rejects with this; nothing after it is returned (later events may depend on it).
 */
export class UndecodableEvent extends Data.TaggedError("UndecodableEvent")<{
  /** The first position of what cannot be decoded (on ZooKeeper: of the batch holding it). */
  readonly position: number
  /** Its last position (a batch of several events takes several positions). */
  readonly through: number
  /** What is wrong, naming the field or the version. */
  readonly reason: string
  /** The streams its append bumped, when the log can tell (a skip must still count them). */
  readonly bumped: ReadonlyArray<StreamId>
}> {}
/**
 * The events asked for were archived out of the log's store (README "Retention and archiving")
 * and this reader has no archive holding them: a read starting at or below `through` rejects.
 */
export class EventsArchived extends Data.TaggedError("EventsArchived")<{
  /** The last archived position: a read after it is answered from the log as usual. */
  readonly through: number
  readonly message: string
}> {}
/** The log's store cannot be reached right now; the append may be retried. */
export class LogUnavailable extends Data.TaggedError("LogUnavailable")<{ readonly reason: string }> {}
/**
 * The log (or the master relaying to it) is too busy to take this append now and wrote NOTHING:
 * send it again after `retryAfterMs` (no need to check whether it landed).
 */
export class LogBusy extends Data.TaggedError("LogBusy")<{ readonly reason: string; readonly retryAfterMs: number }> {}

/** Why a store refused a write, in the words an operator searches for. */
export type StorageFailureReason = "disk full" | "read-only file system" | "disk quota exceeded" | "I/O error"

/**
 * The disk under the log (or a master's snapshot) refused a write: full, read-only, over quota or
 * failing. Nothing was written; retrying helps only once an operator has fixed the disk.
 */
export class StorageFailed extends Data.TaggedError("StorageFailed")<{
  readonly reason: StorageFailureReason
  /** The error code as the store gave it (SQLITE_FULL, ENOSPC, ...). */
  readonly code: string
}> {}

/** The StorageFailed an error from SQLite or node:fs stands for, if it is one of a failing disk. */
export const storageFailureOf = (error: unknown): StorageFailed | undefined => {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined
  if (typeof code !== "string") return undefined
  const reason: StorageFailureReason | undefined =
    code === "SQLITE_FULL" || code === "ENOSPC"
      ? "disk full"
      : code.startsWith("SQLITE_READONLY") || code === "EROFS"
        ? "read-only file system"
        : code === "EDQUOT"
          ? "disk quota exceeded"
          : code.startsWith("SQLITE_IOERR") || code === "EIO"
            ? "I/O error"
            : undefined
  return reason === undefined ? undefined : new StorageFailed({ reason, code })
}

export type AppendError = AppendConflict | BatchTooLarge | LogUnavailable | StorageFailed

export type Unsubscribe = () => void

/**
 * The event log port. Both adapters (ZooKeeper, embedded SQLite) hold the invariants of
 * the README's "The event log on ZooKeeper" and pass one conformance suite (test/log-conformance.ts).
 */
export interface EventLog {
  /** Appends the events of one command all-or-nothing, contiguously. Rejects with an AppendError. */
  append(events: ReadonlyArray<EventEnvelope>, options?: AppendOptions): Promise<AppendResult>
  /** Events with position > after, in order, at most `limit` of them. */
  read(after: Position, limit?: number): Promise<ReadonlyArray<StoredEvent>>
  /**
   * The events at `positions` (ascending, each in the log), in that order, decoding only those:
   * what a job's history reads (the history index names its positions). Optional: without it,
   * the ranges around them are read (master/history-reader.ts). Rejects as `read` would for an
   * undecodable or archived one.
   */
  readAt?(positions: ReadonlyArray<number>): Promise<ReadonlyArray<StoredEvent>>
  /** The position of the last event in the log (0 when empty). */
  head(): Promise<Position>
  /** Host H's events with host position > after, without reading other hosts' events. */
  readHostStream(host: HostName, after: number, limit?: number): Promise<ReadonlyArray<HostStreamEvent>>
  /**
   * Catches up from `after`, then follows live; `onEvents` is called in order, never concurrently.
   * An event that cannot be decoded stops the subscription before it (it keeps trying, slowly) and
   * is reported to `onUndecodable` each time it is met.
   */
  subscribe(
    after: Position,
    onEvents: (events: ReadonlyArray<StoredEvent>) => void | Promise<void>,
    onUndecodable?: (error: UndecodableEvent) => void,
  ): Unsubscribe
  subscribeHostStream(
    host: HostName,
    after: number,
    onEvents: (events: ReadonlyArray<HostStreamEvent>) => void | Promise<void>,
    onUndecodable?: (error: UndecodableEvent) => void,
  ): Unsubscribe
  /**
   * Storage upkeep that changes no read: packs sealed segments into a few large nodes (ZooKeeper);
   * absent for logs that need none. Safe beside appends, readers and another caller.
   */
  packSealed?(): Promise<PackReport>
  /**
   * Host H's stream base, if its oldest events were archived: the desired state as of a host
   * position, to start from instead of reading the stream from 0 (which rejects with EventsArchived).
   */
  hostStreamBase?(host: HostName): Promise<HostStreamBase | undefined>
  /**
   * The log was found not to hold what it acknowledged (a divergence): forget what this process
   * remembers of it (its own recent appends, kept for its followers, and where chains end), so
   * every read goes to the store again. Absent for logs that remember nothing.
   */
  distrustMemory?(): void
  /**
   * Where masters share a snapshot of their read model beside the log (ZooKeeper), so a master
   * without a snapshot of its own starts from it instead of from position 0; absent: none.
   */
  readonly sharedSnapshots?: SharedSnapshotStore
  close(): Promise<void>
}

/** Every member of EventLog: adding one to the interface without naming it here does not compile. */
const LOG_MEMBERS: { readonly [K in keyof EventLog]-?: true } = {
  append: true,
  read: true,
  readAt: true,
  head: true,
  readHostStream: true,
  subscribe: true,
  subscribeHostStream: true,
  packSealed: true,
  hostStreamBase: true,
  distrustMemory: true,
  sharedSnapshots: true,
  close: true,
}

/**
 * `log` with some members replaced (a metered or guarded append): every other one, the optional
 * ones included, is `log`'s own. A wrapper that lists what it forwards drops what it forgets: an
 * agent run with --metrics-port lost hostStreamBase (and could not start from an archived host
 * stream), a master's history its fast positional reads.
 */
export const wrapLog = (log: EventLog, replaced: Partial<EventLog>): EventLog => {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(LOG_MEMBERS) as Array<keyof EventLog>) {
    const own = log[key] as unknown
    if (own === undefined) continue
    out[key] = typeof own === "function" ? (own as (...args: unknown[]) => unknown).bind(log) : own
  }
  return { ...(out as unknown as EventLog), ...replaced }
}

/** One snapshot (its bytes opaque here) shared by every master, replaced by newer ones. */
export interface SharedSnapshotStore {
  /** The position of the one stored, if any (cheap: no snapshot bytes are read). */
  position(): Promise<number | undefined>
  /** The one stored, whole and checked against its digest, or undefined if there is none. */
  load(): Promise<{ readonly position: number; readonly bytes: Buffer } | undefined>
  /** Stores a snapshot at `position`, unless a newer one is stored already (then false). */
  save(position: number, bytes: Buffer): Promise<boolean>
}

/** What one packSealed round did. */
export interface PackReport {
  /** Segments packed (the global log's and host streams'). */
  segments: number
  /** Their entries (batches, or hosts' slices of batches) written into chunks. */
  entries: number
  /** Per-position znodes removed. */
  znodesRemoved: number
}
