import { basename, join } from "node:path"
import { Result, Schema } from "effect"
import { decodeBatch } from "../core/codec.ts"
import { applyHostEvent, emptyDesiredState, HOST_STREAM_BASE_FORMAT, HostStreamBase, type DesiredState } from "../core/desired-state.ts"
import { EventsArchived, type HostStreamEvent } from "../core/event-log.ts"
import { NO_STREAMS } from "../core/events.ts"
import { NonNegativeInt, position, type HostName } from "../core/ids.ts"
import { ArchiveFile, writeArchiveFile, type SegmentToArchive } from "./archive-file.ts"
import { ZK, zkCode, type ZkClient } from "./zk-client.ts"
import type { ZkPaths } from "./zk-paths.ts"
import { decodeJson, decodeSegment, type ChainEntry } from "./zk-chain-format.ts"

/*
 * Archiving the global log's oldest packed segments to a file (README "Retention and archiving").
 * The log keeps everything by default; an operator may move packed segments out of ZooKeeper:
 *
 *   <root>/log-archived    {"through": S, "archives": [{file, segments, positions, footerSha256, ...}]}
 *                          segments 0..S are archived (a prefix), each in the file named
 *
 * `archiveLog` writes the segments to a new file durably and reads it back, gives every host
 * stream a base (its agent's desired state as of the last archived event: an agent with no state
 * of its own starts there instead of reading events that are gone), moves the mark, and only then
 * removes the segments' chunks — all but the newest archived segment's last chunk (and its chunk
 * list): a batch may begin there and run on into the next segment, whose readers need its bytes. A run killed at any step leaves the log readable: before the mark
 * moves nothing is gone; after it, the next run removes the chunks left behind.
 *
 * Readers find an archived segment through the mark: from an archive file in the directory given
 * (`--archive-dir`), checked against the digest the mark names, or not at all (EventsArchived:
 * the master answers 410 Gone).
 */

const ArchiveEntry = Schema.Struct({
  file: Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9._-]+$/))),
  firstSegment: NonNegativeInt,
  lastSegment: NonNegativeInt,
  firstPosition: NonNegativeInt,
  lastPosition: NonNegativeInt,
  footerSha256: Schema.String.pipe(Schema.check(Schema.isPattern(/^[0-9a-f]{64}$/))),
  bytes: NonNegativeInt,
  at: Schema.String,
})
type ArchiveEntry = typeof ArchiveEntry.Type
const ArchiveMark = Schema.Struct({
  through: Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(-1))),
  archives: Schema.Array(ArchiveEntry),
})
type ArchiveMark = typeof ArchiveMark.Type
const NO_MARK: ArchiveMark = { through: -1, archives: [] }

const readMark = async (zk: ZkClient, path: string): Promise<{ mark: ArchiveMark; version: number | undefined }> => {
  try {
    const { data, stat } = await zk.getData(path)
    return { mark: decodeJson(ArchiveMark, path, data), version: stat.version }
  } catch (e) {
    if (zkCode(e) === ZK.Exception.NO_NODE) return { mark: NO_MARK, version: undefined }
    throw e
  }
}

/** The archived segments of the global log as one reader sees them: the mark, and the files in its directory. */
export class ArchivedSegments {
  private mark: ArchiveMark = NO_MARK
  private readonly files = new Map<string, Promise<ArchiveFile>>()

  constructor(
    private readonly zk: ZkClient,
    private readonly paths: ZkPaths,
    /** Where archive files are (`--archive-dir`); none: archived events cannot be read. */
    private readonly dir: string | undefined,
  ) {}

  /** Whether segment s is archived: as the mark last read says, or read again if that says not yet. */
  async holds(s: number): Promise<boolean> {
    if (s > this.mark.through) this.mark = (await readMark(this.zk, this.paths.log.archived)).mark
    return s <= this.mark.through
  }

  async chunkStarts(s: number): Promise<ReadonlyArray<number>> {
    return (await this.fileFor(s)).chunkStarts(s)
  }

  async chunk(s: number, k: number): Promise<Buffer> {
    const file = await this.fileFor(s)
    try {
      return await file.chunk(s, k)
    } catch (e) {
      throw this.unreadable(this.entryFor(s), (e as Error).message)
    }
  }

