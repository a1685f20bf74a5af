import { randomUUID } from "node:crypto"
import { Result } from "effect"
import type { Transaction } from "node-zookeeper-client"
import { pack, unpack } from "msgpackr"
import { decodeBatch, decodeBatchSome, encodeBatch, type EncodedBatch, type MalformedEvent } from "../core/codec.ts"
import {
  AppendConflict,
  BatchTooLarge,
  LogUnavailable,
  UndecodableEvent,
  type AppendOptions,
  type AppendResult,
  type EventLog,
  type ExpectedVersion,
  type HostStreamEvent,
  type PackReport,
  type Unsubscribe,
} from "../core/event-log.ts"
import { hostsOf, NO_STREAMS, type EventEnvelope, type StoredEvent, type StreamId } from "../core/events.ts"
import { position, type HostName, type Position } from "../core/ids.ts"
import { follow, type Follower } from "./follow.ts"
import { mapLimit } from "./map-limit.ts"
import { missingPosition, positionRanges } from "./position-ranges.ts"
import { ZK, zkCode, type MultiFailure, type ZkClient } from "./zk-client.ts"
import { ZkSharedSnapshots } from "./zk-shared-snapshot.ts"
import { archiveLog, ArchivedSegments, readHostStreamBase, type ArchivableLog, type ArchiveReport, type HostPointerAt } from "./zk-archive.ts"
import type { HostStreamBase } from "../core/desired-state.ts"
import { zkPaths, type ChainPaths, type ZkPaths } from "./zk-paths.ts"
import {
  chunkEntries,
  chunkIndexFor,
  decodeChunk,
  decodeLayout,
  decodeSegment,
  decodeThrough,
  encodeChunk,
  encodeLayout,
  encodeSegment,
  encodeThrough,
  LEGACY_SEGMENT_SIZE,
  type ChainEntry,
} from "./zk-chain-format.ts"

/*
 * The log on ZooKeeper (its invariants: the README's "The event log on ZooKeeper").
 *
 * Positions are claimed, not assigned: an append that takes positions p..p+n-1 creates the znodes
 * named p..p+n-1 (the batch's bytes in p, empty markers after) in one `multi` that also checks
 * that p-1 exists, unless p-1 is known to exist (an earlier op of the same multi creates it, or
 * this writer has seen it: positions are never deleted). So the positions that exist are always
 * a prefix 1..head with no holes (prefix reads), every reader sees one order (total order), a
 * batch lands whole or not at all, and a position is taken by exactly one batch, which makes a
 * retry after a lost connection checkable: read p back and look for our batch id. Positions are
 * known before the write, so the host streams (the same kind of chain under /hosts/H/stream)
 * point straight at them.
 * Segments hold a fixed number of positions (bounded children); a full segment takes no appends.
 * Stream versions are znodes whose data version is checked and bumped in the same `multi`.
 *
 * Group commit: appends without expected versions that arrive while GROUP_WINDOW of their multis
 * are in flight wait, and then go out together as ONE multi. Each keeps its own positions, batch
 * znode and host-stream entries (the same znodes as separate appends), so only the number of
 * ZooKeeper transactions drops; when idle an append goes out at once, alone.
 */

/** Stays under jute.maxbuffer (1,048,575 bytes) with room for the request's paths and headers. */
export const MAX_REQUEST_BYTES = 1_000_000
const OP_OVERHEAD_BYTES = 120
/** Packed chunks (≤ 900 KB each) a reader keeps, and reads ahead of the one it decodes. */
const CHUNKS_KEPT = 8
const READ_AHEAD_CHUNKS = 3
/** The global log's batches this writer landed lately, kept for its followers: at most this many, and this many bytes. */
const LANDED_KEPT = 4096
const LANDED_KEPT_BYTES = 16 * 1024 * 1024
/** A follower reads this often even when no watch fired (a watch lost with a session, say). */
const POLL_MS = 10_000
/** Reads of a segment being packed in flight at once. */
const PACK_READS_IN_FLIGHT = 16
/** Ranges of a job's history read at once (readAt). */
const HISTORY_RANGES_IN_FLIGHT = 8

export interface ZooKeeperLogOptions {
  /** Chroot of this Helios cluster in ZooKeeper. */
  readonly root?: string
  /** Positions per segment of the global log (children per znode). Tests use tiny ones to exercise roll-over. */
  readonly segmentSize?: number
  /**
   * Positions per segment of host streams this writer creates (recorded in each stream's base node,
   * so readers follow whatever a stream was created with). Default `segmentSize` if given, else 100:
   * a host's sealed entries are packed after a hundred events.
   */
  readonly hostSegmentSize?: number
  /** How often an append retries when other writers took the positions it claimed. */
  readonly maxClaimRetries?: number
  /**
   * How long an append whose reply was lost waits for the session to come back to learn whether
   * it landed, before it gives up with LogUnavailable (the caller answers 503, not a hang).
   */
  readonly unknownOutcomeWaitMs?: number
  /**
   * packSealed leaves this many sealed segments below the newest one as per-position znodes
   * (followers near the head read those). Default 1; tests use 0 to pack right behind the head.
   */
  readonly keepSealedSegments?: number
  /** Where archive files of the global log's oldest segments are (log/zk-archive.ts); none: archived events are not readable. */
  readonly archiveDir?: string
}


type Op = (tx: Transaction) => void

/** The ops of one `multi` as it is built, and what is needed to read its outcome. */
class MultiOps {
  private readonly ops: Op[] = []
  /** Op index → the stream version it checks: a failure there is an AppendConflict. */
  private readonly streamOps = new Map<number, { readonly stream: StreamId; readonly expected: ExpectedVersion }>()
  /** The last position this multi creates in each chain. */
  readonly lastCreated = new Map<ChainCursor, number>()
  /** The global log's batches this multi creates: first position, bytes, positions taken. */
  readonly globalBatches: Array<{ readonly start: number; readonly data: Buffer; readonly count: number }> = []

  add(op: Op): void {
    this.ops.push(op)
  }

  addStreamOp(stream: StreamId, expected: ExpectedVersion, op: Op): void {
    this.streamOps.set(this.ops.length, { stream, expected })
    this.ops.push(op)
  }

  /** The conflict a failure at op `index` means, if that op checked a stream version. */
  conflictAt(index: number): AppendConflict | undefined {
    const op = this.streamOps.get(index)
    return op && new AppendConflict(op)
  }

  run = (tx: Transaction): void => {
    for (const op of this.ops) op(tx)
  }
}

/** Where one chain (the global log or a host stream) ends, as far as this writer knows. */
class ChainCursor {
  private next: number | undefined
  private loading: Promise<number> | undefined
  /**
   * Segments 0..packedThrough are packed (as last read). `packedKnown`: the mark cannot have moved
   * since: a watch on it is set and has not fired. ZooKeeper delivers a watch's event before any
   * later reply, so a reader that finds a position gone knows whether to read the mark again.
   */
  private packedThrough = -1
  private packedKnown = false
  private readingPacked: Promise<void> | undefined
  /** Packed segments' chunk starts (a packed segment never changes), and a few chunks, read or being read. */
  private readonly chunkStarts = new Map<number, Promise<ReadonlyArray<number>>>()
  private readonly chunks = new Map<string, Promise<ReadonlyArray<ChainEntry>>>()

