import { createHash } from "node:crypto"
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { EventsArchived, UndecodableEvent, type EventLog } from "../core/event-log.ts"
import type { EventEnvelope, StoredEvent } from "../core/events.ts"
import { position } from "../core/ids.ts"
import { applyEvent, cloneState, emptyState, type FleetState } from "../core/state.ts"
import { decodeCheckpoint, encodeCheckpoint, type CheckpointRecord } from "../projections/checkpoint-codec.ts"
import { checkpointDue, isPast, laterOf, passOver, planAsOf, thinned, type AsOf, type CheckpointMark } from "../projections/checkpoints.ts"
import { readPage } from "./history-reader.ts"
import { runInSlices, yieldToLoop } from "./slices.ts"
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../log/durable-file.ts"
import { DamagedFile, digestedFileBody, digestedFileChunks } from "./digested-file.ts"

/*
 * The master's checkpoints for temporal queries (projections/checkpoints.ts says what they are):
 * `GET /state?at=` (and `helios status --at`) starts from the nearest earlier checkpoint and reads
 * only the log's events after it, at most one checkpoint interval of them.
 *
 * - Built as the projection applies events: every `every` events (positions that are multiples of
 *   it) the fleet state is copied (cloneState: maps copied, their immutable values shared with the
 *   live state; ~1.5 MiB for the state of a 10^6-event log with its stream versions). A master that
 *   started from its snapshot at position s first folds the log from its last checkpoint up to s in the background
 *   (usually less than one interval; the whole log once, after an upgrade from a build without
 *   checkpoints), which also gives the latest event time up to s that time lookups need. Where
 *   that fold cannot reach s (the log's oldest events archived and no --archive-dir, or an event
 *   this build cannot decode), the snapshot's state is kept as the checkpoint at s: queries as of
 *   s and after never need what is before it.
 * - Undecodable events the operator told the masters to skip (--skip-undecodable) are stepped over
 *   by every fold as the projection steps over them.
 * - Kept within a budget: past it, the spacing doubles and every other checkpoint is dropped
 *   (thinned in projections/checkpoints.ts), so the tail of a query stays at most `every` events.
 * - With a directory (the master's --state-dir/checkpoints): each checkpoint is a file, encoded in
 *   slices (the event loop keeps a turn every ~5 ms) and written aside then renamed into place (no
 *   fsync: a checkpoint is a cache, a torn one is dropped when met), with a digest of its bytes
 *   checked before it is decoded (master/digested-file.ts: a damaged one is said
 *   and dropped; files of the previous format, without one, are read as before); a few recently
 *   used ones stay decoded in memory. They survive restarts. Without a directory they are kept in
 *   memory only, as copies, and are rebuilt on the next start.
 * - Each keeps a fingerprint of the event at its position; a query compares it with the log's event
 *   there (read anyway with the tail), so a checkpoint of another log (a reset ZooKeeper) is dropped
 *   and the query falls back to an earlier one. After a divergence (live-projection.ts) all are
 *   dropped and rebuilt with the projection.
 */

export const DEFAULT_CHECKPOINT_EVERY = 10_000
/** Budget of the checkpoints kept in memory (no state dir), estimated (ESTIMATED_ENTRY_BYTES). */
export const DEFAULT_MEMORY_BUDGET_BYTES = 128 * 1024 * 1024
/** Budget of the checkpoint files in a state dir. */
export const DEFAULT_DISK_BUDGET_BYTES = 1024 * 1024 * 1024
/** Checkpoints kept decoded (beyond the store) for the queries that come back to them. */
const DECODED_KEPT = 4
/** Log events read per request by a query's tail and the background fold. */
const PAGE = 5000
/**
 * A query as of a time does not know where its tail ends (at the first event after that time, at
 * most at the next checkpoint): it reads smaller pages, so it reads at most this many events more than it folds.
 */