  private entryFor(s: number): ArchiveEntry {
    const entry = this.mark.archives.find((a) => a.firstSegment <= s && s <= a.lastSegment)
    if (entry === undefined) throw new Error(`${this.paths.log.archived}: says segment ${s} is archived but names no file holding it`)
    return entry
  }

  private unreadable(entry: ArchiveEntry, why: string): EventsArchived {
    const through = this.mark.archives.at(-1)?.lastPosition ?? entry.lastPosition
    return new EventsArchived({
      through,
      message: `positions ${entry.firstPosition}..${entry.lastPosition} were archived to ${entry.file} at ${entry.at} and ${why}`,
    })
  }

  private async fileFor(s: number): Promise<ArchiveFile> {
    const entry = this.entryFor(s)
    if (this.dir === undefined) throw this.unreadable(entry, "this master has no --archive-dir to read them from")
    const path = join(this.dir, entry.file)
    let opening = this.files.get(path)
    if (opening === undefined) {
      opening = ArchiveFile.open(path).then(async (file) => {
        if (file.footerSha256 === entry.footerSha256 && file.holds(s)) return file
        await file.close()
        throw new Error(`is not the archive ZooKeeper names (footer digest ${file.footerSha256}, expected ${entry.footerSha256})`)
      })
      // A file that cannot be opened now (not copied there yet) is tried again by the next read.
      opening.catch(() => this.files.get(path) === opening && this.files.delete(path))
      this.files.set(path, opening)
    }
    try {
      return await opening
    } catch (e) {
      const text = (e as NodeJS.ErrnoException).code === "ENOENT" ? `${path} does not exist` : `${path} ${(e as Error).message.replace(`${path}: `, "")}`
      throw this.unreadable(entry, text)
    }
  }

  async close(): Promise<void> {
    for (const opening of this.files.values()) await opening.then((f) => f.close()).catch(() => undefined)
    this.files.clear()
  }
}

/** One pointer of a host stream: the host position and the global position it points at. */
export interface HostPointerAt {
  readonly hostPosition: number
  readonly position: number
  /** The last of the host's slice of its batch (it carries the batch's bumps). */
  readonly last: boolean
}

/** What archiving needs of the log on ZooKeeper (zookeeper-log.ts provides it). */
export interface ArchivableLog {
  readonly zk: ZkClient
  readonly paths: ZkPaths
  readonly root: string
  readonly segmentSize: number
  /** The last packed segment of the global log (-1: none), read now. */
  packedThrough(): Promise<number>
  /** The first position of the batch that holds position p. */
  batchStartOf(p: number): Promise<number>
  /** The shared snapshot's position once it has been read back whole and checked; undefined: none; rejects when it cannot be read. */
  sharedSnapshotPosition(): Promise<number | undefined>
  /** The hosts that have a stream. */
  hostsWithStreams(): Promise<ReadonlyArray<string>>
  /** Host H's pointers after host position `after`, up to the first pointing past global position `through`. */
  hostPointers(host: string, after: number, through: number): Promise<ReadonlyArray<HostPointerAt>>
  /** The global log's batches holding positions after..through, oldest first. */
  batches(after: number, through: number): AsyncIterable<ChainEntry>
}

export interface ArchiveReport {
  /** The file written (undefined: nothing to archive; `reason` says why). */
  readonly file?: string
  readonly firstPosition?: number
  readonly lastPosition?: number
  readonly segments: number
  readonly bytes: number
  /** Host streams given a (newer) base. */
  readonly hostsRebased: number
  readonly znodesRemoved: number
  readonly reason: string
  /** Archived (the mark names the file), but removing the archived znodes failed: why; the next run removes them. */
  readonly removalLeft?: string
}

/** The host stream's base on ZooKeeper, decoded, and its node's version (undefined: none). */
export const readHostStreamBase = async (zk: ZkClient, paths: ZkPaths, host: string): Promise<{ base: HostStreamBase; version: number } | undefined> => {
  const path = paths.hostStreamBase(host)
  try {
    const { data, stat } = await zk.getData(path)
    return { base: decodeJson(HostStreamBase, path, data), version: stat.version }
  } catch (e) {
    if (zkCode(e) === ZK.Exception.NO_NODE) return undefined
    throw e
  }
}

/**
 * Folds every host stream up to global position `through` from its current base, in one pass over
 * the global log: each host's pointers say which of the log's events are its own, at which host
 * position. Rejects (nothing written) if a stream's pointers are not in the log's order or an event
 * cannot be decoded.
 */