  /** Positions per segment: given (the global log), or read from the base node (a host stream) by `sized`. */
  private size: number | undefined
  /**
   * Batches this writer's own multis created lately (first position → bytes and positions taken):
   * a follower in this process reads its own appends from here instead of asking ZooKeeper for
   * each position again (a master's follower re-read every relayed fact: half its requests during a
   * rollout). Never stale, since a position's bytes never change once created (packing keeps them);
   * forgotten on reconnect with everything else this writer saw (`distrust`). Insertion order is
   * landing order, so the oldest go first.
   */
  private readonly landed = new Map<number, { readonly data: Buffer; readonly count: number }>()
  private landedBytes = 0
  /** Whether position p begins a batch in `landed`. */
  landedAt(p: number): boolean {
    return this.landed.has(p)
  }

  /**
   * This writer's own batches from position after+1 on (about `limit` positions), as `readEntries`
   * gives them; undefined when the next batch is not one it remembers. The caller reads on after
   * them from ZooKeeper: another writer's batch may follow.
   */
  landedAfter(after: number, limit: number): { entries: ChainEntry[]; last: number } | undefined {
    const entries: ChainEntry[] = []
    let at = after
    for (let batch = this.landed.get(at + 1); batch !== undefined && at < after + limit; batch = this.landed.get(at + 1)) {
      entries.push({ start: at + 1, data: batch.data })
      at += batch.count
    }
    return entries.length > 0 ? { entries, last: at } : undefined
  }

  /** The last position of the newest batch in `landed` (0: none). */
  newestLandedEnd = 0

  constructor(
    private readonly zk: ZkClient,
    readonly paths: ChainPaths,
    segmentSize: number | undefined,
    /** The global log's archived segments (host streams are not archived). */
    private readonly archive?: ArchivedSegments,
  ) {
    this.size = segmentSize
  }

  /**
   * Reads a packed segment's node from ZooKeeper, or from the archive when ZooKeeper no longer has
   * it and the segment is archived (the archiver moves the mark before it removes anything). Always
   * ZooKeeper first: the newest archived segment keeps its chunk list and last chunk there, for the
   * batch that may run on into the next segment.
   */
  private async fromPackedOrArchive<T>(s: number, zk: () => Promise<T>, archived: (archive: ArchivedSegments) => Promise<T>): Promise<T> {
    try {
      return await zk()
    } catch (e) {
      if (zkCode(e) === ZK.Exception.NO_NODE && this.archive && (await this.archive.holds(s))) return archived(this.archive)
      throw e
    }
  }

  get segmentSize(): number {
    if (this.size === undefined) throw new Error(`${this.paths.base}: segment size read before the chain was sized`)
    return this.size
  }

  /** Whether the chain exists; the first time, learns its segment size from its base node. */
  async sized(): Promise<boolean> {
    if (this.size !== undefined) return true
    const data = await this.zk.getDataIfExists(this.paths.base)
    if (data === undefined) return false
    this.size = decodeLayout(data, this.paths.base)
    return true
  }

  /** The node whose creation a follower caught up after `after` waits for. */
  nextNode(after: number): string {
    return this.size === undefined ? this.paths.base : this.entry(after + 1)
  }

  segmentOf = (p: number) => Math.floor(p / this.segmentSize)
  entry = (p: number) => this.paths.entry(this.segmentOf(p), p)
  private segmentFirst = (s: number) => (s === 0 ? 1 : s * this.segmentSize)
  private segmentLast = (s: number) => (s + 1) * this.segmentSize - 1

  /** The last position of the chain, read from ZooKeeper. */
  async head(): Promise<number> {
    if (!(await this.sized())) return 0
    const segments = (await this.zk.getChildrenIfExists(this.paths.base)).map(Number).sort((a, b) => b - a)
    for (const segment of segments) {
      // Positions are dense from the segment's first one, so its child count says where it ends:
      // no listing of up to 10,000 names each time a writer lost a race for the next position.
      const count = (await this.zk.exists(this.paths.segment(segment)))?.numChildren ?? 0
      if (count > 0) return (segment === 0 ? 1 : segment * this.segmentSize) + count - 1
    }
    return 0
  }

  /** Reads the head once (shared by concurrent callers) if this writer does not know it. */
  async load(): Promise<void> {
    if (this.next !== undefined) return
    this.loading ??= this.head().finally(() => (this.loading = undefined))
    const head = await this.loading
    this.next ??= head + 1
  }

  /** This writer's multi created positions start..start+count-1, `data` in the first (see `landed`). */
  remember(start: number, data: Buffer, count: number): void {
    this.landed.set(start, { data, count })
    this.newestLandedEnd = Math.max(this.newestLandedEnd, start + count - 1)
    this.landedBytes += data.length
    for (const [oldest, batch] of this.landed) {
      if (this.landed.size <= LANDED_KEPT && this.landedBytes <= LANDED_KEPT_BYTES) break
      this.landed.delete(oldest)
      this.landedBytes -= batch.data.length
    }
  }

  /**
   * The session reconnected, perhaps to a server that lost what this writer saw (a ZooKeeper that
   * drops committed transactions, issue 17): forget the batches it remembers landing and whether
   * the packed mark is known. (Every claim checks p-1 anyway, so an append cannot land above a
   * hole; a collision then re-reads the head.)
   */
  distrust(): void {
    this.landed.clear()
    this.landedBytes = 0
    this.newestLandedEnd = 0
    this.packedKnown = false // a watch set by an expired session is gone
  }

  /** The last packed segment (-1: none), read from ZooKeeper now. */
  async packedMark(): Promise<number> {
    await this.sized()
    this.packedKnown = false
    await this.isPacked(0)
    return this.packedThrough
  }

  /** Whether segment s is packed, reading the mark again only when it may have moved. */
  async isPacked(s: number): Promise<boolean> {
    // A read of the mark in flight is waited for: `packedKnown` is set when a read starts (so that a
    // watch firing before its reply is not overwritten), and until it answers `packedThrough` is
    // the old one. Answering from it then said "not packed" for a segment packed meanwhile: a
    // reader stopped at the removed position as if it were the end of the log.
    while (s > this.packedThrough && (!this.packedKnown || this.readingPacked !== undefined)) await (this.readingPacked ?? this.readPackedMark())
    return s <= this.packedThrough
  }

  /** Reads the packed mark with a watch that says when it may have moved (shared by concurrent callers). */
  private readPackedMark(): Promise<void> {
    this.readingPacked ??= (async () => {
      const moved = () => {
        this.packedKnown = false
      }
      this.packedKnown = true
      try {
        for (;;) {
          try {
            const { data } = await this.zk.getData(this.paths.packed, moved)
            this.packedThrough = Math.max(this.packedThrough, decodeThrough(data, this.paths.packed))
            return
          } catch (e) {
            if (zkCode(e) !== ZK.Exception.NO_NODE) throw e
          }
          // Nothing packed yet: watch for the mark's creation instead.
          if ((await this.zk.exists(this.paths.packed, moved)) === undefined) return
        }
      } catch (e) {
        this.packedKnown = false
        throw e
      }
    })().finally(() => (this.readingPacked = undefined))
    return this.readingPacked
  }