const TIME_PAGE = 1000
/** A copied map entry's cost in memory (measured: ~35 bytes per entry of a copy of a 10^6-event log's state). */
const ESTIMATED_ENTRY_BYTES = 40

/** Identifies the event at a position: a snapshot or checkpoint of another log does not match it. */
export const fingerprintOf = (envelope: EventEnvelope): string => createHash("sha1").update(JSON.stringify(envelope)).digest("hex")

/** Where checkpoints are kept. */
export interface CheckpointStore {
  /** Whether they survive a restart. */
  readonly persistent: boolean
  /** What it holds already (a state dir's files from an earlier run). */
  list(): Promise<ReadonlyArray<CheckpointMark>>
  /** Keeps a checkpoint (the caller no longer changes its state); resolves with the bytes it takes. */
  put(record: CheckpointRecord): Promise<number>
  /** A checkpoint (its state is shared: copy it before folding into it), or undefined if gone or unreadable. */
  get(position: number): Promise<CheckpointRecord | undefined>
  delete(position: number): Promise<void>
}

/** The map entries of a state: what a copy of it costs. */
export const stateEntries = (s: FleetState): number => {
  let n = s.jobs.size + s.hosts.size + s.groups.size + s.versions.size + s.deployments.size + s.tasks.size + s.jobHosts.size
  for (const m of s.deployments.values()) n += m.size
  for (const m of s.tasks.values()) n += m.size
  for (const hosts of s.jobHosts.values()) n += hosts.size
  return n
}

/** Checkpoints as copies in memory: nothing to encode, gone on restart. */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly persistent = false
  private readonly records = new Map<number, CheckpointRecord>()
  async list(): Promise<ReadonlyArray<CheckpointMark>> {
    return [...this.records.values()].map(({ position, maxAt }) => ({ position, maxAt }))
  }
  async put(record: CheckpointRecord): Promise<number> {
    this.records.set(record.position, record)
    return stateEntries(record.state) * ESTIMATED_ENTRY_BYTES
  }
  async get(p: number): Promise<CheckpointRecord | undefined> {
    return this.records.get(p)
  }
  async delete(p: number): Promise<void> {
    this.records.delete(p)
  }
}

const FILE = /^(\d+)-(-?\d+)\.checkpoint$/
const CHECKPOINT_MAGIC = Buffer.from("HELIOS-CHECKPOINT sha256\n")
const fileName = (m: CheckpointMark) => `${m.position}-${m.maxAt}.checkpoint`

/** Checkpoints as files `<position>-<maxAt>.checkpoint` in a directory. */
export class DirCheckpointStore implements CheckpointStore {
  readonly persistent = true
  /** position → file name, for the files this store knows. */
  private readonly files = new Map<number, string>()
  readonly sizes = new Map<number, number>()
  constructor(private readonly dir: string) {}

