import { randomBytes } from "node:crypto"
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs"
import { BatchTooLarge, LogBusy, LogUnavailable, type EventLog } from "../core/event-log.ts"
import type { EventEnvelope } from "../core/events.ts"
import { PRIVATE_FILE_MODE, replaceFileDurably } from "../log/durable-file.ts"
import { errorText, type Logger } from "./logger.ts"

/*
 * The agent's facts on their way to the log. Every envelope is written to `<state-dir>/outbox.jsonl`
 * first (one line, one write, fsynced), then appended in order whenever the log is reachable, so nothing is
 * lost while ZooKeeper is away or the agent restarts. Each envelope carries a unique commandId:
 * after an append whose outcome is unknown, the outbox asks whether those ids already reached the
 * host stream before retrying, so a retry never writes a fact twice.
 *
 * The file is a journal: entry lines `{"seq","envelope"}` and acknowledgement lines `{"ack":[seq…]}`,
 * so enqueueing and acknowledging write only what is new. Once everything is acknowledged the file
 * is truncated; when acknowledged lines are more than half
 * of the file (and it is past `compactAtBytes`), the live entries are rewritten into a fresh file
 * (temp file, fsync, rename, fsync of the dir): total bytes written stay linear in the facts. A crash
 * mid-line leaves a torn last line, which is dropped (and the file rewritten) at the next start;
 * an acknowledgement lost that way only makes the start-up `landed` check ask about that fact again.
 *
 * Bounded (`maxEvents`, `maxBytes`): at the bound, the oldest unsent TaskStateChanged of a job that
 * has a newer one queued (or arriving) is dropped, since a task's latest state is what users need;
 * a fact that supersedes nothing while the outbox is full is refused with an error line.
 */

interface Entry {
  readonly seq: number
  readonly envelope: EventEnvelope & { readonly commandId: string }
}

interface Live {
  readonly entry: Entry
  /** Length of its journal line in bytes. */
  readonly bytes: number
  /** host + job for task states (what a newer state of the same task supersedes). */
  readonly task: string | undefined
}

const DEFAULT_OUTBOX_MAX_EVENTS = 100_000
const DEFAULT_OUTBOX_MAX_BYTES = 64 * 1024 * 1024

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
  /** Most facts queued. Default 100,000. */
  readonly maxEvents?: number
  /** Most bytes of queued facts (journal lines). Default 64 MiB. */
  readonly maxBytes?: number
  /** The journal is compacted only past this size. Default 64 KiB. */
  readonly compactAtBytes?: number
}

const taskOf = (e: EventEnvelope): string | undefined =>
  e.event._tag === "TaskStateChanged" ? `${e.event.host}\u0000${e.event.jobId}` : undefined

const lineOf = (value: unknown): string => JSON.stringify(value) + "\n"

export class Outbox {
  /** Unacknowledged entries by seq, oldest first (a Map keeps insertion order). */
  private readonly live = new Map<number, Live>()
  private readonly seqOf = new Map<string, number>()
  /** Queued facts per task (host + job). */
  private readonly perTask = new Map<string, number>()
  private liveBytes = 0
  private fileBytes = 0
  private nextSeq: number
  private readonly maxEvents: number
  private readonly maxBytes: number
  private full: { superseded: number; refused: number } | undefined
  private readonly instance = randomBytes(4).toString("hex")
  private flushing: Promise<void> | undefined
  private again = false
  private enabled = false
  private closed = false
  private uncertain = true // after a restart we do not know whether the last append landed
  private retryTimer: NodeJS.Timeout | undefined
  private backoffMs: number
  private drainedWaiters: Array<() => void> = []
  /** What the flushing did (for tests, metrics and benchmarks). */
  readonly counts = { appends: 0, failedAppends: 0, retries: 0, landedChecks: 0 }

  constructor(private readonly o: OutboxOptions) {
    this.maxEvents = Math.max(1, o.maxEvents ?? DEFAULT_OUTBOX_MAX_EVENTS)
    this.maxBytes = Math.max(1, o.maxBytes ?? DEFAULT_OUTBOX_MAX_BYTES)
    this.nextSeq = this.load() + 1
    this.backoffMs = o.retryMinMs ?? 200
    if (this.live.size === 0) this.uncertain = false
  }