  /** Packed segment s's chunk starts, read once (a reader and a read-ahead asking at once share the read). */
  private chunkStartsOf(s: number): Promise<ReadonlyArray<number>> {
    let starts = this.chunkStarts.get(s)
    if (!starts) {
      const path = this.paths.packedSegment(s)
      const reading = this.fromPackedOrArchive(
        s,
        () => this.zk.getData(path).then(({ data }) => decodeSegment(data, path)),
        (archive) => archive.chunkStarts(s),
      )
      // A failed read is not kept: the next reader tries again.
      reading.catch(() => this.chunkStarts.get(s) === reading && this.chunkStarts.delete(s))
      this.chunkStarts.set(s, (starts = reading))
    }
    return starts
  }

  /**
   * Chunk k of packed segment s, decoded. The last few asked for are kept (readers go through a
   * segment in order), as promises: a chunk asked for ahead of its reader is read once.
   */
  private chunk(s: number, k: number): Promise<ReadonlyArray<ChainEntry>> {
    const path = this.paths.packedChunk(s, k)
    let entries = this.chunks.get(path)
    if (entries) {
      this.chunks.delete(path)
    } else {
      const reading = this.fromPackedOrArchive(
        s,
        () => this.zk.getData(path).then(({ data }) => data),
        (archive) => archive.chunk(s, k),
      ).then((data) => decodeChunk(data, path))
      // A failed read is not kept: the next reader tries again.
      reading.catch(() => this.chunks.get(path) === reading && this.chunks.delete(path))
      entries = reading
      if (this.chunks.size >= CHUNKS_KEPT) this.chunks.delete(this.chunks.keys().next().value!)
    }
    this.chunks.set(path, entries)
    return entries
  }

  /** The entries of packed segment s that start in from..to, in order (a few chunks read ahead of the one decoded). */
  private async packedEntries(s: number, from: number, to: number): Promise<ChainEntry[]> {
    const starts = await this.chunkStartsOf(s)
    const first = Math.max(0, chunkIndexFor(starts, from))
    let last = first - 1 // the last chunk that starts by `to` (none: first - 1)
    while (last + 1 < starts.length && starts[last + 1]! <= to) last++
    // Chunk k is asked for when chunk k - READ_AHEAD_CHUNKS is decoded: a few always on their way.
    const reads: Array<Promise<ReadonlyArray<ChainEntry>>> = []
    const ask = (k: number) => void (k <= last && (reads[k] = this.chunk(s, k)))
    for (let k = first; k < first + READ_AHEAD_CHUNKS; k++) ask(k)
    const out: ChainEntry[] = []
    for (let k = first; k <= last; k++) {
      ask(k + READ_AHEAD_CHUNKS)
      for (const e of await reads[k]!) if (e.start >= from && e.start <= to) out.push(e)
    }
    return out
  }

  /**
   * Starts reading the chunks from position p on, if p's segment is packed, without waiting for
   * them: a reader catching up (a master's cold start) folds what it read while the next chunks
   * come from ZooKeeper.
   */
  private readAhead(p: number): void {
    const s = this.segmentOf(p)
    if (s > this.packedThrough) return
    this.chunkStartsOf(s).then(
      (starts) => {
        const first = Math.max(0, chunkIndexFor(starts, p))
        for (let k = first; k < Math.min(starts.length, first + READ_AHEAD_CHUNKS); k++) this.chunk(s, k).catch(() => {})
      },
      () => {},
    )
  }

