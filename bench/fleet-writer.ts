/**
 * PROTOTYPES for bench/fleet.ts (FLEET_LOG=one-writer | one-writer-batched), not used by Helios:
 * what the fleet costs when the agents' facts reach the global log through ONE writer instead of
 * 1,000 writers racing for the next position.
 *
 *   one-writer          every agent's appends go through one shared ZooKeeperEventLog instance
 *                       (its cursor hands out consecutive positions: agents no longer collide with
 *                       each other, only with the master); each agent still reads and follows its
 *                       host stream through its own instance. Stands for "agents hand their task
 *                       transitions to one appender" (e.g. the leader master) instead of claiming
 *                       positions themselves.
 *   one-writer-batched  the same appender also group-commits: appends that arrive while one is in
 *                       flight go out together as one batch (one `multi`) when it returns.
 *
 * Appends with expected versions (registration) are never merged: they go through as they are.
 */
import type { AppendOptions, AppendResult, EventLog } from "../core/event-log.ts"
import { BatchTooLarge } from "../core/event-log.ts"
import { hostsOf, type EventEnvelope } from "../core/events.ts"
import { position } from "../core/ids.ts"

interface Pending {
  readonly events: ReadonlyArray<EventEnvelope>
  readonly resolve: (r: AppendResult) => void
  readonly reject: (e: unknown) => void
}

/** Group commit over one log: concurrent appends without expected versions share one multi. */
export class BatchingAppender {
  private queue: Pending[] = []
  private flushing = false
  /** Appends handed in, and batches written (for the report). */
  appends = 0
  batches = 0

  constructor(
    private readonly log: EventLog,
    private readonly maxEvents = 400,
  ) {}

  append(events: ReadonlyArray<EventEnvelope>, options?: AppendOptions): Promise<AppendResult> {
    if (options?.expected !== undefined && Object.keys(options.expected).length > 0) return this.log.append(events, options)
    this.appends++
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject })
      if (!this.flushing) void this.flush()
    })
  }

  private async flush(): Promise<void> {
    this.flushing = true
    try {
      while (this.queue.length > 0) {
        // Take as many whole appends as fit (at least one). The log's size check counts
        // events × (1 + hosts) ops of 120 bytes against its 1,000,000-byte limit: stay under it.
        let n = 0
        let count = 0
        const hosts = new Set<string>()
        while (n < this.queue.length) {
          const next = this.queue[n]!
          const more = new Set(hosts)
          for (const e of next.events) for (const h of hostsOf(e.event)) more.add(h)
          const events = count + next.events.length
          if (n > 0 && (events > this.maxEvents || events * (1 + more.size) > 6_000)) break
          count = events
          for (const h of more) hosts.add(h)
          n++
        }
        const group = this.queue.splice(0, n)
        await this.write(group)
      }
    } finally {
      this.flushing = false
    }
  }

  private async write(group: Pending[]): Promise<void> {
    try {
      this.batches++
      const r = await this.log.append(group.flatMap((p) => p.events))
      let at = r.firstPosition as number
      for (const p of group) {
        p.resolve({ firstPosition: position(at), lastPosition: position(at + p.events.length - 1) })
        at += p.events.length
      }
    } catch (e) {
      if (e instanceof BatchTooLarge && group.length > 1) {
        const half = Math.ceil(group.length / 2)
        await this.write(group.slice(0, half))
        await this.write(group.slice(half))
        return
      }
      for (const p of group) p.reject(e)
    }
  }
}

/** An agent's view of the log: appends through `append`, everything else through its own instance. */
export const withAppender = (own: EventLog, append: EventLog["append"]): EventLog => ({
  append,
  read: (after, limit) => own.read(after, limit),
  head: () => own.head(),
  readHostStream: (host, after, limit) => own.readHostStream(host, after, limit),
  subscribe: (after, onEvents) => own.subscribe(after, onEvents),
  subscribeHostStream: (host, after, onEvents) => own.subscribeHostStream(host, after, onEvents),
  close: () => own.close(),
})