const foldHostBases = async (log: ArchivableLog, through: number) => {
  const hosts = await log.hostsWithStreams()
  const states = new Map<string, { state: DesiredState; version: number | undefined; moved: boolean }>()
  const byPosition = new Map<number, Array<{ host: string; pointer: HostPointerAt }>>()
  let from = Infinity
  for (const host of hosts) {
    const current = await readHostStreamBase(log.zk, log.paths, host)
    const state = current?.base.state ?? emptyDesiredState(host as HostName)
    states.set(host, { state, version: current?.version, moved: false })
    for (const pointer of await log.hostPointers(host, state.hostPosition, through)) {
      from = Math.min(from, pointer.position)
      const at = byPosition.get(pointer.position)
      if (at) at.push({ host, pointer })
      else byPosition.set(pointer.position, [{ host, pointer }])
    }
  }
  if (from === Infinity) return states
  for await (const { start, data } of log.batches(from - 1, through)) {
    const decoded = decodeBatch(data)
    if (Result.isFailure(decoded)) throw new Error(`position ${start} cannot be decoded (${decoded.failure.reason}): nothing archived`)
    const batch = decoded.success
    batch.events.forEach((envelope, i) => {
      for (const { host, pointer } of byPosition.get(start + i) ?? []) {
        const s = states.get(host)!
        if (pointer.hostPosition !== s.state.hostPosition + 1)
          throw new Error(`host ${host}'s stream jumps from ${s.state.hostPosition} to ${pointer.hostPosition} at position ${start + i}: nothing archived`)
        const event: HostStreamEvent = { hostPosition: pointer.hostPosition, position: position(start + i), envelope, bumped: pointer.last ? batch.bumped : NO_STREAMS }
        s.state = applyHostEvent(s.state, event)
        s.moved = true
      }
    })
  }
  return states
}

async function* segmentsToArchive(log: ArchivableLog, first: number, last: number): AsyncIterable<SegmentToArchive> {
  for (let s = first; s <= last; s++) {
    const path = log.paths.log.packedSegment(s)
    const starts = decodeSegment((await log.zk.getData(path)).data, path)
    const chunks: Buffer[] = []
    for (let k = 0; k < starts.length; k++) chunks.push((await log.zk.getData(log.paths.log.packedChunk(s, k))).data)
    yield { segment: s, starts, chunks }
  }
}

/**
 * Removes the znodes of packed segments 0..through still on ZooKeeper, except the chunk list and
 * the last chunk of segment `through`: the newest archived segment's last batch may run on into the
 * next segment, whose readers read that batch there (without an archive).
 */
const removeArchivedSegments = async (log: ArchivableLog, through: number): Promise<number> => {
  let removed = 0
  for (const name of await log.zk.getChildrenIfExists(log.paths.log.packed)) {
    const s = Number(name)
    if (!(s <= through)) continue
    const chunks = (await log.zk.getChildrenIfExists(log.paths.log.packedSegment(s))).sort()
    const paths = s === through ? chunks.slice(0, -1).map((k) => `${log.paths.log.packedSegment(s)}/${k}`) : [...chunks.map((k) => `${log.paths.log.packedSegment(s)}/${k}`), log.paths.log.packedSegment(s)]
    if (paths.length === 0) continue
    const refused = await log.zk.multi((tx) => paths.forEach((p) => tx.remove(p, -1)))
    if (refused !== undefined) continue // another archiver removed them meanwhile
    removed += paths.length
  }
  return removed
}

/**
 * Archives the global log's packed segments whose positions are all at or before `throughPosition`
 * into a new file in `dir`. Only segments a shared snapshot has passed are archived (a master
 * without a snapshot of its own starts from it, not from position 0), and only packed ones.
 */
