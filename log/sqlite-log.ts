import Database from "better-sqlite3"
import { Result } from "effect"
import { decodeEvent, encodeEvent } from "../core/codec.ts"
import {
  AppendConflict,
  BatchTooLarge,
  storageFailureOf,
  UndecodableEvent,
  type AppendOptions,
  type AppendResult,
  type EventLog,
  type HostStreamEvent,
  type Unsubscribe,
} from "../core/event-log.ts"
import { hostsOf, NO_STREAMS, type EventEnvelope, type StoredEvent, type StreamId } from "../core/events.ts"
import { position, type HostName, type Position } from "../core/ids.ts"
import { follow, type Follower } from "./follow.ts"
import { missingPosition } from "./position-ranges.ts"

/** Positions per query of readAt (SQLite takes at most 32,766 parameters). */
const READ_AT_ROWS = 500

/** A follower's errors: an event that cannot be decoded goes to the subscriber's handler, if it has one. */
const undecodableTo =
  (onUndecodable: ((error: UndecodableEvent) => void) | undefined) =>
  (error: unknown): void => {
    if (error instanceof UndecodableEvent) onUndecodable?.(error)
  }

/** Same limit as the ZooKeeper adapter, so a batch accepted in solo mode is accepted on a fleet. */
export const MAX_BATCH_BYTES = 1_000_000

interface EventRow {
  position: number
  bumped: string | null
  event: Buffer
}

/** Runs a statement; a failing disk (SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR...) becomes StorageFailed. */
const onDisk = <T>(run: () => T): T => {
  try {
    return run()
  } catch (error) {
    throw storageFailureOf(error) ?? error
  }
}

/**
 * The embedded event log for solo mode: one SQLite file, written in WAL mode with full fsync so an
 * acknowledged append survives a crash of the process or the machine. A disk that is full,
 * read-only or failing rejects with StorageFailed (the transaction rolled back: nothing written).
 */
export class SqliteEventLog implements EventLog {
  private readonly db: Database.Database
  private readonly followers = new Set<Follower>()