  /** The entry of the batch that holds position p (the greatest start at or before p), packed or not. */
  async entryCovering(p: number): Promise<ChainEntry | undefined> {
    if (!(await this.sized())) return undefined
    for (let q = p; q >= 1; ) {
      const s = this.segmentOf(q)
      if (await this.isPacked(s)) {
        const starts = await this.chunkStartsOf(s)
        const k = chunkIndexFor(starts, q)
        // No entry of this segment at or before q: the batch began in an earlier segment.
        if (k < 0) {
          q = this.segmentFirst(s) - 1
          continue
        }
        const entries = await this.chunk(s, k)
        for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.start <= q) return entries[i]
        return undefined
      }
      const data = await this.zk.getDataIfExists(this.entry(q))
      if (data === undefined) {
        if (await this.isPacked(s)) continue // packed meanwhile: read it there
        return undefined
      }
      if (data.length > 0) return { start: q, data }
      q--
    }
    return undefined
  }

  get loaded(): boolean {
    return this.next !== undefined
  }

  /**
   * Takes the next n positions for an append from this process, synchronously: appends from one
   * process claim in the order they reach ZooKeeper, so pipelined appends chain instead of colliding.
   */
  claim(n: number): number {
    if (this.next === undefined) throw new Error("claim: cursor not loaded")
    const p = this.next
    this.next += n
    return p
  }

  /** Another writer moved the chain (or our claim failed): re-read the head before the next claim. */
  invalidate(): void {
    this.next = undefined
  }

  /** The ops that take positions p..p+count-1 (`first` in p, empty markers after), guarded by p-1 existing. */
  claimOps(p: number, first: Buffer, count: number, multi: MultiOps): void {
    // Creating p when p-1 is missing would open a hole, so the multi checks p-1 exists; the create
    // of p fails if another writer took p. The check is left out only when an earlier op of this
    // same multi creates p-1 (the previous append of a group). Not when this writer saw p-1 exist
    // before: packing removes a sealed segment's znodes, so a writer whose cursor fell behind
    // (others appended, then packed) would otherwise create p again in a packed segment: an
    // append acknowledged that no reader ever sees, its position already someone else's. Packing
    // removes positions in ascending order (removeSegmentZnodes), so while p is gone, so is p-1,
    // and the check fails: a collision, which re-reads the head. Inside a segment whose node is
    // gone the create of p fails too (no parent).
    const known = p === 1 || multi.lastCreated.get(this) === p - 1
    if (!known) multi.add((tx) => tx.check(this.entry(p - 1), -1))
    for (let i = 0; i < count; i++) {
      const q = p + i
      if (q === 1 || q % this.segmentSize === 0) multi.add((tx) => tx.create(this.paths.segment(this.segmentOf(q))))
      multi.add((tx) => tx.create(this.entry(q), i === 0 ? first : Buffer.alloc(0)))
    }
    multi.lastCreated.set(this, p + count - 1)
  }

  /**
   * The entries holding data for every position > after (at most about `limit`), oldest first.
   * When `after` falls inside a batch, the batch's first entry is included too. `last`: the last
   * position read (entries or markers), `after` if none. Packed segments are read from their chunks.
   */
  async readEntries(after: number, limit: number): Promise<{ entries: ChainEntry[]; last: number }> {
    if (!(await this.sized())) return { entries: [], last: after }
    const entries: ChainEntry[] = []
    const end = after + limit
    let at = after // every position up to `at` has been read
    while (at < end) {
      const s = this.segmentOf(at + 1)
      if (await this.isPacked(s)) {
        const to = Math.min(end, this.segmentLast(s))
        entries.push(...(await this.packedEntries(s, at + 1, to)))
        at = to
        continue
      }
      const live = await this.readLive(at, end - at)
      entries.push(...live.entries)
      at = live.last
      // Stopped before `end` at a missing position: the chain's end, unless it was packed meanwhile.
      if (at < end && !(await this.isPacked(this.segmentOf(at + 1)))) break
    }
    if (at > after && entries[0]?.start !== after + 1) {
      // Started inside a batch: include its first entry.
      const covering = await this.entryCovering(after + 1)
      if (covering) entries.unshift(covering)
    }
    if (at >= end) this.readAhead(at + 1)
    return { entries, last: at }
  }

  /**
   * Packs this chain's sealed segments not packed yet, oldest first, leaving `keep` sealed segments
   * below the newest as they are. Segments are packed in order, so packed segments are a prefix.
   */
  async packSealed(keep: number, report: PackReport): Promise<void> {
    await this.zk.sync(this.paths.base)
    if (!(await this.sized())) return
    const head = await this.head()
    if (head === 0) return
    this.packedKnown = false
    await this.isPacked(0)
    // A packer killed after moving the mark leaves that segment's per-position znodes: remove them.
    if (this.packedThrough >= 0 && (await this.zk.exists(this.paths.segment(this.packedThrough))) !== undefined)
      await this.removeSegmentZnodes(this.packedThrough)
    for (let s = this.packedThrough + 1; s <= this.segmentOf(head) - 1 - keep; s++) await this.packSegment(s, report)
  }

  private async packSegment(s: number, report: PackReport): Promise<void> {
    const first = this.segmentFirst(s)
    const positions = Array.from({ length: this.segmentLast(s) - first + 1 }, (_, i) => first + i)
    // Few reads in flight: packing is background work, and a burst of replies would hold up the API.
    const datas = await mapLimit(positions, PACK_READS_IN_FLIGHT, (p) => this.zk.getDataIfExists(this.entry(p)))
    const missing = datas.findIndex((d) => d === undefined)
    if (missing >= 0) {
      // Another packer (a previous leader) got here first, or the chain is not dense: say which.
      this.packedKnown = false
      if (await this.isPacked(s)) return
      throw new Error(`packing ${this.paths.segment(s)}: position ${positions[missing]} is missing and the segment is not packed`)
    }
    const entries = datas.flatMap((data, i) => (data!.length > 0 ? [{ start: first + i, data: data! }] : []))
    const chunks = chunkEntries(entries)
    // Another packer (a leader that lost leadership mid-round) may have packed it while these were
    // read: its chunk list is what readers use now, not to be rewritten.
    this.packedKnown = false
    if (await this.isPacked(s)) return
    await this.zk.ensurePath(this.paths.packed)
    // The list's node is the chunks' parent, so it is there first; but it is never emptied once it
    // exists (a packer emptying another's finished list, then dying, left the segment unreadable):
    // its content is written once, after every chunk (the same bytes whoever packs: same znodes).
    await this.createIfAbsent(this.paths.packedSegment(s), Buffer.alloc(0))
    for (const [k, chunk] of chunks.entries()) await this.createOrSet(this.paths.packedChunk(s, k), encodeChunk(chunk))
    await this.zk.setData(this.paths.packedSegment(s), encodeSegment(chunks.map((c) => c[0]!.start)))
    // The mark moves by one segment, checked against the version read: two packers never move it back.
    for (;;) {
      const { data, stat } = await this.zk.getData(this.paths.packed)
      const through = decodeThrough(data, this.paths.packed)
      if (through >= s) break
      if (through !== s - 1) throw new Error(`packing ${this.paths.segment(s)}: ${this.paths.packed} says packed through ${through}`)
      try {
        await this.zk.setData(this.paths.packed, encodeThrough(s), stat.version)
        break
      } catch (e) {
        if (zkCode(e) !== ZK.Exception.BAD_VERSION) throw e
      }
    }
    // Readers find the segment packed from now on: its per-position znodes can go.
    await this.removeSegmentZnodes(s)
    report.segments++
    report.entries += entries.length
    report.znodesRemoved += positions.length + 1
  }

  /** Removes a packed segment's per-position znodes and its node (safe beside another packer doing the same). */
  private async removeSegmentZnodes(s: number): Promise<void> {
    const positions = Array.from({ length: this.segmentLast(s) - this.segmentFirst(s) + 1 }, (_, i) => this.segmentFirst(s) + i)
    for (let i = 0; i < positions.length; i += 1000) {
      const paths = positions.slice(i, i + 1000).map((p) => this.entry(p))
      const refused = await this.zk.multi((tx) => paths.forEach((path) => tx.remove(path, -1)))
      // Some were removed already (another packer, or one killed half-way): remove the rest one by
      // one, in order. Positions go in ascending order, all of them (each multi at once, one after
      // the other): a writer with a stale cursor relies on it (claimOps: p gone means p-1 gone).
      if (refused !== undefined) for (const path of paths) await this.removeIfExists(path)
    }
    await this.removeIfExists(this.paths.segment(s))
  }

  private async createOrSet(path: string, data: Buffer): Promise<void> {
    try {
      await this.zk.create(path, data)
    } catch (e) {
      if (zkCode(e) !== ZK.Exception.NODE_EXISTS) throw e
      await this.zk.setData(path, data)
    }
  }

  private async createIfAbsent(path: string, data: Buffer): Promise<void> {
    try {
      await this.zk.create(path, data)
    } catch (e) {
      if (zkCode(e) !== ZK.Exception.NODE_EXISTS) throw e
    }
  }

  private async removeIfExists(path: string): Promise<void> {
    try {
      await this.zk.remove(path)
    } catch (e) {
      if (zkCode(e) !== ZK.Exception.NO_NODE) throw e
    }
  }

  /** Per-position znodes after `after` (at most `limit`), up to the first missing one: its entries (start > after) and the last position read. */
  private async readLive(after: number, limit: number): Promise<{ entries: ChainEntry[]; last: number }> {
    // Positions are dense (no holes), so read after+1, after+2, ... until the first missing one:
    // no segment listing (up to 10,000 names) per read. Reads ramp up from 1 in flight to 256 (each
    // position found adds a reader), so a follower's read at the head costs one request and a
    // catch-up is pipelined.
    const datas: Buffer[] = []
    let next = after + 1
    let stop = after + limit + 1 // exclusive; lowered to the first missing position
    let workers = 0
    const running: Array<Promise<void>> = []
    const worker = async (): Promise<void> => {
      workers++
      while (next < stop) {
        const p = next++
        const data = await this.zk.getDataIfExists(this.entry(p))
        if (data === undefined) stop = Math.min(stop, p)
        else {
          datas[p - after - 1] = data
          if (workers < 256 && next < stop) running.push(worker())
        }
      }
    }
    running.push(worker())
    // Wait for every worker (workers spawn workers), so a failure leaves no rejection unobserved.
    let failure: unknown
    while (running.length > 0)
      await running.shift()!.catch((e: unknown) => {
        failure ??= e
        stop = next // the other workers stop at their next step
      })
    if (failure !== undefined) throw failure
    const found = datas.slice(0, stop - after - 1)
    const out: ChainEntry[] = []
    found.forEach((data, i) => {
      if (data.length > 0) out.push({ start: after + 1 + i, data })
    })
    return { entries: out, last: after + found.length }
  }
}


