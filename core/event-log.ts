import { Data } from "effect"
import type { EventEnvelope, StoredEvent, StreamId } from "./events.ts"
import type { HostName, Position } from "./ids.ts"

/**
 * The expected version of a stream when appending: "none" = the stream must not exist yet, a
 * number = the stream's current version (0 after its first append, +1 per append that lists it).
 */
export type ExpectedVersion = number | "none"

export interface AppendOptions {
  /** Streams this append read; each is checked and bumped atomically with the append. */
  readonly expected?: Readonly<Record<StreamId, ExpectedVersion>>
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
/** The log's store cannot be reached right now; the append may be retried. */
export class LogUnavailable extends Data.TaggedError("LogUnavailable")<{ readonly reason: string }> {}

export type AppendError = AppendConflict | BatchTooLarge | LogUnavailable

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
  /** The position of the last event in the log (0 when empty). */
  head(): Promise<Position>
  /** Host H's events with host position > after, without reading other hosts' events. */
  readHostStream(host: HostName, after: number, limit?: number): Promise<ReadonlyArray<HostStreamEvent>>
  /** Catches up from `after`, then follows live; `onEvents` is called in order, never concurrently. */
  subscribe(after: Position, onEvents: (events: ReadonlyArray<StoredEvent>) => void | Promise<void>): Unsubscribe
  subscribeHostStream(
    host: HostName,
    after: number,
    onEvents: (events: ReadonlyArray<HostStreamEvent>) => void | Promise<void>,
  ): Unsubscribe
  close(): Promise<void>
}