  async list(): Promise<ReadonlyArray<CheckpointMark>> {
    await mkdir(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE })
    const marks: CheckpointMark[] = []
    for (const name of await readdir(this.dir)) {
      // Temp files of a write a crash interrupted.
      if (name.includes(".tmp")) {
        await unlink(join(this.dir, name)).catch(() => undefined)
        continue
      }
      const m = FILE.exec(name)
      if (!m) continue
      const mark = { position: Number(m[1]), maxAt: Number(m[2]) }
      this.files.set(mark.position, name)
      marks.push(mark)
    }
    return marks
  }

  async put(record: CheckpointRecord): Promise<number> {
    const chunks = await digestedFileChunks(CHECKPOINT_MAGIC, [await runInSlices(encodeCheckpoint(record))])
    const name = fileName(record)
    const tmp = join(this.dir, `${name}.tmp-${process.pid}`)
    await mkdir(this.dir, { recursive: true, mode: PRIVATE_DIR_MODE })
    await writeFile(tmp, chunks, { mode: PRIVATE_FILE_MODE })
    await rename(tmp, join(this.dir, name))
    const old = this.files.get(record.position)
    if (old !== undefined && old !== name) await unlink(join(this.dir, old)).catch(() => undefined)
    this.files.set(record.position, name)
    return chunks.reduce((n, c) => n + c.length, 0)
  }

  async get(p: number): Promise<CheckpointRecord | undefined> {
    const name = this.files.get(p)
    if (name === undefined) return undefined
    const file = join(this.dir, name)
    try {
      const record = await runInSlices(decodeCheckpoint(await digestedFileBody(CHECKPOINT_MAGIC, await readFile(file))))
      return record.position === p ? record : undefined
    } catch (error) {
      // Damage is said; otherwise unreadable (gone, of another format) it is a cache's miss, silent as before.
      if (error instanceof DamagedFile) console.error(`helios-master: ignoring the checkpoint ${file}: ${error.message}`)
      return undefined
    }
  }

  async delete(p: number): Promise<void> {
    const name = this.files.get(p)
    this.files.delete(p)
    if (name !== undefined) await unlink(join(this.dir, name)).catch(() => undefined)
  }

  /** The bytes a file takes (for the budget of checkpoints found at start). */
  async sizeOf(p: number): Promise<number> {
    const name = this.files.get(p)
    if (name === undefined) return 0
    return (await stat(join(this.dir, name)).catch(() => ({ size: 0 }))).size
  }
}

export interface CheckpointOptions {
  readonly log: EventLog
  /** Keep them as files there (they survive restarts); default: in memory. */
  readonly dir?: string
  /** Events between checkpoints (it doubles when the budget is reached). */
  readonly every?: number
  /** Bytes the checkpoints may take (estimated in memory, files on disk). */
  readonly budgetBytes?: number
  /** First positions of the undecodable events the projection skips (the master's --skip-undecodable). */
  readonly skipUndecodable?: ReadonlyArray<number>
}

interface Entry extends CheckpointMark {
  /** What it takes in the store (0 until written). */
  bytes: number
}

/** What a query did: where it started and how many events it folded. */
export interface AsOfStats {
  readonly from: number
  readonly folded: number
}

export class Checkpoints {
  private readonly store: CheckpointStore
  private readonly budget: number
  private every: number
  /** The checkpoints kept (their maxAt known), by position. */
  private readonly entries = new Map<number, Entry>()
  /**
   * Checkpoints taken before the latest event time up to the start position was known (they wait
   * for the background fold), in memory: kept within the memory budget (pend). The first may
   * be the start position's own (the snapshot's state).
   */
  private pending: Array<{ record: Omit<CheckpointRecord, "maxAt">; maxAtSince: number; bytes: number }> = []
  /** The start position's checkpoint where nothing earlier can be folded up to it: never thinned. */
  private pinned: number | undefined
  /** Decoded ones, most recently used last (a persistent store's; a memory store holds them all decoded). */
  private readonly decoded = new Map<number, CheckpointRecord>()
  /** Being written: kept decoded until the store has them. */
  private readonly writing = new Map<number, CheckpointRecord>()
  private writes: Promise<void> = Promise.resolve()
  /** Where the projection started, the latest event time up to there (once known), and since. */
  private startedAt = 0
  private prefixMaxAt: number | undefined = Number.NEGATIVE_INFINITY
  private maxAtSince = Number.NEGATIVE_INFINITY
  /** Bumped when everything is dropped (divergence) or closed: older background work stops. */
  private generation = 0
  private backfilling: Promise<void> = Promise.resolve()
  private backfillStarted = false
  private closed = false
  /** First positions of the undecodable events every reader of the log steps over (--skip-undecodable). */
  readonly skipped: ReadonlySet<number>

  constructor(private readonly options: CheckpointOptions) {
    this.skipped = new Set(options.skipUndecodable ?? [])
    this.store = options.dir !== undefined ? new DirCheckpointStore(options.dir) : new MemoryCheckpointStore()
    this.every = options.every ?? DEFAULT_CHECKPOINT_EVERY
    this.budget = options.budgetBytes ?? (options.dir !== undefined ? DEFAULT_DISK_BUDGET_BYTES : DEFAULT_MEMORY_BUDGET_BYTES)
  }