const decodeOrThrow = (data: Buffer): EncodedBatch => {
  const r = decodeBatch(data)
  if (Result.isFailure(r)) throw r.failure
  return r.success
}

/** What a batch that cannot be decoded is reported as: its positions, why, and the streams it bumped if known. */
const undecodable = (start: number, through: number, failure: MalformedEvent): UndecodableEvent =>
  new UndecodableEvent({ position: start, through, reason: failure.reason, bumped: failure.bumped ?? [] })

/** A follower of one chain; `rearm` forgets its watch (the session was re-established) and reads now. */
interface ChainFollower extends Follower {
  rearm(): void
}

/** Host stream entries point into the global log: [[batch start position, index in batch], ...]. */
type HostPointer = [number, number]

/**
 * The pointers of host stream entries, in order: one entry holds this host's slice of one batch;
 * the slice's last event carries the batch's bumps (`last`).
 */
const pointersOf = (entries: ReadonlyArray<ChainEntry>) =>
  entries.flatMap(({ start, data }) => {
    const slice = unpack(data) as HostPointer[]
    return slice.map(([batchStart, index], i) => ({ hostPosition: start + i, batchStart, index, last: i === slice.length - 1 }))
  })

/**
 * Group commit: multis of appends without expected versions in flight at once; appends that arrive
 * beyond that wait and go out together. 4 kept ZooKeeper busy while letting groups form (measured
 * at 64 appends in flight: about 0.08 multis per append).
 */
const GROUP_WINDOW = 4
/** Group commit: at most this many appends share one multi (and at most MAX_REQUEST_BYTES of them). */
const GROUP_MAX = 64

/** One append, encoded and sized, ready to claim positions. */
interface PreparedAppend {
  readonly events: ReadonlyArray<EventEnvelope>
  readonly expected: ReadonlyArray<readonly [StreamId, ExpectedVersion]>
  /** Streams checked but not bumped. */
  readonly unchanged: ReadonlyArray<readonly [StreamId, ExpectedVersion]>
  readonly batchId: string
  readonly data: Buffer
  /** Host → the indices of the batch's events that concern it. */
  readonly byHost: ReadonlyMap<string, ReadonlyArray<number>>
  /** What its ops add to a multi request, estimated. */
  readonly requestBytes: number
}

/** An append waiting for a shared multi. */
interface WaitingAppend {
  readonly append: PreparedAppend
  readonly resolve: (result: AppendResult) => void
  readonly reject: (error: unknown) => void
}

/**
 * What one multi did: it landed (a result per append, in order), or it wrote nothing: ZooKeeper
 * refused it (the failing op, a conflict if that op checked a stream), or its reply was lost and
 * it had not landed (`refused` undefined).
 */
type Attempt =
  | { readonly results: ReadonlyArray<AppendResult> }
  | { readonly results?: undefined; readonly refused: MultiFailure | undefined; readonly conflict?: AppendConflict | undefined }

/** Another writer took a position this multi claimed (or a position it relied on is missing). */
const isCollision = (failure: MultiFailure) => failure.code === ZK.Exception.NODE_EXISTS || failure.code === ZK.Exception.NO_NODE

export class ZooKeeperEventLog implements EventLog {
  private readonly paths: ZkPaths
  private readonly global: ChainCursor
  private readonly hostChains = new Map<string, ChainCursor>()
  private readonly readyHosts = new Set<string>()
  private readonly followers = new Set<ChainFollower>()
  private readonly segmentSize: number
  private readonly hostSegmentSize: number
  private readonly maxClaimRetries: number
  private readonly unknownOutcomeWaitMs: number
  private readonly keepSealedSegments: number
  readonly sharedSnapshots: ZkSharedSnapshots
  private readonly archived: ArchivedSegments
  private readonly root: string
  /** Group commit: appends waiting for a shared multi, and how many multis of theirs are in flight. */
  private readonly waiting: WaitingAppend[] = []
  private groupsInFlight = 0
  /** Called when the session (re)connects: see onReconnected. */
  private readonly reconnected = () => this.onReconnected()

  private constructor(
    private readonly zk: ZkClient,
    options: ZooKeeperLogOptions,
  ) {
    this.root = options.root ?? "/helios"
    this.paths = zkPaths(this.root)
    this.segmentSize = options.segmentSize ?? LEGACY_SEGMENT_SIZE
    this.hostSegmentSize = options.hostSegmentSize ?? options.segmentSize ?? 100
    this.maxClaimRetries = options.maxClaimRetries ?? 200
    this.unknownOutcomeWaitMs = options.unknownOutcomeWaitMs ?? 3000
    this.keepSealedSegments = options.keepSealedSegments ?? 1
    this.archived = new ArchivedSegments(zk, this.paths, options.archiveDir)
    this.global = new ChainCursor(zk, this.paths.log, this.segmentSize, this.archived)
    this.sharedSnapshots = new ZkSharedSnapshots(zk, this.paths)
  }

  static async open(zk: ZkClient, options: ZooKeeperLogOptions = {}): Promise<ZooKeeperEventLog> {
    const log = new ZooKeeperEventLog(zk, options)
    for (const path of [log.paths.log.base, log.paths.streams, log.paths.hosts]) await zk.ensurePath(path)
    zk.on("connected", log.reconnected)
    return log
  }

  /**
   * After a reconnect (or a new session) this writer trusts nothing it saw before: the server may
   * be another one, and one that lost data. Followers re-arm their watches and read at once
   * (a watch set by an expired session is gone; one on a lost position would never fire).
   */
  private onReconnected(): void {
    this.global.distrust()
    for (const chain of this.hostChains.values()) chain.distrust()
    for (const f of this.followers) f.rearm()
  }

  distrustMemory(): void {
    this.onReconnected()
  }

  private hostChain(host: string): ChainCursor {
    let chain = this.hostChains.get(host)
    if (!chain) {
      chain = new ChainCursor(this.zk, this.paths.hostStream(host), undefined)
      this.hostChains.set(host, chain)
    }
    return chain
  }

  async append(events: ReadonlyArray<EventEnvelope>, options?: AppendOptions): Promise<AppendResult> {
    const append = this.prepare(events, options?.expected ?? {}, options?.unchanged ?? {})
    await this.ensureHostStreams(append.byHost.keys())
    // Never in a shared multi: a stale expected version must fail this command alone.
    if (append.expected.length > 0 || append.unchanged.length > 0) return this.appendAlone(append)
    return new Promise<AppendResult>((resolve, reject) => {
      this.waiting.push({ append, resolve, reject })
      this.flush()
    })
  }

