/*
 * PROTOTYPE (not used by Helios): log/zookeeper-log.ts (as of f1b4ce5) plus client-side group
 * commit, to measure its gain in bench/group-commit.ts. Appends without expected versions (agents'
 * facts, MarkHostUp/Down) go out at once while fewer than GROUP_WINDOW shared multis are in flight;
 * beyond that they wait, and all that waited go out as ONE multi when one returns (no added latency
 * when idle, fewer ZooKeeper transactions under load). Each
 * keeps its own positions, batch znode and host-stream entries, so the znodes and bytes are exactly
 * those of separate appends; only the number of ZooKeeper transactions drops. If the shared multi
 * fails (another writer took the positions), each append retries alone on the unchanged path; if
 * its outcome is unknown, the first append's batch id tells whether the whole (atomic) group landed.
 * Appends with expected versions never join a group (a conflict must fail that command alone).
 * Changes are marked "GROUP COMMIT".
 */
import { randomUUID } from "node:crypto"
import { Result } from "effect"
import { pack, unpack } from "msgpackr"
import { decodeBatch, encodeBatch, type EncodedBatch } from "../../core/codec.ts"
import {
  AppendConflict,
  BatchTooLarge,
  LogUnavailable,
  type AppendOptions,
  type AppendResult,
  type EventLog,
  type ExpectedVersion,
  type HostStreamEvent,
  type Unsubscribe,
} from "../../core/event-log.ts"
import { hostsOf, type EventEnvelope, type StoredEvent, type StreamId } from "../../core/events.ts"
import { position, type HostName, type Position } from "../../core/ids.ts"
import { follow, type Follower } from "../../log/follow.ts"
import { ZK, zkCode, type ZkClient } from "../../log/zk-client.ts"
import { zkPaths, type ChainPaths, type ZkPaths } from "../../log/zk-paths.ts"

/*
 * The log on ZooKeeper (design.md §3).
 *
 * Positions are claimed, not assigned: an append that takes positions p..p+n-1 creates the znodes
 * named p..p+n-1 (the batch's bytes in p, empty markers after) in one `multi` that also checks
 * that p-1 exists. So the positions that exist are always a prefix 1..head with no holes
 * (prefix reads), every reader sees one order (total order), a batch lands whole or not at all,
 * and a position is taken by exactly one batch, which makes a retry after a lost connection
 * checkable: read p back and look for our batch id. Positions are known before the write, so the
 * host streams (the same kind of chain under /hosts/H/stream) point straight at them.
 * Segments hold a fixed number of positions (bounded children); a full segment takes no appends.
 * Stream versions are znodes whose data version is checked and bumped in the same `multi`.
 */

/** Stays under jute.maxbuffer (1,048,575 bytes) with room for the request's paths and headers. */
export const MAX_REQUEST_BYTES = 1_000_000
const OP_OVERHEAD_BYTES = 120

export interface ZooKeeperLogOptions {
  /** Chroot of this Helios cluster in ZooKeeper. */
  readonly root?: string
  /** Positions per segment (children per znode). Tests use tiny ones to exercise roll-over. */
  readonly segmentSize?: number
  /** How often an append retries when other writers took the positions it claimed. */
  readonly maxClaimRetries?: number
  /**
   * How long an append whose reply was lost waits for the session to come back to learn whether
   * it landed, before it gives up with LogUnavailable (the caller answers 503, not a hang).
   */
  readonly unknownOutcomeWaitMs?: number
}

type OpKind = { readonly kind: "stream"; readonly stream: StreamId; readonly expected: ExpectedVersion } | { readonly kind: "chain" }

/** Where one chain (the global log or a host stream) ends, as far as this writer knows. */
class ChainCursor {
  private next: number | undefined
  private loading: Promise<number> | undefined

  constructor(
    private readonly zk: ZkClient,
    readonly paths: ChainPaths,
    readonly segmentSize: number,
  ) {}

  segmentOf = (p: number) => Math.floor(p / this.segmentSize)
  entry = (p: number) => this.paths.entry(this.segmentOf(p), p)

