import { randomBytes } from "node:crypto"
import { BatchTooLarge, LogUnavailable, type EventLog } from "../core/event-log.ts"
import type { EventEnvelope } from "../core/events.ts"
import { errorText, type Logger } from "./logger.ts"
import { appendJsonLine, readJsonLines, writeJsonLinesAtomic } from "./state-dir.ts"

/*
 * The agent's facts on their way to the log. Every envelope is written to `<state-dir>/outbox.jsonl`
 * first (one line, one write), then appended in order whenever the log is reachable, so nothing is
 * lost while ZooKeeper is away or the agent restarts. Each envelope carries a unique commandId:
 * after an append whose outcome is unknown, the outbox asks whether those ids already reached the
 * host stream before retrying, so a retry never writes a fact twice.
 */

interface Entry {
  readonly seq: number
  readonly envelope: EventEnvelope & { readonly commandId: string }
}

export interface OutboxOptions {
  readonly file: string
  readonly log: EventLog
  readonly logger: Logger
  /** Prefix of commandIds (unique per agent). */
  readonly idPrefix: string
  /** Which of these commandIds are already in the log (reads the host stream). */
  readonly landed: (commandIds: ReadonlySet<string>) => Promise<ReadonlySet<string>>
  /** Most events per append. Default 64. */
  readonly maxBatch?: number
  /** Retry backoff bounds, ms. */
  readonly retryMinMs?: number
  readonly retryMaxMs?: number
}

export class Outbox {
  private entries: Entry[]
  private nextSeq: number
  private readonly instance = randomBytes(4).toString("hex")
  private flushing: Promise<void> | undefined
  private again = false
  private enabled = false
  private closed = false
  private uncertain = true // after a restart we do not know whether the last append landed
  private retryTimer: NodeJS.Timeout | undefined
  private backoffMs: number
  private drainedWaiters: Array<() => void> = []

  constructor(private readonly o: OutboxOptions) {
    this.entries = readJsonLines<Entry>(o.file).filter((e) => typeof e?.envelope?.commandId === "string")
    this.nextSeq = this.entries.reduce((m, e) => Math.max(m, e.seq), 0) + 1
    this.backoffMs = o.retryMinMs ?? 200
    if (this.entries.length === 0) this.uncertain = false
  }

  get size(): number {
    return this.entries.length
  }

  /** The envelopes not yet known to be in the log, oldest first. */
  pending(): ReadonlyArray<EventEnvelope> {
    return this.entries.map((e) => e.envelope)
  }

  /** Queues a fact (durably) and schedules a flush. */
  enqueue(envelope: EventEnvelope): void {
    const seq = this.nextSeq++
    const entry: Entry = { seq, envelope: { ...envelope, commandId: `${this.o.idPrefix}-${this.instance}-${seq}` } }
    appendJsonLine(this.o.file, entry)
    this.entries.push(entry)
    this.kick()
  }

  /** Appends are allowed (the host is registered to us); until then facts only queue up. */
  setEnabled(on: boolean): void {
    this.enabled = on
    if (on) this.kick()
  }

  /** The host stream showed these commandIds: they are in the log. */
  acknowledge(commandIds: ReadonlySet<string>): void {
    if (commandIds.size === 0 || this.entries.length === 0) return
    const before = this.entries.length
    this.entries = this.entries.filter((e) => !commandIds.has(e.envelope.commandId))
    if (this.entries.length !== before) this.persist()
  }

  /** Flush now (e.g. ZooKeeper came back). */
  kick(): void {
    if (this.closed || !this.enabled) return
    if (this.retryTimer) {
      clearTimeout(this.retryTimer)
      this.retryTimer = undefined
    }
    if (this.flushing) {
      this.again = true
      return
    }
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined
      if (this.again) {
        this.again = false
        this.kick()
      }
    })
  }

  /** Resolves when the outbox is empty (for tests and graceful stops). */
  drained(): Promise<void> {
    if (this.entries.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.drainedWaiters.push(resolve))
  }

  private persist(): void {
    writeJsonLinesAtomic(this.o.file, this.entries)
    if (this.entries.length === 0) {
      const waiters = this.drainedWaiters
      this.drainedWaiters = []
      for (const w of waiters) w()
    }
  }

  private async flushLoop(): Promise<void> {
    const maxBatch = this.o.maxBatch ?? 64
    let batchSize = maxBatch
    while (!this.closed && this.enabled && this.entries.length > 0) {
      try {
        if (this.uncertain) {
          const ids = new Set(this.entries.map((e) => e.envelope.commandId))
          this.acknowledge(await this.o.landed(ids))
          this.uncertain = false
          continue
        }
        const batch = this.entries.slice(0, batchSize)
        await this.o.log.append(batch.map((e) => e.envelope))
        this.acknowledge(new Set(batch.map((e) => e.envelope.commandId)))
        batchSize = maxBatch
        this.backoffMs = this.o.retryMinMs ?? 200
      } catch (error) {
        if (error instanceof BatchTooLarge) {
          if (batchSize > 1) {
            batchSize = Math.max(1, Math.floor(batchSize / 2))
            continue
          }
          const dropped = this.entries[0]!
          this.o.logger.log("error", "dropping a fact too large for the log", { commandId: dropped.envelope.commandId, bytes: error.bytes })
          this.acknowledge(new Set([dropped.envelope.commandId]))
          continue
        }
        this.uncertain = true
        if (!(error instanceof LogUnavailable)) this.o.logger.log("warn", "append failed", { error: errorText(error) })
        this.scheduleRetry()
        return
      }
    }
  }

  private scheduleRetry(): void {
    if (this.closed) return
    const delay = this.backoffMs
    this.backoffMs = Math.min(this.o.retryMaxMs ?? 5_000, this.backoffMs * 2)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.kick()
    }, delay)
    this.retryTimer.unref()
  }

  /** Stops flushing; what is queued stays in the file for the next start. */
  async close(): Promise<void> {
    this.closed = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    await this.flushing?.catch(() => undefined)
  }
}