export const archiveLog = async (
  log: ArchivableLog,
  options: { readonly throughPosition: number; readonly dir: string; readonly now: Date },
): Promise<ArchiveReport> => {
  const size = log.segmentSize
  const segmentFirst = (s: number) => (s === 0 ? 1 : s * size)
  const segmentLast = (s: number) => (s + 1) * size - 1
  const { mark, version } = await readMark(log.zk, log.paths.log.archived)
  const leftovers = await removeArchivedSegments(log, mark.through)
  const nothing = (reason: string): ArchiveReport => ({ segments: 0, bytes: 0, hostsRebased: 0, znodesRemoved: leftovers, reason })

  const packed = await log.packedThrough()
  // What archiving counts on is a master without a snapshot of its own starting from the shared one:
  // it must read back whole, not only name a position (its chunks can be gone: two masters sharing
  // at once), or that master could start from neither the snapshot nor the archived events.
  let shared: number | undefined
  try {
    shared = await log.sharedSnapshotPosition()
  } catch (error) {
    return nothing(`the shared snapshot cannot be read back whole (${String(error)}): a master starting from it would fail; the leader shares a new one every tenth of the log`)
  }
  if (shared === undefined) return nothing("no shared snapshot yet: a master without a snapshot of its own would have to read the archived events (the leader shares one every tenth of the log)")
  // A master starting from the shared snapshot reads the batch holding its position: keep that batch.
  const keepFrom = await log.batchStartOf(shared)
  const limit = Math.min(options.throughPosition, keepFrom - 1)
  const last = Math.min(packed, Math.floor((limit + 1) / size) - 1)
  if (last <= mark.through) {
    const next = mark.through + 1
    const why =
      segmentLast(next) > options.throughPosition
        ? `it ends after position ${options.throughPosition}, the one asked for`
        : next > packed
          ? "it is not packed yet (the leader packs sealed segments every --pack-interval)"
          : `the shared snapshot is at position ${shared} (batch from ${keepFrom}): a master starting from it must not need archived events`
    return nothing(`nothing to archive: the next segment (positions ${segmentFirst(next)}..${segmentLast(next)}) stays, as ${why}`)
  }
  const first = mark.through + 1
  const [firstPosition, lastPosition] = [segmentFirst(first), segmentLast(last)]
  const file = `log-${firstPosition}-${lastPosition}.helios-archive`
  const path = join(options.dir, file)

  const written = await writeArchiveFile(path, { root: log.root, segmentSize: size }, segmentsToArchive(log, first, last))
  // Read back what was written before anything is removed.
  const check = await ArchiveFile.open(path)
  try {
    if (check.footerSha256 !== written.footerSha256) throw new Error(`${path}: footer differs from what was written`)
    for (const s of written.footer.segments) for (let k = 0; k < s.chunks.length; k++) await check.chunk(s.segment, k)
  } finally {
    await check.close()
  }

  const states = await foldHostBases(log, lastPosition)
  let hostsRebased = 0
  for (const [host, { state, version: baseVersion, moved }] of states) {
    if (!moved) continue
    const data = Buffer.from(JSON.stringify({ format: HOST_STREAM_BASE_FORMAT, archivedThrough: lastPosition, state } satisfies HostStreamBase))
    if (baseVersion === undefined) await log.zk.create(log.paths.hostStreamBase(host), data)
    else await log.zk.setData(log.paths.hostStreamBase(host), data, baseVersion)
    hostsRebased++
  }

  const entry: ArchiveEntry = { file: basename(path), firstSegment: first, lastSegment: last, firstPosition, lastPosition, footerSha256: written.footerSha256, bytes: written.bytes, at: options.now.toISOString() }
  const next = Buffer.from(JSON.stringify({ through: last, archives: [...mark.archives, entry] } satisfies ArchiveMark))
  // Checked against the version read: two archivers at once cannot both move the mark.
  try {
    if (version === undefined) await log.zk.create(log.paths.log.archived, next)
    else await log.zk.setData(log.paths.log.archived, next, version)
  } catch (error) {
    // A write whose answer was lost may have landed: from then on the file is where those events
    // are, and the operator must be told so, not to clean up a failed run.
    const now = await readMark(log.zk, log.paths.log.archived).catch(() => undefined)
    if (now?.mark.archives.some((a) => a.file === entry.file && a.footerSha256 === entry.footerSha256) !== true)
      throw Object.assign(new Error(`the archive mark was not moved (${String(error)}): nothing was removed from ZooKeeper; ${path} is not used and may be deleted`), { cause: error })
  }

  // The mark names the file now: whatever fails after this, the file is the archive.
  const done = { file: path, firstPosition, lastPosition, segments: last - first + 1, bytes: written.bytes, hostsRebased }
  try {
    return { ...done, znodesRemoved: leftovers + (await removeArchivedSegments(log, last)), reason: "archived" }
  } catch (error) {
    return { ...done, znodesRemoved: leftovers, reason: "archived", removalLeft: `removing the archived znodes failed (${String(error)}); the next run removes them` }
  }
}