  /** The last position of the chain, read from ZooKeeper. */
  async head(): Promise<number> {
    const segments = (await this.zk.getChildrenIfExists(this.paths.base)).map(Number).sort((a, b) => b - a)
    for (const segment of segments) {
      const entries = await this.zk.getChildrenIfExists(this.paths.segment(segment))
      if (entries.length > 0) return Math.max(...entries.map(Number))
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

  /** The ops that take positions p..p+payloads.length-1, guarded by p-1 existing. */
  claimOps(p: number, first: Buffer, count: number, ops: Array<(tx: import("node-zookeeper-client").Transaction) => void>): void {
    if (p > 1) ops.push((tx) => tx.check(this.entry(p - 1), -1))
    for (let i = 0; i < count; i++) {
      const q = p + i
      if (q === 1 || q % this.segmentSize === 0) ops.push((tx) => tx.create(this.paths.segment(this.segmentOf(q))))
      ops.push((tx) => tx.create(this.entry(q), i === 0 ? first : Buffer.alloc(0)))
    }
  }

  /**
   * The entries holding data for every position > after (at most about `limit`), oldest first.
   * When `after` falls inside a batch, the batch's first entry is included too.
   */
  async readEntries(after: number, limit: number): Promise<Array<{ start: number; data: Buffer }>> {
    // Positions are dense (no holes), so read after+1, after+2, ... until the first missing one:
    // no segment listing (up to 10,000 names) per read. Reads ramp up from 2 in flight to 256, so a
    // follower's read of one new event costs one round trip and a catch-up is pipelined.
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
    running.push(worker(), worker())
    while (running.length > 0) await running.shift()
    const found = datas.slice(0, stop - after - 1)
    const out: Array<{ start: number; data: Buffer }> = []
    if (found.length > 0 && found[0]!.length === 0) {
      // Started inside a batch: walk back to its first entry.
      for (let p = after; p >= 1; p--) {
        const { data } = await this.zk.getData(this.entry(p))
        if (data.length > 0) {
          out.push({ start: p, data })
          break
        }
      }
    }
    found.forEach((data, i) => {
      if (data.length > 0) out.push({ start: after + 1 + i, data })
    })
    return out
  }
}

const mapLimit = async <A, B>(items: ReadonlyArray<A>, limit: number, f: (a: A) => Promise<B>): Promise<B[]> => {
  const out = new Array<B>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await f(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

const decodeOrThrow = (data: Buffer): EncodedBatch => {
  const r = decodeBatch(data)
  if (Result.isFailure(r)) throw r.failure
  return r.success
}

/** GROUP COMMIT: at most this many appends share one multi. */
const GROUP_MAX = 64
/** GROUP COMMIT: shared multis in flight at once; later appends wait and go out together. */
const GROUP_WINDOW = 4

interface Pending {
  readonly events: ReadonlyArray<EventEnvelope>
  readonly batchId: string
  readonly data: Buffer
  readonly byHost: Map<string, number[]>
  readonly requestBytes: number
  readonly resolve: (r: AppendResult) => void
  readonly reject: (e: unknown) => void
}

/** Host stream entries point into the global log: [[batch start position, index in batch], ...]. */
type HostPointer = [number, number]

export class GroupCommitZooKeeperEventLog implements EventLog {
  private readonly paths: ZkPaths
  private readonly global: ChainCursor
  private readonly hostChains = new Map<string, ChainCursor>()
  private readonly readyHosts = new Set<string>()
  private readonly followers = new Set<Follower>()
  private readonly segmentSize: number
  private readonly maxClaimRetries: number
  private readonly unknownOutcomeWaitMs: number

  private constructor(
    private readonly zk: ZkClient,
    options: ZooKeeperLogOptions,
  ) {
    this.paths = zkPaths(options.root ?? "/helios")
    this.segmentSize = options.segmentSize ?? 10_000
    this.maxClaimRetries = options.maxClaimRetries ?? 200
    this.unknownOutcomeWaitMs = options.unknownOutcomeWaitMs ?? 3000
    this.global = new ChainCursor(zk, this.paths.log, this.segmentSize)
  }

  static async open(zk: ZkClient, options: ZooKeeperLogOptions = {}): Promise<GroupCommitZooKeeperEventLog> {
    const log = new GroupCommitZooKeeperEventLog(zk, options)
    for (const path of [log.paths.log.base, log.paths.streams, log.paths.hosts]) await zk.ensurePath(path)
    return log
  }

  private hostChain(host: string): ChainCursor {
    let chain = this.hostChains.get(host)
    if (!chain) {
      chain = new ChainCursor(this.zk, this.paths.hostStream(host), this.segmentSize)
      this.hostChains.set(host, chain)
    }
    return chain
  }

  // GROUP COMMIT: appends waiting for the next shared multi, and the multis of this path in flight.
  private readonly pending: Pending[] = []
  private groupsInFlight = 0

  async append(events: ReadonlyArray<EventEnvelope>, options?: AppendOptions): Promise<AppendResult> {
    if (events.length === 0) throw new Error("append: a batch needs at least one event")
    const expected = Object.entries(options?.expected ?? {}) as Array<[StreamId, ExpectedVersion]>
    const batchId = randomUUID()
    const data = Buffer.from(encodeBatch({ batchId, bumped: expected.map(([s]) => s), events }))
    const byHost = new Map<string, number[]>()
    events.forEach((e, i) => {
      for (const host of hostsOf(e.event)) byHost.set(host, [...(byHost.get(host) ?? []), i])
    })
    // The ops the multi has: a create per event and per host entry, a check per chain, the stream ops.
    const hostEntries = [...byHost.values()].reduce((n, indices) => n + indices.length, 0)
    const requestBytes = data.length + OP_OVERHEAD_BYTES * (events.length + hostEntries + byHost.size + 1 + expected.length + 2)
    if (requestBytes > MAX_REQUEST_BYTES) throw new BatchTooLarge({ bytes: requestBytes, limit: MAX_REQUEST_BYTES })
    for (const host of byHost.keys()) {
      if (!this.readyHosts.has(host)) {
        await this.zk.ensurePath(this.paths.hostStream(host).base)
        this.readyHosts.add(host)
      }
    }
    // GROUP COMMIT: only appends without expected versions are grouped.
    if (expected.length > 0) return this.appendAlone(events, expected, batchId, data, byHost)
    return new Promise<AppendResult>((resolve, reject) => {
      this.pending.push({ events, batchId, data, byHost, requestBytes, resolve, reject })
      if (this.groupsInFlight < GROUP_WINDOW) void this.flush()
    })
  }

  /** GROUP COMMIT: sends the pending appends (up to one request's worth) as one multi. */
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return
    this.groupsInFlight++
    try {
      await this.flushGroup()
    } finally {
      this.groupsInFlight--
      if (this.pending.length > 0 && this.groupsInFlight < GROUP_WINDOW) void this.flush()
    }
  }

  private async flushGroup(): Promise<void> {
    const group: Pending[] = []
    let bytes = 0
    while (this.pending.length > 0 && group.length < GROUP_MAX && bytes + this.pending[0]!.requestBytes <= MAX_REQUEST_BYTES) {
      const p = this.pending.shift()!
      bytes += p.requestBytes
      group.push(p)
    }
    const alone = (p: Pending) => this.appendAlone(p.events, [], p.batchId, p.data, p.byHost).then(p.resolve, p.reject)
    if (group.length === 1) return alone(group[0]!)
    const chains = [...new Set([this.global, ...group.flatMap((p) => [...p.byHost.keys()].map((h) => this.hostChain(h)))])]
    try {
      while (chains.some((c) => !c.loaded)) await Promise.all(chains.map((c) => c.load()))
    } catch (error) {
      for (const p of group) p.reject(error)
      return
    }
    // From the first claim to sending the multi nothing awaits (claim order = arrival order).
    const ops: Array<(tx: import("node-zookeeper-client").Transaction) => void> = []
    const firsts: number[] = []
    for (const p of group) {
      const first = this.global.claim(p.events.length)
      firsts.push(first)
      this.global.claimOps(first, p.data, p.events.length, ops)
      for (const [host, indices] of p.byHost) {
        const chain = this.hostChain(host)
        const pointers: HostPointer[] = indices.map((i) => [first, i])
        chain.claimOps(chain.claim(indices.length), Buffer.from(pack(pointers)), indices.length, ops)
      }
    }
    const done = () => {
      this.wakeFollowers()
      group.forEach((p, i) => p.resolve({ firstPosition: position(firsts[i]!), lastPosition: position(firsts[i]! + p.events.length - 1) }))
    }
    let failure: Awaited<ReturnType<ZkClient["multi"]>>
    try {
      failure = await this.zk.multi((tx) => ops.forEach((op) => op(tx)))
    } catch (error) {
      if (!(error instanceof LogUnavailable)) {
        for (const p of group) p.reject(error)
        return
      }
      try {
        await this.zk.waitConnected(this.unknownOutcomeWaitMs)
        chains.forEach((c) => c.invalidate())
        // The group is atomic: its first append's batch at its first position means all landed.
        const landed = await this.zk.getDataIfExists(this.global.entry(firsts[0]!))
        if (landed !== undefined && landed.length > 0 && decodeOrThrow(landed).batchId === group[0]!.batchId) return done()
      } catch {
        for (const p of group) p.reject(new LogUnavailable({ reason: `append outcome unknown: ${error.reason}` }))
        return
      }
      for (const p of group) void alone(p)
      return
    }
    if (failure === undefined) return done()
    // Another writer took our positions: each append retries alone, in order.
    chains.forEach((c) => c.invalidate())
    for (const p of group) void alone(p)
  }

  private async appendAlone(
    events: ReadonlyArray<EventEnvelope>,
    expected: Array<[StreamId, ExpectedVersion]>,
    batchId: string,
    data: Buffer,
    byHost: Map<string, number[]>,
  ): Promise<AppendResult> {
    const chains = [this.global, ...[...byHost.keys()].map((host) => this.hostChain(host))]
    for (let attempt = 0; attempt < this.maxClaimRetries; attempt++) {
      // Load every cursor first: from the first claim to sending the multi nothing may await, or a
      // later append could overtake this one and fail its "p-1 exists" check.
      while (chains.some((c) => !c.loaded)) await Promise.all(chains.map((c) => c.load()))
      const ops: Array<(tx: import("node-zookeeper-client").Transaction) => void> = []
      const kinds: OpKind[] = []
      const mark = (kind: OpKind) => {
        while (kinds.length < ops.length) kinds.push(kind)
      }
      for (const [stream, want] of expected) {
        const path = this.paths.stream(stream)
        ops.push(want === "none" ? (tx) => tx.create(path) : (tx) => tx.setData(path, null, want))
        mark({ kind: "stream", stream, expected: want })
      }
      const first = this.global.claim(events.length)
      this.global.claimOps(first, data, events.length, ops)
      for (const [host, indices] of byHost) {
        const chain = this.hostChain(host)
        const pointers: HostPointer[] = indices.map((i) => [first, i])
        chain.claimOps(chain.claim(indices.length), Buffer.from(pack(pointers)), indices.length, ops)
      }
      mark({ kind: "chain" })

      let failure: Awaited<ReturnType<ZkClient["multi"]>>
      try {
        failure = await this.zk.multi((tx) => ops.forEach((op) => op(tx)))
      } catch (error) {
        if (!(error instanceof LogUnavailable)) throw error
        // The outcome is unknown. Our positions are ours alone: if `first` holds our batch, it landed.
        await this.zk.waitConnected(this.unknownOutcomeWaitMs).catch(() => {
          throw new LogUnavailable({ reason: `append outcome unknown: ${error.reason}` })
        })
        chains.forEach((c) => c.invalidate())
        const landed = await this.zk.getDataIfExists(this.global.entry(first))
        if (landed !== undefined && landed.length > 0 && decodeOrThrow(landed).batchId === batchId) {
          this.wakeFollowers()
          return { firstPosition: position(first), lastPosition: position(first + events.length - 1) }
        }
        continue
      }
      if (failure === undefined) {
        this.wakeFollowers()
        return { firstPosition: position(first), lastPosition: position(first + events.length - 1) }
      }
      chains.forEach((c) => c.invalidate())
      const kind = kinds[failure.index]
      if (kind?.kind === "stream") throw new AppendConflict({ stream: kind.stream, expected: kind.expected })
      if (failure.code !== ZK.Exception.NODE_EXISTS && failure.code !== ZK.Exception.NO_NODE)
        throw new Error(`append: unexpected ZooKeeper error ${failure.code} at op ${failure.index}`)
      // Another writer took our positions first: claim again. A little jitter breaks lockstep.
      if (attempt > 2) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)))
    }
    throw new LogUnavailable({ reason: `append gave up after ${this.maxClaimRetries} claim collisions` })
  }