  /** Whether they survive restarts (kept in a state dir). */
  get persistent(): boolean {
    return this.store.persistent
  }

  /** How many are kept, their spacing now, and what they take. */
  stats(): { count: number; every: number; bytes: number; persistent: boolean; pending: number } {
    let bytes = 0
    for (const e of this.entries.values()) bytes += e.bytes
    return { count: this.entries.size, every: this.every, bytes, persistent: this.persistent, pending: this.pending.length }
  }

  /** The checkpoints' marks in position order (what planAsOf takes). */
  marks(): CheckpointMark[] {
    return [...this.entries.values()].map(({ position, maxAt }) => ({ position, maxAt })).sort((a, b) => a.position - b.position)
  }

  /**
   * Before the projection starts, at `start` (0, or its snapshot's position, with `state` the
   * snapshot's): finds the checkpoints kept from before. The fold of the log from the last of them
   * up to `start` is startBackfill's.
   */
  async open(start: number, state?: FleetState): Promise<void> {
    this.startedAt = start
    const found = await this.store.list()
    for (const m of found) {
      const bytes = this.store instanceof DirCheckpointStore ? await this.store.sizeOf(m.position) : 0
      this.entries.set(m.position, { ...m, bytes })
    }
    this.thin()
    if (start === 0) return
    this.prefixMaxAt = undefined
    // A copy of the snapshot's state, for position queries at once and, if the log before it
    // cannot be folded, for good (settle). Without the event there to tell its log, none.
    if (state === undefined) return
    const [e] = await this.options.log.read(position(start - 1), 1).catch(() => [])
    if (e?.position === start) this.pend({ position: start, fingerprint: fingerprintOf(e.envelope), state: cloneState(state) }, Number.NEGATIVE_INFINITY)
  }

  /**
   * Folds the log from the last checkpoint up to the start position in the background. Called once
   * the projection has caught up: before that, it would take the CPU and the log's reads from the
   * catch-up the master waits for before it serves (from a shared snapshot, it is most of the log).
   */
  startBackfill(): void {
    if (this.startedAt === 0 || this.prefixMaxAt !== undefined || this.backfillStarted) return
    this.backfillStarted = true
    this.backfilling = this.backfill(this.generation)
  }

  /** Resolves once the background fold up to the start position is done (tests, benchmarks). */
  async ready(): Promise<void> {
    await this.backfilling
    await this.writes
  }

  /** Called by the projection after it applied `e` to `state`. */
  applied(state: FleetState, e: StoredEvent): void {
    if (e.envelope.at > this.maxAtSince) this.maxAtSince = e.envelope.at
    // Taken even where one was kept from before: that one may be of another log (the fold is this log's).
    if (!checkpointDue(e.position, this.every)) return
    const record = { position: e.position, fingerprint: fingerprintOf(e.envelope), state: cloneState(state) }
    if (this.prefixMaxAt === undefined) this.pend(record, this.maxAtSince)
    else this.keep({ ...record, maxAt: Math.max(this.prefixMaxAt, this.maxAtSince) })
  }

  /**
   * Keeps a checkpoint until its maxAt is known. Past the memory budget (the background fold slow,
   * or the log away) the spacing doubles and every other one is dropped, as thin does.
   */
  private pend(record: Omit<CheckpointRecord, "maxAt">, maxAtSince: number): void {
    this.pending.push({ record, maxAtSince, bytes: stateEntries(record.state) * ESTIMATED_ENTRY_BYTES })
    const bytes = new Map(this.pending.map((p) => [p.record.position, p.bytes]))
    const marks = this.pending.map((p) => ({ position: p.record.position, maxAt: 0 }))
    const { every, drop } = thinned(marks, (p) => bytes.get(p) ?? 0, this.every, Math.min(this.budget, DEFAULT_MEMORY_BUDGET_BYTES), this.startedAt)
    this.every = every
    if (drop.length > 0) this.pending = this.pending.filter((p) => !drop.includes(p.record.position))
  }