  /** Encodes the batch and sizes its request: a batch that no request can carry is refused whole, here. */
  private prepare(
    events: ReadonlyArray<EventEnvelope>,
    expectedVersions: Readonly<Record<StreamId, ExpectedVersion>>,
    unchangedVersions: Readonly<Record<StreamId, ExpectedVersion>>,
  ): PreparedAppend {
    if (events.length === 0) throw new Error("append: a batch needs at least one event")
    const expected = Object.entries(expectedVersions) as Array<[StreamId, ExpectedVersion]>
    const unchanged = (Object.entries(unchangedVersions) as Array<[StreamId, ExpectedVersion]>).filter(([s]) => !Object.hasOwn(expectedVersions, s))
    const batchId = randomUUID()
    const data = Buffer.from(encodeBatch({ batchId, bumped: expected.map(([s]) => s), events }))
    const byHost = new Map<string, number[]>()
    events.forEach((e, i) => {
      for (const host of hostsOf(e.event)) byHost.set(host, [...(byHost.get(host) ?? []), i])
    })
    // The ops the multi has: a create per event and per host entry, a check per chain, the stream ops.
    const hostEntries = [...byHost.values()].reduce((n, indices) => n + indices.length, 0)
    // An unchanged stream is one check op at a version, or a create and a remove for "none".
    const unchangedOps = unchanged.reduce((n, [, v]) => n + (v === "none" ? 2 : 1), 0)
    const requestBytes = data.length + OP_OVERHEAD_BYTES * (events.length + hostEntries + byHost.size + 1 + expected.length + unchangedOps + 2)
    if (requestBytes > MAX_REQUEST_BYTES) throw new BatchTooLarge({ bytes: requestBytes, limit: MAX_REQUEST_BYTES })
    return { events, expected, unchanged, batchId, data, byHost, requestBytes }
  }

  private async ensureHostStreams(hosts: Iterable<string>): Promise<void> {
    for (const host of hosts) {
      if (!this.readyHosts.has(host)) {
        const base = this.paths.hostStream(host).base
        if (!(await this.hostChain(host).sized())) {
          // Created with its segment size recorded; another writer creating it first is fine (it
          // recorded its own, which every writer and reader then follows).
          await this.zk.ensurePath(this.paths.host(host))
          try {
            await this.zk.create(base, encodeLayout(this.hostSegmentSize))
          } catch (e) {
            if (zkCode(e) !== ZK.Exception.NODE_EXISTS) throw e
          }
          if (!(await this.hostChain(host).sized())) throw new Error(`${base} is missing right after it was created`)
        }
        this.readyHosts.add(host)
      }
    }
  }

  /**
   * Group commit: sends what waits while fewer than GROUP_WINDOW multis of this path are in flight.
   * An idle log sends an append at once, alone (no added latency); under load, the appends that
   * arrived while the window was full go out together, in arrival order, when a multi returns.
   */
  private flush(): void {
    while (this.waiting.length > 0 && this.groupsInFlight < GROUP_WINDOW) {
      const group = this.takeGroup()
      this.groupsInFlight++
      void this.commitGroup(group).finally(() => {
        this.groupsInFlight--
        this.flush()
      })
    }
  }

  /** The oldest waiting appends, as many as one request carries (a single append always fits: see prepare). */
  private takeGroup(): WaitingAppend[] {
    const group = [this.waiting.shift()!]
    let bytes = group[0]!.append.requestBytes
    while (group.length < GROUP_MAX && this.waiting.length > 0 && bytes + this.waiting[0]!.append.requestBytes <= MAX_REQUEST_BYTES) {
      const next = this.waiting.shift()!
      bytes += next.append.requestBytes
      group.push(next)
    }
    return group
  }

  /** Sends the group as one multi. Never rejects: each member's promise gets the outcome. */
  private async commitGroup(group: ReadonlyArray<WaitingAppend>): Promise<void> {
    const settle = (member: WaitingAppend) => this.appendAlone(member.append).then(member.resolve, member.reject)
    if (group.length === 1) return settle(group[0]!)
    let outcome: Attempt
    try {
      outcome = await this.attempt(group.map((member) => member.append))
    } catch (error) {
      for (const member of group) member.reject(error)
      return
    }
    const { results } = outcome
    if (results) group.forEach((member, i) => member.resolve(results[i]!))
    // Nothing was written (most likely another writer took a position first): each member claims
    // again in its own multi, so whatever refused the group fails at most the member it concerns.
    else await Promise.all(group.map(settle))
  }