  /** Reads the journal; returns the highest seq seen. Rewrites it when it holds more than live entries. */
  private load(): number {
    if (!existsSync(this.o.file)) return 0
    const text = readFileSync(this.o.file, "utf8")
    let maxSeq = 0
    let clean = text === "" || text.endsWith("\n")
    const acked = new Set<number>()
    const entries: Entry[] = []
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        clean = false // a torn write (the last line after a crash)
        continue
      }
      const v = value as Partial<Entry> & { ack?: unknown }
      if (Array.isArray(v.ack)) {
        for (const seq of v.ack)
          if (typeof seq === "number") {
            acked.add(seq)
            maxSeq = Math.max(maxSeq, seq)
          }
      } else if (typeof v.seq === "number" && typeof v.envelope?.commandId === "string") {
        entries.push(v as Entry)
        maxSeq = Math.max(maxSeq, v.seq)
      } else clean = false
    }
    for (const e of entries) if (!acked.has(e.seq)) this.add(e, Buffer.byteLength(lineOf(e)))
    this.fileBytes = Buffer.byteLength(text)
    // Start from a file of whole live lines: a torn tail must not swallow the next append.
    if (!clean || acked.size > 0 || this.fileBytes !== this.liveBytes) this.compact()
    if (this.live.size > 0) this.o.logger.log("info", "outbox: facts queued from before the restart", { events: this.live.size, bytes: this.liveBytes })
    return maxSeq
  }

  private add(entry: Entry, bytes: number): void {
    const task = taskOf(entry.envelope)
    this.live.set(entry.seq, { entry, bytes, task })
    this.seqOf.set(entry.envelope.commandId, entry.seq)
    if (task !== undefined) this.perTask.set(task, (this.perTask.get(task) ?? 0) + 1)
    this.liveBytes += bytes
  }

  private remove(seq: number): boolean {
    const l = this.live.get(seq)
    if (l === undefined) return false
    this.live.delete(seq)
    this.seqOf.delete(l.entry.envelope.commandId)
    if (l.task !== undefined) {
      const n = (this.perTask.get(l.task) ?? 1) - 1
      if (n === 0) this.perTask.delete(l.task)
      else this.perTask.set(l.task, n)
    }
    this.liveBytes -= l.bytes
    return true
  }

  /**
   * Appends to the journal. An entry is fsynced (`durable`): the task reporter records a transition
   * as reported once its fact is queued, so after a power loss the fact must be there whenever the
   * record is. An acknowledgement is not: one lost only makes the start-up check ask again.
   */
  private append(text: string, durable = false): void {
    if (!durable) appendFileSync(this.o.file, text, { mode: PRIVATE_FILE_MODE })
    else {
      const fd = openSync(this.o.file, "a", PRIVATE_FILE_MODE)
      try {
        writeSync(fd, text)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    }
    this.fileBytes += Buffer.byteLength(text)
  }

  private compact(): void {
    let text = ""
    for (const l of this.live.values()) text += lineOf(l.entry)
    replaceFileDurably(this.o.file, text)
    this.fileBytes = this.liveBytes
  }

  /** Records removals in the journal, compacting when most of it is dead (making room: a fact follows at once). */
  private removed(seqs: ReadonlyArray<number>, makingRoom = false): void {
    if (seqs.length === 0) return
    if (this.live.size === 0) {
      // Nothing left: empty the file (a crash or power loss leaves it whole or empty, both right).
      truncateSync(this.o.file, 0)
      this.fileBytes = 0
    } else {
      this.append(lineOf({ ack: seqs }))
      if (this.fileBytes >= (this.o.compactAtBytes ?? 64 * 1024) && this.fileBytes - this.liveBytes > this.fileBytes / 2) this.compact()
    }
    if (!makingRoom && this.full !== undefined && this.live.size < this.maxEvents * 0.9 && this.liveBytes < this.maxBytes * 0.9) {
      this.o.logger.log("info", "outbox below its bound again", { events: this.live.size, bytes: this.liveBytes, ...this.full })
      this.full = undefined
    }
    if (!makingRoom && this.live.size === 0) {
      const waiters = this.drainedWaiters
      this.drainedWaiters = []
      for (const w of waiters) w()
    }
  }

  get size(): number {
    return this.live.size
  }

  /** The envelopes not yet known to be in the log, oldest first. */
  pending(): ReadonlyArray<EventEnvelope> {
    return [...this.live.values()].map((l) => l.entry.envelope)
  }

  /** Queues a fact (durably) and schedules a flush; whether it was taken. At the bound, see the header. */
  enqueue(envelope: EventEnvelope): boolean {
    const seq = this.nextSeq++
    const entry: Entry = { seq, envelope: { ...envelope, commandId: `${this.o.idPrefix}-${this.instance}-${seq}` } }
    const line = lineOf(entry)
    const bytes = Buffer.byteLength(line)
    if (!this.makeRoom(taskOf(entry.envelope), bytes)) return false
    this.append(line, true)
    this.add(entry, bytes)
    this.flushSoon()
    return true
  }

  /** Drops superseded task states until one more fact of `bytes` fits; false if it cannot. */
  private makeRoom(task: string | undefined, bytes: number): boolean {
    const fits = () => this.live.size + 1 <= this.maxEvents && this.liveBytes + bytes <= this.maxBytes
    if (fits()) return true
    if (this.full === undefined) {
      this.full = { superseded: 0, refused: 0 }
      this.o.logger.log("error", "outbox full (the log has been unreachable for long): older unsent task states are replaced by newer ones of the same job, other new facts are refused", {
        events: this.live.size,
        bytes: this.liveBytes,
        maxEvents: this.maxEvents,
        maxBytes: this.maxBytes,
      })
    }
    const dropped: number[] = []
    for (const [seq, l] of this.live) {
      if (fits()) break
      if (l.task === undefined) continue
      if ((this.perTask.get(l.task) ?? 0) + (l.task === task ? 1 : 0) < 2) continue
      this.remove(seq)
      dropped.push(seq)
    }
    this.full.superseded += dropped.length
    this.removed(dropped, true)
    if (fits()) return true
    this.full.refused++
    this.o.logger.log("error", "outbox full: fact refused", {
      fact: task === undefined ? "not a task state" : task.replace("\u0000", " "),
      events: this.live.size,
      bytes: this.liveBytes,
    })
    return false
  }

  /** Appends are allowed (the host is registered to us); until then facts only queue up. */
  setEnabled(on: boolean): void {
    this.enabled = on
    if (on) this.kick()
  }

  /** The host stream showed these commandIds: they are in the log. */
  acknowledge(commandIds: ReadonlySet<string>): void {
    if (commandIds.size === 0 || this.live.size === 0) return
    const seqs: number[] = []
    for (const id of commandIds) {
      const seq = this.seqOf.get(id)
      if (seq !== undefined && this.remove(seq)) seqs.push(seq)
    }
    this.removed(seqs)
  }

  /**
   * Flush now, unless a retry is already due (the back-off after a failed append, or the time a busy
   * master asked for): that retry sends what came meanwhile too. A new fact must not cut the wait
   * short, or every transition of a busy fleet would send its batch again at once, the very load a
   * master shedding with Retry-After asked to spread out.
   */
  private flushSoon(): void {
    if (this.retryTimer === undefined) this.kick()
  }

  /** Flush now, whatever retry is due (e.g. ZooKeeper came back). */
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
        this.flushSoon()
      }
    })
  }

  /** Resolves when the outbox is empty (for tests and graceful stops). */
  drained(): Promise<void> {
    if (this.live.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.drainedWaiters.push(resolve))
  }

  private oldest(n: number): Entry[] {
    const out: Entry[] = []
    for (const l of this.live.values()) {
      if (out.length >= n) break
      out.push(l.entry)
    }
    return out
  }

  private async flushLoop(): Promise<void> {
    const maxBatch = this.o.maxBatch ?? 64
    let batchSize = maxBatch
    while (!this.closed && this.enabled && this.live.size > 0) {
      try {
        if (this.uncertain) {
          this.counts.landedChecks++
          const ids = new Set(this.seqOf.keys())
          this.acknowledge(await this.o.landed(ids))
          this.uncertain = false
          continue
        }
        const batch = this.oldest(batchSize)
        this.counts.appends++
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
          const dropped = this.oldest(1)[0]!
          this.o.logger.log("error", "dropping a fact too large for the log", { commandId: dropped.envelope.commandId, bytes: error.bytes })
          this.acknowledge(new Set([dropped.envelope.commandId]))
          continue
        }
        this.counts.failedAppends++
        if (error instanceof LogBusy) {
          // Nothing was written (the relay shed it): no need to ask the host stream, just wait.
          this.scheduleRetry(error.retryAfterMs)
          return
        }
        this.uncertain = true
        if (!(error instanceof LogUnavailable)) this.o.logger.log("warn", "append failed", { error: errorText(error) })
        this.scheduleRetry()
        return
      }
    }
  }

  /**
   * The next attempt: after `retryAfterMs` (what a busy log asked for) plus up to as much again, or
   * else after the exponential back-off, jittered (half of it fixed, half random). Jitter spreads a
   * fleet's retries after a common failure instead of sending them all again at the same instant.
   */
  private scheduleRetry(retryAfterMs?: number): void {
    if (this.closed) return
    const delay =
      retryAfterMs !== undefined ? retryAfterMs * (1 + Math.random()) : this.backoffMs / 2 + (Math.random() * this.backoffMs) / 2
    this.counts.retries++
    if (retryAfterMs === undefined) this.backoffMs = Math.min(this.o.retryMaxMs ?? 5_000, this.backoffMs * 2)
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