  /** The projection starts again from position 0 (after a divergence): every checkpoint is dropped. */
  restarted(): void {
    this.generation++
    const gone = [...this.entries.keys()]
    this.entries.clear()
    this.decoded.clear()
    this.pending = []
    this.pinned = undefined
    this.startedAt = 0
    this.prefixMaxAt = Number.NEGATIVE_INFINITY
    this.maxAtSince = Number.NEGATIVE_INFINITY
    this.enqueue(async () => {
      for (const p of gone) await this.store.delete(p)
    })
  }

  /** Stops the background fold and waits for the writes under way. */
  async close(): Promise<void> {
    this.closed = true
    await this.backfilling.catch(() => undefined)
    await this.writes
  }

  private enqueue(write: () => Promise<void>): void {
    this.writes = this.writes.then(write).catch((error: unknown) => {
      console.error(`helios-master: could not write a checkpoint (${error instanceof Error ? error.message : String(error)}); queries as of earlier positions read a longer tail`)
    })
  }

  private keep(record: CheckpointRecord): void {
    const entry: Entry = { position: record.position, maxAt: record.maxAt, bytes: 0 }
    this.entries.set(record.position, entry)
    this.remember(record)
    this.writing.set(record.position, record)
    const generation = this.generation
    this.enqueue(async () => {
      if (generation !== this.generation || this.entries.get(record.position) !== entry) return
      try {
        entry.bytes = await this.store.put(record)
      } finally {
        this.writing.delete(record.position)
      }
      if (generation !== this.generation || this.entries.get(record.position) !== entry) {
        await this.store.delete(record.position)
        return
      }
      this.thin()
    })
  }

  /** Drops checkpoints while they take more than the budget (projections/checkpoints.ts thinned). */
  private thin(): void {
    const { every, drop } = thinned(this.marks(), (p) => this.entries.get(p)?.bytes ?? 0, this.every, this.budget, this.pinned)
    this.every = every
    for (const p of drop) this.forget(p)
  }

  private forget(p: number): void {
    if (!this.entries.delete(p)) return
    this.decoded.delete(p)
    this.enqueue(() => this.store.delete(p))
  }

  private remember(record: CheckpointRecord): void {
    if (!this.store.persistent) return
    this.decoded.delete(record.position)
    this.decoded.set(record.position, record)
    while (this.decoded.size > DECODED_KEPT) this.decoded.delete(this.decoded.keys().next().value!)
  }

  private async get(p: number): Promise<CheckpointRecord | undefined> {
    // A kept one first: one waiting at the same position (the start's, beside a file kept from
    // before) has no maxAt yet, and the background fold starting from it took every time as later.
    const pending = this.entries.has(p) ? undefined : this.pending.find((x) => x.record.position === p)
    if (pending) return { ...pending.record, maxAt: Number.POSITIVE_INFINITY }
    const hot = this.decoded.get(p) ?? this.writing.get(p)
    if (hot) {
      this.remember(hot)
      return hot
    }
    const record = await this.store.get(p)
    if (record) this.remember(record)
    return record
  }

  /**
   * The fleet state as of a position or a time: the nearest checkpoint plus the log's events after
   * it (stateAsOf's result, without its replay from position 0). `stats` tells where it started.
   */
  async stateAsOf(at: AsOf, stats?: (s: AsOfStats) => void): Promise<FleetState> {
    for (;;) {
      const marks = "time" in at ? this.marks() : this.positionMarks()
      const plan = planAsOf(marks, at)
      const from = plan.from === undefined ? undefined : await this.get(plan.from.position)
      if (plan.from !== undefined && from === undefined) {
        this.forget(plan.from.position)
        continue
      }
      const state = from === undefined ? emptyState() : cloneState(from.state)
      const tail = await this.foldTail(state, from, at, plan.through)
      if (tail === undefined) {
        // The log does not hold, at the checkpoint's position, the event it was taken after.
        this.dropFrom(from!.position)
        continue
      }
      stats?.({ from: from?.position ?? 0, folded: tail })
      return state
    }
  }