  /** One append in its own multi, claiming again while other writers take the positions it claimed. */
  private async appendAlone(append: PreparedAppend): Promise<AppendResult> {
    for (let attempt = 0; attempt < this.maxClaimRetries; attempt++) {
      const outcome = await this.attempt([append])
      if (outcome.results) return outcome.results[0]!
      if (outcome.conflict) throw outcome.conflict
      const { refused } = outcome
      if (refused === undefined) continue // its reply was lost and it had not landed: claim again
      if (!isCollision(refused)) throw new Error(`append: unexpected ZooKeeper error ${refused.code} at op ${refused.index}`)
      // Another writer took our positions first: claim again. A little jitter breaks lockstep.
      if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)))
    }
    throw new LogUnavailable({ reason: `append gave up after ${this.maxClaimRetries} claim collisions` })
  }

  /**
   * Claims positions for these appends, in this order, and sends them as one multi (all land or
   * none). Rejects with LogUnavailable when ZooKeeper cannot be reached or the outcome stays unknown.
   */
  private async attempt(appends: ReadonlyArray<PreparedAppend>): Promise<Attempt> {
    const chains = [...new Set([this.global, ...appends.flatMap((a) => [...a.byHost.keys()].map((host) => this.hostChain(host)))])]
    // Load every cursor first: from the first claim to sending the multi nothing may await, or a
    // later append could overtake this one and fail its "p-1 exists" check.
    while (chains.some((c) => !c.loaded)) await Promise.all(chains.map((c) => c.load()))
    const multi = new MultiOps()
    const results = appends.map((append) => this.claim(append, multi))
    let refused: MultiFailure | undefined
    try {
      refused = await this.zk.multi(multi.run)
    } catch (error) {
      if (!(error instanceof LogUnavailable)) throw error
      const landed = await this.landedDespite(error, appends[0]!.batchId, results[0]!.firstPosition, chains)
      return landed ? this.landed(multi, results) : { refused: undefined }
    }
    if (refused === undefined) return this.landed(multi, results)
    chains.forEach((c) => c.invalidate())
    return { refused, conflict: multi.conflictAt(refused.index) }
  }

  /** Adds the ops of one append to the multi: its stream versions, then its global and host-stream positions. */
  private claim(append: PreparedAppend, multi: MultiOps): AppendResult {
    for (const [stream, want] of append.expected) {
      const path = this.paths.stream(stream)
      multi.addStreamOp(stream, want, want === "none" ? (tx) => tx.create(path) : (tx) => tx.setData(path, null, want))
    }
    for (const [stream, want] of append.unchanged) {
      const path = this.paths.stream(stream)
      // A multi has no "does not exist" check: create and remove it again, which fails if it exists.
      if (want === "none") {
        multi.addStreamOp(stream, want, (tx) => tx.create(path))
        multi.addStreamOp(stream, want, (tx) => tx.remove(path, -1))
      } else multi.addStreamOp(stream, want, (tx) => tx.check(path, want))
    }
    const n = append.events.length
    const first = this.global.claim(n)
    this.global.claimOps(first, append.data, n, multi)
    multi.globalBatches.push({ start: first, data: append.data, count: n })
    for (const [host, indices] of append.byHost) {
      const chain = this.hostChain(host)
      const pointers: HostPointer[] = indices.map((i) => [first, i])
      chain.claimOps(chain.claim(indices.length), Buffer.from(pack(pointers)), indices.length, multi)
    }
    return { firstPosition: position(first), lastPosition: position(first + n - 1) }
  }

  /** The multi landed: its batches are remembered for this process's followers, which are woken. */
  private landed(multi: MultiOps, results: ReadonlyArray<AppendResult>): Attempt {
    for (const { start, data, count } of multi.globalBatches) this.global.remember(start, data, count)
    this.wakeFollowers()
    return { results }
  }

  /**
   * The reply to a multi was lost: did it land? Its positions were claimed by it alone, so the first
   * append's first position holding that append's batch id means it did, all of it (a multi is atomic).
   */
  private async landedDespite(error: LogUnavailable, batchId: string, first: number, chains: ReadonlyArray<ChainCursor>): Promise<boolean> {
    await this.zk.waitConnected(this.unknownOutcomeWaitMs).catch(() => {
      throw new LogUnavailable({ reason: `append outcome unknown: ${error.reason}` })
    })
    chains.forEach((c) => c.invalidate())
    // The session may have moved to a follower that has not applied our multi yet: reading there
    // would say "not landed" for a batch that did land, and the retry would write it twice.
    await this.zk.sync(this.paths.log.base)
    const entry = await this.global.entryCovering(first)
    return entry !== undefined && entry.start === first && decodeOrThrow(entry.data).batchId === batchId
  }

  private async batchesAt(starts: ReadonlyArray<number>): Promise<Map<number, Result.Result<EncodedBatch, MalformedEvent>>> {
    const unique = [...new Set(starts)]
    const datas = await mapLimit(unique, 256, async (p) => {
      const entry = await this.global.entryCovering(p)
      if (entry?.start !== p) throw new Error(`host stream points at position ${p}, where no batch starts`)
      return entry.data
    })
    return new Map(unique.map((p, i) => [p, decodeBatch(datas[i]!)]))
  }

  /**
   * Packs the sealed segments of the global log and of every host stream into chunks (see
   * zk-chain-format.ts): two znodes per segment instead of one per position. Safe beside appends,
   * readers and another packer; the leader calls it in the background.
   */
  async packSealed(): Promise<PackReport> {
    const report: PackReport = { segments: 0, entries: 0, znodesRemoved: 0 }
    await this.global.packSealed(this.keepSealedSegments, report)
    for (const host of await this.zk.getChildrenIfExists(this.paths.hosts)) {
      if ((await this.zk.exists(this.paths.hostStream(host).base)) === undefined) continue
      // A host stream's reader (its agent) follows at the head: no sealed segment needs keeping.
      await this.hostChain(host).packSealed(0, report)
    }
    return report
  }

  /**
   * The events after `after`, up to the first batch that cannot be decoded: the events before it
   * are returned, and a read that starts at it rejects with UndecodableEvent (its positions run to
   * the next batch: the empty markers after it are its own).
   */
  read(after: Position, limit = 10_000): Promise<ReadonlyArray<StoredEvent>> {
    return this.readGlobal(after, limit, false)
  }

  /**
   * `read`; with `ownFromMemory`, this writer's own recent batches come from memory (for followers:
   * a check of what the log holds, such as the projection's divergence probes, asks ZooKeeper).
   */
  /**
   * EventLog.readAt: the ranges around `positions` read as `read` reads them (a packed chunk or a
   * batch holds many positions), but only the batches holding one of them unpacked, and only
   * those events decoded.
   */
  async readAt(positions: ReadonlyArray<number>): Promise<ReadonlyArray<StoredEvent>> {
    const read = await mapLimit(positionRanges(positions), HISTORY_RANGES_IN_FLIGHT, async ([first, lastWanted]) => {
      const out: StoredEvent[] = []
      let k = first
      for (let at = positions[first]! - 1; k <= lastWanted; ) {
        const { entries, last } = await this.global.readEntries(at, Math.min(10_000, positions[lastWanted]! - at))
        for (let e = 0; e < entries.length && k <= lastWanted; e++) {
          const { start, data } = entries[e]!
          const end = (entries[e + 1]?.start ?? last + 1) - 1
          const here = new Set<number>()
          for (let q = k; q <= lastWanted && positions[q]! <= end; q++) if (positions[q]! >= start) here.add(positions[q]! - start)
          if (here.size === 0) continue
          const decoded = decodeBatchSome(data, (i) => here.has(i))
          if (Result.isFailure(decoded)) throw undecodable(start, end, decoded.failure)
          const { bumped, length, events } = decoded.success
          for (const [i, envelope] of events) {
            if (positions[k] !== start + i) throw missingPosition(positions[k]!)
            out.push({ position: position(start + i), envelope, bumped: i === length - 1 ? bumped : NO_STREAMS })
            k++
          }
          // A wanted position past the batch's events (an empty marker) is not an event.
          if (k <= lastWanted && positions[k]! <= end) throw missingPosition(positions[k]!)
        }
        if (last <= at) break
        at = last
      }
      if (k <= lastWanted) throw missingPosition(positions[k]!)
      return out
    })
    return read.flat()
  }

  private async readGlobal(after: Position, limit: number, ownFromMemory: boolean): Promise<ReadonlyArray<StoredEvent>> {
    const out: StoredEvent[] = []
    const { entries, last } = (ownFromMemory ? this.global.landedAfter(after, limit) : undefined) ?? (await this.global.readEntries(after, limit))
    for (let k = 0; k < entries.length; k++) {
      const { start, data } = entries[k]!
      const decoded = decodeBatch(data)
      if (Result.isFailure(decoded)) {
        if (out.length > 0) return out
        throw undecodable(start, (entries[k + 1]?.start ?? last + 1) - 1, decoded.failure)
      }
      const batch = decoded.success
      batch.events.forEach((envelope, i) => {
        if (start + i > after)
          out.push({ position: position(start + i), envelope, bumped: i === batch.events.length - 1 ? batch.bumped : NO_STREAMS })
      })
    }
    return out
  }

  /** The log's last position as the ensemble's leader knows it (sync first: a follower may lag). */
  async head(): Promise<Position> {
    await this.zk.sync(this.paths.log.base)
    return position(await this.global.head())
  }

  async readHostStream(host: HostName, after: number, limit = 10_000): Promise<ReadonlyArray<HostStreamEvent>> {
    const { entries } = await this.hostChain(host).readEntries(after, limit)
    const pointers = pointersOf(entries)
    const batches = await this.batchesAt(pointers.map((p) => p.batchStart))
    // As read(): the events before one that cannot be decoded, then a rejection naming it.
    const out: HostStreamEvent[] = []
    for (const { hostPosition, batchStart, index, last } of pointers) {
      if (hostPosition <= after) continue
      const decoded = batches.get(batchStart)!
      if (Result.isFailure(decoded)) {
        if (out.length > 0) return out
        throw undecodable(batchStart + index, batchStart + index, decoded.failure)
      }
      const batch = decoded.success
      out.push({ hostPosition, position: position(batchStart + index), envelope: batch.events[index]!, bumped: last ? batch.bumped : NO_STREAMS })
    }
    return out
  }

  private wakeFollowers(): void {
    for (const f of this.followers) f.wake()
  }

  /** Follows a chain: reads, and when caught up, watches for the next position's znode. */
  private followChain<E>(
    chain: ChainCursor,
    after: number,
    read: (after: number) => Promise<ReadonlyArray<E>>,
    positionOf: (e: E) => number,
    deliver: (events: ReadonlyArray<E>) => void | Promise<void>,
    onUndecodable: ((error: UndecodableEvent) => void) | undefined,
  ): Unsubscribe {
    let armed: string | undefined
    let armedAt = 0
    let lastError: string | undefined
    /**
     * Sets the exists-watch on `next` (the node a caught-up follower waits for); whether it exists
     * already. `armed` names it only while it is known not to exist: a read of it would miss.
     */
    const arm = async (next: string): Promise<boolean> => {
      armed = next
      armedAt = Date.now()
      let exists: boolean
      try {
        exists =
          (await this.zk.exists(next, () => {
            armed = undefined
            follower.wake()
          })) !== undefined
      } catch (error) {
        armed = undefined // no watch was set: the next read must read
        throw error
      }
      if (exists && armed === next) armed = undefined // there already: the next read must read
      return exists
    }
    let lastDelivered = after
    const follower: Follower = follow({
      after,
      // The exists-watch on the next position wakes us; the poll only covers a watch lost with a session.
      pollMs: POLL_MS,
      positionOf,
      deliver: (events) => {
        lastDelivered = positionOf(events[events.length - 1]!)
        return deliver(events)
      },
      // ZooKeeper away: the poll retries and the client reconnects by itself. Anything else (a batch
      // that cannot be decoded) stops this follower at that position until it is dealt with: say so.
      onError: (error) => {
        if (error instanceof LogUnavailable) return
        if (error instanceof UndecodableEvent && onUndecodable) return onUndecodable(error)
        const text = String(error)
        if (text !== lastError) console.error(`helios: event log follower stuck after position ${lastDelivered}: ${text}`)
        lastError = text
      },
      read: async (a) => {
        const next = chain.nextNode(a)
        // The watch on the next node is set and has not fired: it does not exist (ZooKeeper sends a
        // watch's event before any reply that shows the change), so a read would miss, unless this
        // writer created it (its reply came after the watch's event). The poll still reads.
        if (armed === next && Date.now() - armedAt < POLL_MS && !chain.landedAt(a + 1)) return []
        // Caught up with this writer's own newest append: the next position is most likely not
        // there yet, and one exists-watch both checks that and asks to hear of it (instead of a
        // read that misses, then the watch). Not there and not packed meanwhile: nothing to read.
        if (a > 0 && a === chain.newestLandedEnd && armed !== next && !(await arm(next)) && !(await chain.isPacked(chain.segmentOf(a + 1)))) return []
        const events = await read(a)
        if (events.length > 0) return events
        // The read may have sized the chain (a host stream created meanwhile): its next node moved.
        const nextNow = chain.nextNode(a)
        if (armed !== nextNow && (await arm(nextNow))) follower.wake()
        return events
      },
    })
    const chainFollower: ChainFollower = {
      wake: () => follower.wake(),
      rearm: () => {
        armed = undefined
        follower.wake()
      },
      stop: () => follower.stop(),
    }
    this.followers.add(chainFollower)
    return () => {
      follower.stop()
      this.followers.delete(chainFollower)
    }
  }

  subscribe(
    after: Position,
    onEvents: (events: ReadonlyArray<StoredEvent>) => void | Promise<void>,
    onUndecodable?: (error: UndecodableEvent) => void,
  ): Unsubscribe {
    return this.followChain(this.global, after, (a) => this.readGlobal(position(a), 10_000, true), (e) => e.position, onEvents, onUndecodable)
  }

  subscribeHostStream(
    host: HostName,
    after: number,
    onEvents: (events: ReadonlyArray<HostStreamEvent>) => void | Promise<void>,
    onUndecodable?: (error: UndecodableEvent) => void,
  ): Unsubscribe {
    return this.followChain(this.hostChain(host), after, (a) => this.readHostStream(host, a), (e) => e.hostPosition, onEvents, onUndecodable)
  }

  async hostStreamBase(host: HostName): Promise<HostStreamBase | undefined> {
    return (await readHostStreamBase(this.zk, this.paths, host))?.base
  }

  /**
   * Moves the global log's oldest packed segments, through `throughPosition` at most, to a new
   * archive file in `dir` (log/zk-archive.ts says what is checked and in which order).
   */
  archive(options: { readonly throughPosition: number; readonly dir: string; readonly now: Date }): Promise<ArchiveReport> {
    const log: ArchivableLog = {
      zk: this.zk,
      paths: this.paths,
      root: this.root,
      segmentSize: this.segmentSize,
      packedThrough: () => this.global.packedMark(),
      batchStartOf: async (p) => (await this.global.entryCovering(p))?.start ?? p,
      sharedSnapshotPosition: async () => (await this.sharedSnapshots.load())?.position,
      hostsWithStreams: async () => {
        const hosts: string[] = []
        for (const host of await this.zk.getChildrenIfExists(this.paths.hosts))
          if ((await this.zk.exists(this.paths.hostStream(host).base)) !== undefined) hosts.push(host)
        return hosts
      },
      hostPointers: async (host, after, through) => {
        const out: HostPointerAt[] = []
        for (let at = after; ; ) {
          const { entries, last } = await this.hostChain(host).readEntries(at, 10_000)
          for (const { hostPosition, batchStart, index, last: lastOfSlice } of pointersOf(entries)) {
            if (hostPosition <= at) continue // read already (a page may begin inside the previous one's entry)
            if (batchStart + index > through) return out
            out.push({ hostPosition, position: batchStart + index, last: lastOfSlice })
          }
          if (last === at) return out
          at = last
        }
      },
      batches: (after, through) => this.batchesBetween(after, through),
    }
    return archiveLog(log, options)
  }

  /** The global log's entries holding positions after..through, oldest first (the first may start before). */
  private async *batchesBetween(after: number, through: number): AsyncIterable<ChainEntry> {
    let lastStart = -1
    for (let at = after; at < through; ) {
      const { entries, last } = await this.global.readEntries(at, Math.min(10_000, through - at))
      // A page that begins inside a batch starts with that batch, which the previous page ended with.
      for (const entry of entries) if (entry.start > lastStart) yield entry
      lastStart = entries.at(-1)?.start ?? lastStart
      if (last === at) return
      at = last
    }
  }

  async close(): Promise<void> {
    await this.archived.close()
    this.zk.off("connected", this.reconnected)
    for (const f of this.followers) f.stop()
    this.followers.clear()
  }
}