  private async batchesAt(starts: ReadonlyArray<number>): Promise<Map<number, EncodedBatch>> {
    const unique = [...new Set(starts)]
    const datas = await mapLimit(unique, 256, async (p) => (await this.zk.getData(this.global.entry(p))).data)
    return new Map(unique.map((p, i) => [p, decodeOrThrow(datas[i]!)]))
  }

  async read(after: Position, limit = 10_000): Promise<ReadonlyArray<StoredEvent>> {
    const out: StoredEvent[] = []
    for (const { start, data } of await this.global.readEntries(after, limit)) {
      const batch = decodeOrThrow(data)
      batch.events.forEach((envelope, i) => {
        if (start + i > after)
          out.push({ position: position(start + i), envelope, bumped: i === batch.events.length - 1 ? batch.bumped : [] })
      })
    }
    return out
  }

  async head(): Promise<Position> {
    return position(await this.global.head())
  }

  async readHostStream(host: HostName, after: number, limit = 10_000): Promise<ReadonlyArray<HostStreamEvent>> {
    const entries = await this.hostChain(host).readEntries(after, limit)
    // One entry holds this host's slice of one batch; the slice's last event carries the batch's bumps.
    const pointers = entries.flatMap(({ start, data }) => {
      const slice = unpack(data) as HostPointer[]
      return slice.map(([batchStart, index], i) => ({ hostPosition: start + i, batchStart, index, last: i === slice.length - 1 }))
    })
    const batches = await this.batchesAt(pointers.map((p) => p.batchStart))
    return pointers
      .filter((p) => p.hostPosition > after)
      .map(({ hostPosition, batchStart, index, last }) => {
        const batch = batches.get(batchStart)!
        return { hostPosition, position: position(batchStart + index), envelope: batch.events[index]!, bumped: last ? batch.bumped : [] }
      })
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
  ): Unsubscribe {
    let armed: string | undefined
    let lastError: string | undefined
    let lastDelivered = after
    const follower: Follower = follow({
      after,
      positionOf,
      deliver: (events) => {
        lastDelivered = positionOf(events[events.length - 1]!)
        return deliver(events)
      },
      // ZooKeeper away: the poll retries and the client reconnects by itself. Anything else (a batch
      // that cannot be decoded) stops this follower at that position until it is dealt with: say so.
      onError: (error) => {
        if (error instanceof LogUnavailable) return
        const text = String(error)
        if (text !== lastError) console.error(`helios: event log follower stuck after position ${lastDelivered}: ${text}`)
        lastError = text
      },
      read: async (a) => {
        const events = await read(a)
        if (events.length === 0) {
          const next = chain.entry(a + 1)
          if (armed !== next) {
            armed = next
            const stat = await this.zk.exists(next, () => {
              armed = undefined
              follower.wake()
            })
            if (stat !== undefined) follower.wake()
          }
        }
        return events
      },
    })
    this.followers.add(follower)
    return () => {
      follower.stop()
      this.followers.delete(follower)
    }
  }

  subscribe(after: Position, onEvents: (events: ReadonlyArray<StoredEvent>) => void | Promise<void>): Unsubscribe {
    return this.followChain(this.global, after, (a) => this.read(position(a)), (e) => e.position, onEvents)
  }

  subscribeHostStream(
    host: HostName,
    after: number,
    onEvents: (events: ReadonlyArray<HostStreamEvent>) => void | Promise<void>,
  ): Unsubscribe {
    return this.followChain(this.hostChain(host), after, (a) => this.readHostStream(host, a), (e) => e.hostPosition, onEvents)
  }

  async close(): Promise<void> {
    for (const f of this.followers) f.stop()
    this.followers.clear()
  }
}