  /** Checkpoints a position query may start from: the kept ones and those waiting for their maxAt. */
  private positionMarks(): CheckpointMark[] {
    if (this.pending.length === 0) return this.marks()
    return [...this.marks(), ...this.pending.map((p) => ({ position: p.record.position, maxAt: Number.POSITIVE_INFINITY }))].sort((a, b) => a.position - b.position)
  }

  /**
   * Reads the log from the checkpoint's own event (checking its fingerprint) up to `through` and
   * folds what is within `at`. Returns the number of events folded, or undefined when the log
   * does not match the checkpoint.
   */
  private async foldTail(state: FleetState, from: CheckpointRecord | undefined, at: AsOf, through: number | undefined): Promise<number | undefined> {
    let after = from === undefined ? 0 : from.position - 1
    let checked = from === undefined
    let folded = 0
    const page = "time" in at ? TIME_PAGE : PAGE
    for (;;) {
      const limit = through === undefined ? page : Math.min(page, through - after)
      if (limit <= 0) break
      const events = await readPage(this.options.log, after, limit, this.skipped)
      if (events instanceof UndecodableEvent) {
        // No checkpoint is taken at a skipped event: the log is another one.
        if (!checked) return undefined
        if (through !== undefined && events.through > through) return folded
        passOver(state, events)
        after = events.through
        continue
      }
      if (events.length === 0) break
      for (const e of events) {
        if (!checked) {
          if (e.position !== from!.position || fingerprintOf(e.envelope) !== from!.fingerprint) return undefined
          checked = true
          continue
        }
        if ((through !== undefined && e.position > through) || isPast(e, at)) return folded
        applyEvent(state, e)
        folded++
      }
      after = events[events.length - 1]!.position
    }
    return checked ? folded : undefined
  }

  /** The log differs from the checkpoints at and after `p`: drop them. */
  private dropFrom(p: number): void {
    console.error(`helios-master: the checkpoint at position ${p} does not match the event log there (another log?); dropping it and those after it`)
    for (const q of [...this.entries.keys()]) if (q >= p) this.forget(q)
    this.pending = this.pending.filter((x) => x.record.position < p)
  }

  /**
   * Folds the log from the last checkpoint at or before the start position up to it, keeping the
   * checkpoints due on the way, and learns the latest event time up to there. Retries while the
   * log is away.
   */
  private async backfill(generation: number): Promise<void> {
    for (let delay = 200; generation === this.generation && !this.closed; delay = Math.min(2 * delay, 10_000)) {
      try {
        return await this.backfillOnce(generation)
      } catch (error) {
        if (generation !== this.generation || this.closed) return
        console.error(`helios-master: could not build the checkpoints up to position ${this.startedAt} yet (${error instanceof Error ? error.message : String(error)}); trying again`)
        await new Promise((resolve) => setTimeout(resolve, delay).unref())
      }
    }
  }