  constructor(file: string) {
    this.db = new Database(file)
    this.db.pragma("journal_mode = WAL")
    this.db.pragma("synchronous = FULL")
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS events (position INTEGER PRIMARY KEY, bumped TEXT, event BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS streams (id TEXT PRIMARY KEY, version INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS host_events (
        host TEXT NOT NULL, host_position INTEGER NOT NULL, position INTEGER NOT NULL, bumped TEXT,
        PRIMARY KEY (host, host_position));
    `)
  }

  private readonly appendTx = (
    encoded: ReadonlyArray<Buffer>,
    envelopes: ReadonlyArray<EventEnvelope>,
    expected: Readonly<Record<StreamId, number | "none">>,
    unchanged: Readonly<Record<StreamId, number | "none">>,
  ): AppendResult =>
    this.db.transaction(() => {
      for (const [stream, want] of Object.entries(unchanged) as Array<[StreamId, number | "none"]>) {
        if (Object.hasOwn(expected, stream)) continue
        const row = this.db.prepare("SELECT version FROM streams WHERE id = ?").get(stream) as { version: number } | undefined
        if ((row?.version ?? "none") !== want) throw new AppendConflict({ stream, expected: want })
      }
      for (const [stream, want] of Object.entries(expected) as Array<[StreamId, number | "none"]>) {
        const row = this.db.prepare("SELECT version FROM streams WHERE id = ?").get(stream) as { version: number } | undefined
        const actual = row?.version ?? "none"
        if (actual !== want) throw new AppendConflict({ stream, expected: want })
        if (row === undefined) this.db.prepare("INSERT INTO streams (id, version) VALUES (?, 0)").run(stream)
        else this.db.prepare("UPDATE streams SET version = version + 1 WHERE id = ?").run(stream)
      }
      const head = (this.db.prepare("SELECT COALESCE(MAX(position), 0) AS p FROM events").get() as { p: number }).p
      const bumped = JSON.stringify(Object.keys(expected))
      const insert = this.db.prepare("INSERT INTO events (position, bumped, event) VALUES (?, ?, ?)")
      const hostHead = this.db.prepare("SELECT COALESCE(MAX(host_position), 0) AS p FROM host_events WHERE host = ?")
      const insertHost = this.db.prepare("INSERT INTO host_events (host, host_position, position, bumped) VALUES (?, ?, ?, ?)")
      // The last event of each host's slice of the batch carries the batch's bumps in that host's stream.
      const lastForHost = new Map<string, number>()
      envelopes.forEach((e, i) => hostsOf(e.event).forEach((h) => lastForHost.set(h, i)))
      encoded.forEach((bytes, i) => {
        const p = head + 1 + i
        insert.run(p, i === encoded.length - 1 ? bumped : null, bytes)
        for (const host of hostsOf(envelopes[i]!.event)) {
          const hp = (hostHead.get(host) as { p: number }).p
          insertHost.run(host, hp + 1, p, lastForHost.get(host) === i ? bumped : null)
        }
      })
      return { firstPosition: position(head + 1), lastPosition: position(head + encoded.length) }
    })()

  async append(events: ReadonlyArray<EventEnvelope>, options?: AppendOptions): Promise<AppendResult> {
    if (events.length === 0) throw new Error("append: a batch needs at least one event")
    const encoded = events.map((e) => Buffer.from(encodeEvent(e)))
    const bytes = encoded.reduce((n, b) => n + b.length, 0)
    if (bytes > MAX_BATCH_BYTES) throw new BatchTooLarge({ bytes, limit: MAX_BATCH_BYTES })
    const result = onDisk(() => this.appendTx(encoded, events, options?.expected ?? {}, options?.unchanged ?? {}))
    for (const f of this.followers) f.wake()
    return result
  }

  /**
   * The rows decoded, up to the first that cannot be: the events before it are returned, and a
   * read that starts at it rejects with UndecodableEvent.
   */
  private toStored<R extends EventRow, T>(rows: ReadonlyArray<R>, extra: (row: R) => T): Array<StoredEvent & T> {
    const out: Array<StoredEvent & T> = []
    for (const row of rows) {
      const bumped = row.bumped === null ? NO_STREAMS : (JSON.parse(row.bumped) as StreamId[])
      const decoded = decodeEvent(row.event)
      if (Result.isFailure(decoded)) {
        if (out.length > 0) return out
        throw new UndecodableEvent({ position: row.position, through: row.position, reason: decoded.failure.reason, bumped })
      }
      out.push({ position: position(row.position), envelope: decoded.success, bumped, ...extra(row) })
    }
    return out
  }

  async read(after: Position, limit = 10_000): Promise<ReadonlyArray<StoredEvent>> {
    const rows = onDisk(
      () => this.db.prepare("SELECT position, bumped, event FROM events WHERE position > ? ORDER BY position LIMIT ?").all(after, limit) as EventRow[],
    )
    return this.toStored(rows, () => ({}))
  }

  /** EventLog.readAt: the rows at `positions` only, in pieces of READ_AT_ROWS (SQLite's parameter limit). */
  async readAt(positions: ReadonlyArray<number>): Promise<ReadonlyArray<StoredEvent>> {
    const out: StoredEvent[] = []
    for (let i = 0; i < positions.length; i += READ_AT_ROWS) {
      const piece = positions.slice(i, i + READ_AT_ROWS)
      const rows = onDisk(
        () =>
          this.db.prepare(`SELECT position, bumped, event FROM events WHERE position IN (${piece.map(() => "?").join(",")}) ORDER BY position`).all(...piece) as EventRow[],
      )
      const stored = this.toStored(rows, () => ({}))
      // toStored stops before an undecodable row: read from it, it rejects naming it.
      if (stored.length < rows.length) this.toStored(rows.slice(stored.length), () => ({}))
      piece.forEach((p, k) => {
        if (stored[k]?.position !== p) throw missingPosition(p)
      })
      out.push(...stored)
    }
    return out
  }

  async head(): Promise<Position> {
    return position(onDisk(() => this.db.prepare("SELECT COALESCE(MAX(position), 0) AS p FROM events").get() as { p: number }).p)
  }

  async readHostStream(host: HostName, after: number, limit = 10_000): Promise<ReadonlyArray<HostStreamEvent>> {
    const rows = onDisk(
      () =>
        this.db
          .prepare(
            `SELECT h.host_position AS hp, e.position, h.bumped, e.event FROM host_events h
             JOIN events e ON e.position = h.position
             WHERE h.host = ? AND h.host_position > ? ORDER BY h.host_position LIMIT ?`,
          )
          .all(host, after, limit) as Array<EventRow & { hp: number }>,
    )
    return this.toStored(rows, (r) => ({ hostPosition: r.hp }))
  }

  private track(f: Follower): Unsubscribe {
    this.followers.add(f)
    return () => {
      f.stop()
      this.followers.delete(f)
    }
  }

  subscribe(
    after: Position,
    onEvents: (events: ReadonlyArray<StoredEvent>) => void | Promise<void>,
    onUndecodable?: (error: UndecodableEvent) => void,
  ): Unsubscribe {
    return this.track(
      follow({ after, read: (a) => this.read(position(a)), positionOf: (e) => e.position, deliver: onEvents, onError: undecodableTo(onUndecodable) }),
    )
  }

  subscribeHostStream(
    host: HostName,
    after: number,
    onEvents: (events: ReadonlyArray<HostStreamEvent>) => void | Promise<void>,
    onUndecodable?: (error: UndecodableEvent) => void,
  ): Unsubscribe {
    return this.track(
      follow({ after, read: (a) => this.readHostStream(host, a), positionOf: (e) => e.hostPosition, deliver: onEvents, onError: undecodableTo(onUndecodable) }),
    )
  }

  async close(): Promise<void> {
    for (const f of this.followers) f.stop()
    this.followers.clear()
    this.db.close()
  }
}