  private async backfillOnce(generation: number): Promise<void> {
    const target = this.startedAt
    const below = this.marks().filter((m) => m.position <= target)
    let from: CheckpointRecord | undefined
    while (below.length > 0 && from === undefined) {
      const m = below.pop()!
      from = await this.get(m.position)
      if (from === undefined) this.forget(m.position)
    }
    if (generation !== this.generation) return
    const state = from === undefined ? emptyState() : cloneState(from.state)
    let maxAt = from?.maxAt ?? Number.NEGATIVE_INFINITY
    let after = from === undefined ? 0 : from.position - 1
    let checked = from === undefined
    while (after < target) {
      let page: ReadonlyArray<StoredEvent> | UndecodableEvent
      try {
        page = await readPage(this.options.log, after, Math.min(PAGE, target - after), this.skipped)
      } catch (error) {
        if (!(error instanceof EventsArchived || error instanceof UndecodableEvent) || generation !== this.generation) throw error
        return this.unfoldable(generation, error, after, maxAt)
      }
      if (generation !== this.generation) return
      if (page instanceof UndecodableEvent) {
        // No checkpoint is taken at a skipped event: those kept are of another log.
        if (!checked) return this.otherLog(generation)
        passOver(state, page)
        after = page.through
        continue
      }
      if (page.length === 0) break
      for (const e of page) {
        if (!checked) {
          checked = true
          if (e.position !== from!.position || fingerprintOf(e.envelope) !== from!.fingerprint) return this.otherLog(generation)
          continue
        }
        if (e.position > target) break
        applyEvent(state, e)
        maxAt = laterOf(maxAt, e)
        if (checkpointDue(e.position, this.every) && !this.entries.has(e.position))
          this.keep({ position: e.position, maxAt, fingerprint: fingerprintOf(e.envelope), state: cloneState(state) })
      }
      after = page[page.length - 1]!.position
      await yieldToLoop()
      if (generation !== this.generation || this.closed) return
    }
    this.settle(maxAt, true)
  }

  /** The checkpoints kept are of another log (a reset ZooKeeper): none can be trusted, all are built again. */
  private otherLog(generation: number): Promise<void> {
    console.error(`helios-master: the checkpoints in the state dir do not match the event log (another log?); rebuilding them`)
    for (const p of [...this.entries.keys()]) this.forget(p)
    return this.backfillOnce(generation)
  }

  /**
   * The log cannot be folded past `after` up to the start position: its events there were archived
   * (and this master has no archive), or one cannot be decoded (and is not to be skipped). Queries
   * as of the positions from there to the start answer 410 or 503; the start's own checkpoint (the
   * snapshot's state) answers after it. The latest event time up to the start comes from the events
   * that can be read: archived ones count as older than the rest (archive-command.ts's rule),
   * undecodable ones have none.
   */
  private async unfoldable(generation: number, obstacle: EventsArchived | UndecodableEvent, after: number, maxAt: number): Promise<void> {
    const target = this.startedAt
    const from = after
    while (after < target) {
      let page: ReadonlyArray<StoredEvent>
      try {
        page = await this.options.log.read(position(after), Math.min(PAGE, target - after))
      } catch (error) {
        if (!(error instanceof EventsArchived || error instanceof UndecodableEvent) || error.through <= after) throw error
        after = error.through
        continue
      }
      if (generation !== this.generation || this.closed) return
      if (page.length === 0) break
      for (const e of page) if (e.position <= target) maxAt = laterOf(maxAt, e)
      after = page[page.length - 1]!.position
      await yieldToLoop()
    }
    const why = obstacle instanceof EventsArchived ? `${obstacle.message} (410 Gone)` : `the event at position ${obstacle.position} cannot be decoded: ${obstacle.reason} (503)`
    console.error(`helios-master: queries as of positions ${from + 1}..${target - 1} cannot be answered: ${why}; its checkpoints start at this master's start, position ${target}`)
    this.settle(maxAt, false)
  }

  /**
   * The latest event time up to the start position is known: the checkpoints taken meanwhile are
   * kept. The start's own only where the log before it cannot be folded (`folded` false): then
   * nothing else answers as of the positions from there to the next checkpoint, and it stays.
   */
  private settle(prefixMaxAt: number, folded: boolean): void {
    this.prefixMaxAt = prefixMaxAt
    if (!folded) this.pinned = this.startedAt
    for (const { record, maxAtSince } of this.pending)
      if (!folded || record.position !== this.startedAt) this.keep({ ...record, maxAt: Math.max(prefixMaxAt, maxAtSince) })
    this.pending = []
  }
}
