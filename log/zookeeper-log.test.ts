import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { connect as netConnect, createServer, type AddressInfo, type Socket } from "node:net"
import type { Transaction } from "node-zookeeper-client"
import { describe, expect, it, afterAll } from "vitest"
import { AppendConflict, LogUnavailable, UndecodableEvent, type AppendResult, type EventLog } from "../core/event-log.ts"
import type { EventEnvelope, StoredEvent } from "../core/events.ts"
import { position } from "../core/ids.ts"
import { envelope, fakeJobId, host, hostUp, jobRemoved, tagOf } from "../test/event-fixtures.ts"
import { waitFor, zkConnect, zkPort } from "../test/services.ts"
import { startZooKeeper } from "../test/zookeeper.ts"
import { tcpGate } from "../test/tcp-gate.ts"
import { eventLogConformance, readAll } from "../test/log-conformance.ts"
import { ZK, ZkClient, type MultiFailure } from "./zk-client.ts"
import { MAX_REQUEST_BYTES, ZooKeeperEventLog } from "./zookeeper-log.ts"
import { zkPaths } from "./zk-paths.ts"
import { countingZk, type OpCounts } from "../bench/fleet-zk.ts"

const SEGMENT = 4
const clients: ZkClient[] = []
afterAll(async () => {
  for (const c of clients) await c.close()
})
const connect = async (connectString = zkConnect(), options = {}) => {
  const zk = await ZkClient.connect(connectString, options)
  clients.push(zk)
  return zk
}
const freshRoot = () => `/t-log-${randomUUID().slice(0, 8)}`

/** A log for the conformance suite: another session of it is a second master, a reopen a restart. */
const underTest = (log: ZooKeeperEventLog, open: () => Promise<ZooKeeperEventLog>) => ({
  log,
  segmentSize: SEGMENT,
  openAnother: open,
  // Every append was acknowledged by a quorum write; a new session must see all of them.
  reopen: async () => {
    await log.close()
    return open()
  },
})

eventLogConformance("ZooKeeper", async () => {
  const root = freshRoot()
  const open = async () => ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT })
  return underTest(await open(), open)
})

// The same invariants with a second session packing sealed segments all the while, right behind
// the head (keepSealedSegments 0): readers and writers meet segments packed under them.
const packerFailures: unknown[] = []
let segmentsPacked = 0
let packedLogsOpened = 0
eventLogConformance("ZooKeeper, sealed segments packed while it runs", async () => {
  const root = freshRoot()
  const open = async () => ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT, keepSealedSegments: 0 })
  const packer = await open()
  packedLogsOpened++
  let packing = true
  const rounds = (async () => {
    while (packing) {
      await packer
        .packSealed()
        .then((r) => void (segmentsPacked += r.segments))
        .catch((e: unknown) => void (e instanceof LogUnavailable || packerFailures.push(e)))
      await new Promise((r) => setTimeout(r, 5)) // pacing, not waiting for a condition
    }
  })()
  const stopPacking = async () => {
    packing = false
    await rounds
    await packer.close()
  }
  const log = await open()
  const close = log.close.bind(log)
  log.close = async () => {
    await stopPacking()
    await close()
  }
  return underTest(log, open)
})
afterAll(() => {
  expect(packerFailures.map(String)).toEqual([])
  // The whole suite (not a -t selection of it) must have met packed segments, else it proved nothing.
  if (packedLogsOpened >= 10) expect(segmentsPacked, "segments packed under the suite").toBeGreaterThan(20)
})

describe("ZooKeeper event log, beyond the shared suite", () => {
  it("invariant 7: no segment znode ever holds more children than the segment size", async () => {
    const root = freshRoot()
    const zk = await connect()
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
    await Promise.all(Array.from({ length: 30 }, (_, i) => log.append([hostUp("h1", `e${i}`), hostUp("h2", `f${i}`)])))
    const paths = zkPaths(root)
    for (const chain of [paths.log, paths.hostStream("h1"), paths.hostStream("h2")]) {
      const segments = await zk.getChildren(chain.base)
      expect(segments.length).toBeGreaterThanOrEqual(60 / SEGMENT / 2)
      for (const s of segments) expect((await zk.getChildren(`${chain.base}/${s}`)).length).toBeLessThanOrEqual(SEGMENT)
    }
  })

  it("invariant 8: a retry after the reply to an append was lost does not write the event twice", async () => {
    const root = freshRoot()
    const zk = await connect()
    // The multi reaches ZooKeeper and is applied, then the connection 'drops' before the reply.
    const lossy = lossyMultis(zk)
    lossy.lostReplies = 1
    const log = await ZooKeeperEventLog.open(lossy.zk, { root, segmentSize: SEGMENT })
    const result = await log.append([hostUp("h1", "once")], { expected: { "host:h1": "none" } })
    expect(result.firstPosition).toBe(1)
    const all = await log.read(position(0))
    expect(all.map((e) => e.position)).toEqual([1])
    // And the stream was bumped once: version 0 is current.
    await log.append([hostUp("h1", "next")], { expected: { "host:h1": 0 } })
  })

  it("invariant 8: a request lost before it reached ZooKeeper is retried and lands once", async () => {
    const root = freshRoot()
    const zk = await connect()
    const lossy = lossyMultis(zk)
    lossy.lostRequests = 2
    const log = await ZooKeeperEventLog.open(lossy.zk, { root, segmentSize: SEGMENT })
    await log.append([hostUp("h1", "a")])
    await log.append([hostUp("h1", "b")])
    expect((await log.read(position(0))).map((e) => e.position)).toEqual([1, 2])
  })

  it("sync() is answered by the server (patched client, opcode 9) and fails cleanly on a closed client", async () => {
    const zk = await ZkClient.connect(zkConnect())
    try {
      await zk.sync("/")
      // A read after it still works: the reply was decoded in place, the connection was not reset.
      expect(await zk.exists("/")).toBeDefined()
      expect(zk.isConnected).toBe(true)
    } finally {
      await zk.close()
    }
    await expect(zk.sync("/")).rejects.toBeInstanceOf(LogUnavailable)
  })

  it("invariant 8 on an ensemble: the read-back after a lost reply is preceded by a sync, and the batch is not written twice", async () => {
    const root = freshRoot()
    const zk = await connect()
    const lossy = lossyMultis(zk)
    const calls = lossy.calls
    const log = await ZooKeeperEventLog.open(lossy.zk, { root, segmentSize: SEGMENT })
    await log.append([hostUp("h1", "a")])
    calls.length = 0
    lossy.lostReplies = 1
    const result = await log.append([hostUp("h1", "once")])
    expect(result.firstPosition).toBe(2)
    // The lost reply, then sync, then the read of the claimed position: in that order.
    expect(calls.slice(0, 3)).toEqual(["multi", "sync", "getDataIfExists"])
    expect(calls.filter((c) => c === "multi")).toHaveLength(1)
    expect((await log.read(position(0))).map((e) => e.position)).toEqual([1, 2])
  })

  it("after a reconnect the writer checks the position below its claim again: positions lost meanwhile are claimed again, no hole", async () => {
    const root = freshRoot()
    const zk = await connect()
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
    for (let i = 1; i <= 3; i++) await log.append([hostUp("h1", `d${i}`)])
    // ZooKeeper loses positions 2 and 3 (issue 17); the writer reconnects (simulated by the event).
    const paths = zkPaths(root)
    await zk.remove(paths.log.entry(0, 3))
    await zk.remove(paths.log.entry(0, 2))
    zk.emit("connected")
    const result = await log.append([hostUp("h1", "after")])
    expect(result.firstPosition).toBe(2)
    expect((await log.read(position(0))).map((e) => e.position)).toEqual([1, 2])
  })

  it("after a real session expiry (the link frozen past the session timeout) a follower reads new events at once, not at its 10 s poll", async () => {
    // The client reaches ZooKeeper through a gate that is frozen until the server has expired the
    // session (its ephemeral node gone): freezing the server itself raced its expiry against the
    // client's reconnect on resume, and a busy machine sometimes let the session live.
    const gate = await tcpGate(zkPort())
    try {
      const root = freshRoot()
      const observer = await connect()
      const zk = await connect(`127.0.0.1:${gate.port}`, { sessionTimeoutMs: 2000, operationTimeoutMs: 2000 })
      const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
      await log.append([hostUp("h1", "a")])
      const seen: number[] = []
      const unsubscribe = log.subscribe(position(0), (events) => {
        for (const e of events) seen.push(e.position)
      })
      try {
        await waitFor(() => (seen.length === 1 ? true : undefined))
        await zk.create(`${root}/session-alive`, null, ZK.CreateMode.EPHEMERAL)
        let expired = false
        zk.once("expired", () => (expired = true))
        gate.freeze()
        try {
          await waitFor(async () => ((await observer.exists(`${root}/session-alive`)) === undefined ? true : undefined), {
            timeoutMs: 30_000,
            what: "the server expiring the frozen session",
          })
          // The client notices the silent link by its read timeout (2/3 of the session timeout, patched in).
          await waitFor(() => (zk.isConnected ? undefined : true), { timeoutMs: 15_000, what: "the client's disconnect" })
        } finally {
          gate.restore()
        }
        await waitFor(() => (expired ? true : undefined), { timeoutMs: 30_000, what: "the client learning of its session's expiry" })
        await zk.waitConnected(30_000)
        const other = await ZooKeeperEventLog.open(observer, { root, segmentSize: SEGMENT })
        const appendedAt = Date.now()
        await other.append([hostUp("h1", "b")])
        await waitFor(() => (seen.length === 2 ? true : undefined), { timeoutMs: 15_000 })
        expect(Date.now() - appendedAt).toBeLessThan(3000)
        expect(seen).toEqual([1, 2])
      } finally {
        unsubscribe()
      }
    } finally {
      await gate.close()
    }
  })

  it("a batch that cannot be decoded: a read returns the events before it, the next read rejects with a typed UndecodableEvent naming it", async () => {
    const root = freshRoot()
    const zk = await connect()
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
    await log.append([hostUp("h1", "good")])
    const paths = zkPaths(root)
    await zk.create(paths.log.entry(0, 2), Buffer.from([0xc1, 0x00, 0xff]))
    // A newer build's batch of two events, one for h1, laid out by the log itself (markers, host stream).
    await log.append([hostUp("h2", "new"), { ...hostUp("h1", "new"), schemaVersion: 99 }])
    await log.append([hostUp("h1", "after")])
    expect((await log.read(position(0))).map((e) => e.position)).toEqual([1])
    const garbage = await log.read(position(1)).catch((e: unknown) => e)
    expect(garbage).toBeInstanceOf(UndecodableEvent)
    expect(garbage).toMatchObject({ position: 2, through: 2, bumped: [] })
    expect((garbage as UndecodableEvent).reason).toMatch(/not msgpack/)
    const newer = await log.read(position(2)).catch((e: unknown) => e)
    expect(newer).toMatchObject({ _tag: "UndecodableEvent", position: 3, through: 4 })
    expect((newer as UndecodableEvent).reason).toMatch(/event 1: schema version 99 is newer/)
    expect((await log.read(position(4))).map((e) => e.position)).toEqual([5])
    // The host stream alike: its first event, then the rejection.
    expect((await log.readHostStream(host("h1"), 0)).map((e) => e.position)).toEqual([1])
    await expect(log.readHostStream(host("h1"), 1)).rejects.toMatchObject({ _tag: "UndecodableEvent", position: 4 })
  })

  it("invariant 5: acknowledged appends survive a ZooKeeper crash (kill -9) and restart; while it is down appends fail fast", async () => {
    const server = await startZooKeeper()
    try {
      const zk = await connect(server.connectString, { operationTimeoutMs: 2000 })
      const log = await ZooKeeperEventLog.open(zk, { root: "/helios", segmentSize: SEGMENT })
      for (let i = 1; i <= 6; i++) await log.append([hostUp("h1", `d${i}`)])
      await server.kill()
      const started = Date.now()
      await expect(log.append([hostUp("h1", "while-down")])).rejects.toBeInstanceOf(LogUnavailable)
      expect(Date.now() - started).toBeLessThan(5000)
      await server.start()
      await zk.waitConnected(30_000)
      await log.append([hostUp("h1", "after")])
      const all = await log.read(position(0))
      expect(all.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7])
    } finally {
      await server.destroy()
    }
  })
})

/** What one multi would write, read off its ops without running them. */
interface MultiSeen {
  /** Appends it carries: batch znodes (non-empty entries) it creates in the global log. */
  readonly appends: number
  /** Ops on stream version znodes (an append with expected versions). */
  readonly streamOps: number
  readonly dataBytes: number
}

const inspectMulti = (build: Parameters<ZkClient["multi"]>[0], root: string): MultiSeen => {
  const seen = { appends: 0, streamOps: 0, dataBytes: 0 }
  const onStream = (path: string) => {
    if (path.startsWith(`${root}/streams/`)) seen.streamOps++
  }
  const tx = {
    create: (path: string, data?: Buffer) => {
      if (path.startsWith(`${root}/log/`) && data !== undefined && data.length > 0) seen.appends++
      seen.dataBytes += data?.length ?? 0
      onStream(path)
      return tx
    },
    setData: (path: string) => (onStream(path), tx),
    check: () => tx,
    remove: () => tx,
  }
  build(tx as unknown as Transaction)
  return seen
}

/**
 * The session, with its multis passed through `hook`: it sees what each multi carries and decides
 * when (or whether) to `send` it, e.g. letting another writer in first or losing the reply.
 */
const interceptMultis = (
  zk: ZkClient,
  root: string,
  hook: (seen: MultiSeen, send: () => Promise<MultiFailure | undefined>) => Promise<MultiFailure | undefined>,
): ZkClient => withMultisThrough(zk, (build, send) => hook(inspectMulti(build, root), send))

type MultiBuild = Parameters<ZkClient["multi"]>[0]

/**
 * The session with each multi passed through `around`, which decides when (or whether) to `send`
 * it; `record`, when given, is told of every multi, sync and single-node read, in order.
 */
const withMultisThrough = (
  zk: ZkClient,
  around: (build: MultiBuild, send: () => Promise<MultiFailure | undefined>) => Promise<MultiFailure | undefined>,
  record?: (call: "multi" | "sync" | "getDataIfExists") => void,
): ZkClient =>
  new Proxy(zk, {
    get(target, prop, receiver) {
      if (prop === "multi")
        return (build: MultiBuild) =>
          around(build, async () => {
            const result = await target.multi(build)
            record?.("multi")
            return result
          })
      if (record && (prop === "sync" || prop === "getDataIfExists"))
        return async (path: string) => {
          record(prop)
          return (target[prop] as (path: string) => Promise<unknown>).call(target, path)
        }
      const value = Reflect.get(target, prop, receiver)
      return typeof value === "function" ? value.bind(target) : value
    },
  })

/**
 * The session with lost messages injected, as a connection loss shows them (LogUnavailable): the
 * next `lostRequests` multis never reach ZooKeeper; the next `lostReplies` reach it and are applied,
 * but their reply is lost. `calls` lists the multis, syncs and single-node reads in order.
 */
const lossyMultis = (session: ZkClient) => {
  const lossy = { lostRequests: 0, lostReplies: 0, calls: [] as string[], zk: session }
  const lost = () => new LogUnavailable({ reason: "connection lost (injected)" })
  lossy.zk = withMultisThrough(
    session,
    async (_, send) => {
      if (lossy.lostRequests > 0) {
        lossy.lostRequests--
        throw lost()
      }
      const result = await send()
      if (lossy.lostReplies > 0) {
        lossy.lostReplies--
        throw lost()
      }
      return result
    },
    (call) => lossy.calls.push(call),
  )
  return lossy
}

/** A session whose multis are all sent, each recorded in `seen`. */
const recordingMultis = async (root: string) => {
  const seen: MultiSeen[] = []
  const zk = interceptMultis(await connect(), root, (s, send) => {
    seen.push(s)
    return send()
  })
  return { zk, seen }
}

/** The log holds positions 1..n, each append's events exactly once, contiguous, where its result says. */
const expectLanded = (all: ReadonlyArray<StoredEvent>, appends: ReadonlyArray<{ tags: string[]; result: AppendResult }>) => {
  expect(all.map((e) => e.position)).toEqual(all.map((_, i) => i + 1))
  const tags = all.map((e) => tagOf(e.envelope))
  expect(new Set(tags).size).toBe(tags.length)
  for (const { tags: mine, result } of appends) {
    expect(result.lastPosition - result.firstPosition + 1).toBe(mine.length)
    expect(tags.slice(result.firstPosition - 1, result.lastPosition)).toEqual(mine)
  }
}

/** A batch of 1-3 events with distinct tags: some for one or two hosts, some for none. */
const mixedBatch = (i: number, prefix: string): EventEnvelope[] =>
  Array.from({ length: (i % 3) + 1 }, (_, j) => (j === 1 || i % 5 === 0 ? jobRemoved(`${prefix}${i}-${j}`) : hostUp(`h${(i + j) % 4}`, `${prefix}${i}-${j}`)))

describe("ZooKeeper event log: group commit", () => {
  it("many concurrent appends from one writer all land once, each contiguous, host streams dense, in fewer multis than appends", async () => {
    const root = freshRoot()
    const sizes: number[] = []
    const zk = interceptMultis(await connect(), root, (seen, send) => {
      sizes.push(seen.appends)
      return send()
    })
    // Tiny segments: groups also roll segments over.
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
    const batches = Array.from({ length: 150 }, (_, i) => mixedBatch(i, "g"))
    const results = await Promise.all(batches.map((events) => log.append(events)))
    const all = await readAll(log)
    expect(all).toHaveLength(batches.flat().length)
    expectLanded(all, batches.map((events, i) => ({ tags: events.map(tagOf), result: results[i]! })))
    expect(sizes.length).toBeLessThan(batches.length / 4)
    expect(Math.max(...sizes)).toBeGreaterThan(1)
    // Each host's stream: dense, in log order, exactly the log's events that concern that host.
    for (const h of ["h0", "h1", "h2", "h3"]) {
      const stream = await log.readHostStream(host(h), 0)
      expect(stream.map((e) => e.hostPosition)).toEqual(stream.map((_, i) => i + 1))
      const expected = all.filter((e) => e.envelope.event._tag === "HostWentUp" && e.envelope.event.host === h)
      expect(stream.map((e) => [e.position, tagOf(e.envelope)])).toEqual(expected.map((e) => [e.position, tagOf(e.envelope)]))
    }
  })

  it("an append with a stale expected version, concurrent with a group, fails alone with AppendConflict; the others land", async () => {
    const root = freshRoot()
    const { zk, seen } = await recordingMultis(root)
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
    await log.append([hostUp("h1", "register")], { expected: { "host:h1": "none" } })
    const plain = Array.from({ length: 40 }, (_, i) => [hostUp(`h${i % 3}`, `p${i}`)])
    const outcomes = await Promise.allSettled([
      ...plain.slice(0, 20).map((events) => log.append(events)),
      log.append([hostUp("h1", "stale")], { expected: { "host:h1": 5 } }),
      log.append([hostUp("h1", "fresh")], { expected: { "host:h1": 0 } }),
      ...plain.slice(20).map((events) => log.append(events)),
    ])
    const [stale, fresh] = [outcomes[20]!, outcomes[21]!]
    expect(stale.status === "rejected" && stale.reason).toBeInstanceOf(AppendConflict)
    expect(fresh.status).toBe("fulfilled")
    expect(outcomes.filter((o) => o.status === "rejected")).toHaveLength(1)
    const tags = (await readAll(log)).map((e) => tagOf(e.envelope))
    expect(tags).toHaveLength(42)
    expect(tags).not.toContain("stale")
    expect(new Set(tags)).toEqual(new Set(["register", "fresh", ...plain.map((events) => tagOf(events[0]!))]))
    // Appends did share multis, but never one that checks a stream version.
    expect(Math.max(...seen.map((s) => s.appends))).toBeGreaterThan(1)
    for (const s of seen) if (s.streamOps > 0) expect(s.appends).toBe(1)
    // host:h1 was bumped once more (by "fresh"): version 1 is current.
    await log.append([hostUp("h1", "next")], { expected: { "host:h1": 1 } })
  })

  it("a group that loses the race for its positions to another writer claims again: every member lands exactly once", async () => {
    const root = freshRoot()
    const other = await ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT })
    const refusedGroups: Array<MultiFailure | undefined> = []
    let intrusions = 0
    const zk = interceptMultis(await connect(), root, async (seen, send) => {
      if (seen.appends > 1 && intrusions < 3) {
        // Another writer takes the positions this group claimed before it reaches ZooKeeper.
        intrusions++
        await other.append([jobRemoved(`intruder-${intrusions}`), hostUp("h1", `intruder-h-${intrusions}`)])
        const failure = await send()
        refusedGroups.push(failure)
        return failure
      }
      return send()
    })
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
    await log.append([hostUp("h1", "warm")]) // the cursor is loaded, so the group claims right away
    const batches = Array.from({ length: 60 }, (_, i) => mixedBatch(i, "r"))
    const results = await Promise.all(batches.map((events) => log.append(events)))
    expect(refusedGroups.length).toBeGreaterThan(0)
    expect(refusedGroups.every((f) => f !== undefined)).toBe(true)
    const all = await readAll(other)
    expect(all).toHaveLength(1 + batches.flat().length + 2 * intrusions)
    expectLanded(all, batches.map((events, i) => ({ tags: events.map(tagOf), result: results[i]! })))
    const h1 = await other.readHostStream(host("h1"), 0)
    expect(h1.map((e) => e.hostPosition)).toEqual(h1.map((_, i) => i + 1))
  })

  it("a group whose reply was lost is read back: applied, every member resolves once; never applied, every member lands once", async () => {
    for (const lose of ["reply", "request"] as const) {
      const root = freshRoot()
      let lost = 0
      const zk = interceptMultis(await connect(), root, async (seen, send) => {
        if (seen.appends > 1 && lost === 0) {
          lost++
          if (lose === "reply") await send()
          throw new LogUnavailable({ reason: `connection lost (injected, ${lose})` })
        }
        return send()
      })
      const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
      await log.append([hostUp("h1", "warm")])
      const batches = Array.from({ length: 40 }, (_, i) => mixedBatch(i, lose))
      const results = await Promise.all(batches.map((events) => log.append(events)))
      expect(lost).toBe(1)
      const all = await readAll(log)
      expect(all).toHaveLength(1 + batches.flat().length)
      expectLanded(all, batches.map((events, i) => ({ tags: events.map(tagOf), result: results[i]! })))
    }
  })

  it("concurrent appends too large to share one request go out in several multis, none over the request limit, and all land", async () => {
    const root = freshRoot()
    const { zk, seen } = await recordingMultis(root)
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
    const big = (i: number) =>
      envelope({ _tag: "TaskStateChanged", jobId: fakeJobId(`big${i}`), host: host("h1"), state: "FAILED", goal: "START", throttled: "NO", error: "x".repeat(300_000) })
    await Promise.all(Array.from({ length: 12 }, (_, i) => log.append([big(i)])))
    const all = await readAll(log)
    expect(all.map((e) => (e.envelope.event._tag === "TaskStateChanged" ? e.envelope.event.jobId : "")).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => fakeJobId(`big${i}`)).sort(),
    )
    expect(Math.max(...seen.map((s) => s.appends))).toBeGreaterThan(1)
    for (const s of seen) expect(s.dataBytes).toBeLessThanOrEqual(MAX_REQUEST_BYTES)
  })

  it("an append refused mid-pipeline leaves no hole: the appends claimed behind it claim again, and the log and host stream stay dense", async () => {
    // The refused append's positions are never created (or, for the global log, are another
    // writer's); appends sent behind it had claimed the positions after them, so they must fail
    // their "p-1 exists" check and claim again.
    const root = freshRoot()
    const log = await ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT })
    const other = await ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT })
    await log.append([hostUp("h1", "register")], { expected: { "host:h1": "none" } })
    const pipelined = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => log.append([hostUp("h1", `${prefix}${i}`)]))
    // Refused by a conflict: none of its positions exist.
    const outcomes = await Promise.allSettled([
      ...pipelined(3, "before"),
      log.append([hostUp("h1", "stale"), jobRemoved("stale-job")], { expected: { "host:h1": 7 } }),
      ...pipelined(30, "after"),
    ])
    expect(outcomes.map((o) => o.status).filter((s) => s === "rejected")).toHaveLength(1)
    // Refused because another writer took its global position with an event for no host: the
    // global log has no hole there, but this writer's next host-stream position is missing.
    await other.append([jobRemoved("intruder")])
    await Promise.all(pipelined(10, "late"))
    const all = await readAll(other)
    expect(all.map((e) => e.position)).toEqual(Array.from({ length: 45 }, (_, i) => i + 1))
    const h1 = await other.readHostStream(host("h1"), 0)
    expect(h1.map((e) => e.hostPosition)).toEqual(Array.from({ length: 44 }, (_, i) => i + 1))
    expect(h1.map((e) => e.position)).toEqual(all.filter((e) => tagOf(e.envelope) !== "intruder").map((e) => e.position))
  })
})

describe("a writer's own appends, followed in its process", () => {
  it("are delivered from memory (a master's follower does not ask ZooKeeper again for each fact it relayed); another writer's appends in between are read from ZooKeeper, in order", async () => {
    const root = freshRoot()
    const counts: OpCounts = {}
    const log = await ZooKeeperEventLog.open(countingZk(await connect(), counts), { root, segmentSize: SEGMENT })
    const other = await ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT })
    const seen: StoredEvent[] = []
    const stop = log.subscribe(position(0), (events) => void seen.push(...events))
    try {
      const expected: string[] = []
      for (let i = 0; i < 40; i++) {
        const writer = i % 10 === 9 ? other : log
        const tag = `${writer === other ? "other" : "own"}-${i}`
        const { lastPosition } = await writer.append([hostUp(`h${i % 3}`, tag), hostUp(`h${i % 3}`, `${tag}-b`)])
        expected.push(tag, `${tag}-b`)
        await waitFor(() => (seen.length >= lastPosition ? true : undefined), { what: "the follower to deliver the append" })
      }
      // Every event once, in log order, whoever wrote it.
      expect(seen.map((e) => e.position)).toEqual(expected.map((_, i) => i + 1))
      expect(seen.map((e) => tagOf(e.envelope))).toEqual(expected)
      // 80 positions, 72 of them its own: reading each back would take 80 reads, and a miss at the
      // head after each append (the counter sees a getDataIfExists twice: 240 then). Only the other
      // writer's 4 batches need reading (about 25 reads, the setup's included).
      expect(counts["getData"] ?? 0).toBeLessThan(80)
    } finally {
      stop()
      await other.close()
      await log.close()
    }
  })

  it("are not taken from memory by a read: a check of what the log holds (the projection's divergence probe) sees ZooKeeper lose them", async () => {
    const root = freshRoot()
    const zk = await connect()
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: 100 })
    const seen: StoredEvent[] = []
    const stop = log.subscribe(position(0), (events) => void seen.push(...events))
    try {
      await log.append([hostUp("h1", "first")])
      await log.append([hostUp("h1", "second")])
      await waitFor(() => (seen.length === 2 ? true : undefined), { what: "the follower to deliver both" })
      // ZooKeeper loses position 2 (simulated with a raw client, as in master/divergence.test.ts).
      await zk.remove(zkPaths(root).log.entry(0, 2))
      expect((await log.read(position(0), 10)).map((e) => tagOf(e.envelope))).toEqual(["first"])
      expect(await log.read(position(1), 1)).toEqual([])
    } finally {
      stop()
      await log.close()
    }
  })
})

describe("host streams: segment size recorded in the stream, sealed segments packed", () => {
  const hostEvents = (tag: string, n: number) => Array.from({ length: n }, (_, i) => hostUp("h1", `${tag}-${i}`))

  it("a new host stream has segments of 100 entries; packed, it reads the same, and only its open segment keeps one znode per entry", async () => {
    const root = freshRoot()
    const zk = await connect()
    const log = await ZooKeeperEventLog.open(zk, { root })
    for (let i = 0; i < 5; i++) await log.append(hostEvents(`b${i}`, 50))
    const paths = zkPaths(root)
    expect(JSON.parse((await zk.getData(paths.hostStream("h1").base)).data.toString())).toEqual({ segmentSize: 100 })
    const before = await log.readHostStream(host("h1"), 0)
    expect(before.map((e) => e.hostPosition)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1))

    const report = await log.packSealed()
    expect(report.segments).toBe(2) // the host stream's segments 0 and 1; the global log has one open segment
    const fresh = await ZooKeeperEventLog.open(await connect(), { root })
    expect(await fresh.readHostStream(host("h1"), 0)).toEqual(before)
    expect(await fresh.readHostStream(host("h1"), 120)).toEqual(before.slice(120))
    expect(await zk.getChildren(paths.hostStream("h1").base)).toEqual(["0000000002"])
    expect((await zk.getChildren(paths.hostStream("h1").segment(2))).length).toBe(51) // entries 200..250
    // Appends go on after packing; a follower from 0 gets every entry once.
    await log.append(hostEvents("after", 3))
    const seen: number[] = []
    const stop = fresh.subscribeHostStream(host("h1"), 0, (events) => void seen.push(...events.map((e) => e.hostPosition)))
    try {
      await waitFor(() => (seen.length >= 253 ? true : undefined), { what: "the follower at the head" })
      expect(seen).toEqual(Array.from({ length: 253 }, (_, i) => i + 1))
    } finally {
      stop()
    }
  })

  it("a host stream created before segment sizes were recorded (its node holds nothing) keeps 10,000-entry segments", async () => {
    const root = freshRoot()
    const zk = await connect()
    const paths = zkPaths(root)
    await zk.ensurePath(paths.hostStream("h1").base) // as the earlier layout created it
    const log = await ZooKeeperEventLog.open(zk, { root })
    for (let i = 0; i < 3; i++) await log.append(hostEvents(`b${i}`, 60))
    expect(await zk.exists(paths.hostStream("h1").entry(0, 150))).toBeDefined()
    expect(await zk.getChildren(paths.hostStream("h1").base)).toEqual(["0000000000"])
    expect((await log.readHostStream(host("h1"), 0)).map((e) => e.hostPosition)).toEqual(Array.from({ length: 180 }, (_, i) => i + 1))
    expect((await log.packSealed()).segments).toBe(0)
  })
})

describe("a writer whose cursor fell behind while another appended and packed", () => {
  // Writer A knows the log up to some position; B appends past it and packs the sealed segments,
  // removing their per-position znodes. A's next append must not be created again in a packed
  // segment (acknowledged, yet at a position every reader finds holding B's event): it collides,
  // re-reads the head and lands after it.
  const readBack = async (root: string, options: object) => {
    const reader = await ZooKeeperEventLog.open(await connect(), { root, ...options })
    return { global: await readAll(reader), hostStream: (h: string) => reader.readHostStream(host(h), 0) }
  }

  it("on the global log: the append lands after the head, and every reader sees it there", async () => {
    const root = freshRoot()
    const options = { segmentSize: 10, keepSealedSegments: 0 }
    const a = await ZooKeeperEventLog.open(await connect(), { root, ...options })
    const b = await ZooKeeperEventLog.open(await connect(), { root, ...options })
    await a.append(Array.from({ length: 9 }, (_, i) => hostUp("a", `a${i}`))) // 1..9: A's next is 10
    for (let i = 0; i < 25; i++) await b.append([hostUp("b", `b${i}`)]) // 10..34
    expect((await b.packSealed()).segments).toBeGreaterThanOrEqual(2) // segments 0 and 1 (1..19)
    const acked = await a.append([hostUp("a", "late")])
    expect(acked.firstPosition).toBe(35)
    const { global, hostStream } = await readBack(root, options)
    expect(global.map((e) => `${e.position}:${tagOf(e.envelope)}`).slice(8, 11)).toEqual(["9:a8", "10:b0", "11:b1"])
    expect(global.filter((e) => tagOf(e.envelope) === "late").map((e) => e.position)).toEqual([35])
    expect((await hostStream("a")).map((e) => tagOf(e.envelope))).toEqual([...Array.from({ length: 9 }, (_, i) => `a${i}`), "late"])
    // A's own follower (served from its memory of what it appended) agrees with ZooKeeper.
    const seen: string[] = []
    const stop = a.subscribe(position(33), (events) => void seen.push(...events.map((e) => `${e.position}:${tagOf(e.envelope)}`)))
    try {
      await waitFor(() => (seen.length >= 2 ? true : undefined), { what: "A's follower at the head" })
      expect(seen).toEqual(["34:b24", "35:late"])
    } finally {
      stop()
    }
  })

  it("on a host stream: the append lands after the stream's head, though the writer's global cursor was up to date", async () => {
    const root = freshRoot()
    const options = { segmentSize: 1000, hostSegmentSize: 10 }
    const a = await ZooKeeperEventLog.open(await connect(), { root, ...options })
    const b = await ZooKeeperEventLog.open(await connect(), { root, ...options })
    await a.append(Array.from({ length: 9 }, (_, i) => hostUp("h", `a${i}`))) // h's stream 1..9
    for (let i = 0; i < 20; i++) await b.append([hostUp("h", `b${i}`)]) // h's stream 10..29
    expect((await b.packSealed()).segments).toBeGreaterThanOrEqual(2) // h's segments 0 and 1
    await a.append([hostUp("g", "other")]) // A's global cursor catches up on a collision; its cursor for h does not
    await a.append([hostUp("h", "late")])
    const stream = (await (await readBack(root, options)).hostStream("h")).map((e) => `${e.hostPosition}:${tagOf(e.envelope)}`)
    expect(stream.slice(8, 11)).toEqual(["9:a8", "10:b0", "11:b1"])
    expect(stream.at(-1)).toBe("30:late")
    expect(stream).toHaveLength(30)
  })
})

describe("a reader meeting a segment packed while it reads the packed mark", () => {
  it("two reads at once, the packed mark's read slow: neither takes the segment's removed znodes for the end of the log", async () => {
    const root = freshRoot()
    const options = { segmentSize: SEGMENT, keepSealedSegments: 0 }
    const writer = await ZooKeeperEventLog.open(await connect(), { root, ...options })
    for (let i = 0; i < 12; i++) await writer.append([hostUp("h1", `e${i}`)])
    expect((await writer.packSealed()).segments).toBeGreaterThan(0)
    const expected = (await readAll(writer)).map((e) => e.position)
    expect(expected).toHaveLength(12)
    // The reader's read of the packed mark waits until another read of it has met a removed
    // position (or, if none does, 300 ms: a slow reply, not a wait for a condition).
    const zk = await connect()
    const packedPath = zkPaths(root).log.packed
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const timer = setTimeout(() => release(), 300)
    const slowMark = new Proxy(zk, {
      get(target, prop) {
        if (prop === "getData")
          return async (path: string, watcher?: () => void) => {
            if (path === packedPath) await gate
            return target.getData(path, watcher)
          }
        if (prop === "getDataIfExists")
          return async (path: string) => {
            const data = await target.getDataIfExists(path)
            if (data === undefined) release()
            return data
          }
        const value = Reflect.get(target, prop, target) as unknown
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value
      },
    })
    try {
      const reader = await ZooKeeperEventLog.open(slowMark, { root, ...options })
      const reads = await Promise.all([reader.read(position(0)), reader.read(position(0))])
      expect(reads.map((events) => events.map((e) => e.position))).toEqual([expected, expected])
    } finally {
      clearTimeout(timer)
    }
  })
})

describe("packing after a packer was killed", () => {
  it("a segment packed but whose per-position znodes were left (the packer killed after moving the mark) is cleaned up by the next packing, and reads stay the same", async () => {
    const root = freshRoot()
    const zk = await connect()
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT, keepSealedSegments: 0 })
    for (let i = 0; i < 10; i++) await log.append([hostUp("h1", `e${i}`)])
    const before = (await readAll(log)).map((e) => `${e.position} ${e.envelope.commandId}`)
    expect((await log.packSealed()).segments).toBeGreaterThan(0)
    const paths = zkPaths(root)
    // What a packer killed between moving the mark and removing the znodes leaves behind.
    await zk.create(paths.log.segment(1))
    await zk.create(paths.log.entry(1, 4), Buffer.alloc(0))
    await zk.create(paths.log.entry(1, 5), Buffer.alloc(0))
    const reopened = await ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT, keepSealedSegments: 0 })
    await reopened.packSealed()
    expect(await zk.exists(paths.log.segment(1))).toBeUndefined()
    expect((await readAll(reopened)).map((e) => `${e.position} ${e.envelope.commandId}`)).toEqual(before)
  })
})

describe("two packers at once", () => {
  it("a packer that read a segment before another packed it, then died while writing, leaves the other's chunk list as it was: the segment still reads", async () => {
    const root = freshRoot()
    const writer = await ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT, keepSealedSegments: 0 })
    for (let i = 0; i < 9; i++) await writer.append([hostUp("h1", `e${i}`)])
    const all = (await readAll(writer)).map((e) => tagOf(e.envelope))
    // Packer A (a leader that lost leadership mid-round) pauses at its first write under the packed
    // nodes, then dies at its first chunk.
    let reachedWrite!: () => void
    const paused = new Promise<void>((resolve) => (reachedWrite = resolve))
    let resume!: () => void
    const resumed = new Promise<void>((resolve) => (resume = resolve))
    const zkA = await connect()
    const gated = new Proxy(zkA, {
      get(target, key) {
        const value = Reflect.get(target, key) as unknown
        if (typeof value !== "function") return value
        if (key !== "create" && key !== "setData" && key !== "ensurePath") return value.bind(target)
        return async (path: string, ...rest: unknown[]) => {
          if (path.includes("-packed")) {
            reachedWrite()
            await resumed
            if (key === "create" && /-packed\/\d+\/\d+$/.test(path)) throw new Error("injected: packer A died writing a chunk")
          }
          return (value as (...a: unknown[]) => unknown).call(target, path, ...rest)
        }
      },
    })
    const a = await ZooKeeperEventLog.open(gated, { root, segmentSize: SEGMENT, keepSealedSegments: 0 })
    const packingA = a.packSealed().then(
      () => "finished",
      (e: unknown) => String(e),
    )
    await paused
    // Packer B packs everything meanwhile.
    const b = await ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT, keepSealedSegments: 0 })
    expect((await b.packSealed()).segments).toBeGreaterThan(0)
    resume()
    expect(await packingA).toMatch(/packer A died/)
    const fresh = await ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT })
    expect((await readAll(fresh)).map((e) => tagOf(e.envelope))).toEqual(all)
  })
})

describe("the patched ZooKeeper client: closing", () => {
  it("a program that closes its client and exits at once ends its session: its ephemeral node is gone at once, not after the session timeout", async () => {
    const node = `/t-ephemeral-${randomUUID().slice(0, 8)}`
    const dir = mkdtempSync(join(tmpdir(), "helios-zk-close-"))
    try {
      // As master/main.ts and agent/main.ts stop: close, then exit (a master's election node, an agent's "up").
      const script = join(dir, "close-and-exit.mts")
      writeFileSync(
        script,
        `import { ZkClient, ZK } from ${JSON.stringify(new URL("./zk-client.ts", import.meta.url).href)}
         const zk = await ZkClient.connect(${JSON.stringify(zkConnect())}, { sessionTimeoutMs: 40_000 })
         await zk.create(${JSON.stringify(node)}, null, ZK.CreateMode.EPHEMERAL)
         await zk.close()
         process.exit(0)`,
      )
      await promisify(execFile)(process.execPath, ["--import", "tsx", script], { timeout: 60_000 })
      const zk = await connect()
      await waitFor(async () => ((await zk.exists(node)) === undefined ? true : undefined), { timeoutMs: 10_000, what: "the ephemeral node gone with its session (timeout 40 s)" })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("the patched ZooKeeper client and large replies", () => {
  /**
   * A forwarder to ZooKeeper that passes the server's bytes on in 1,000-byte writes (a large reply
   * arrives in many socket chunks), and, once armed, resets the connection half-way through the
   * next large reply.
   */
  const choppingProxy = async (upstreamPort: number) => {
    let armed = false
    const sockets = new Set<Socket>()
    const server = createServer((client) => {
      const upstream = netConnect(upstreamPort, "127.0.0.1")
      sockets.add(client).add(upstream)
      const close = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on("error", close).on("close", close)
      upstream.on("error", close).on("close", close)
      client.pipe(upstream)
      let sinceArmed = 0
      upstream.on("data", (data: Buffer) => {
        for (let i = 0; i < data.length; i += 1000) {
          const piece = data.subarray(i, i + 1000)
          if (armed) {
            sinceArmed += piece.length
            if (sinceArmed > 300_000) {
              armed = false
              client.resetAndDestroy()
              upstream.destroy()
              return
            }
          }
          client.write(piece)
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    return {
      port: (server.address() as AddressInfo).port,
      arm: () => void (armed = true),
      close: () => {
        for (const s of sockets) s.destroy()
        return new Promise<void>((resolve) => server.close(() => resolve()))
      },
    }
  }

  it("a reply cut off by a lost connection leaves nothing behind: after reconnecting, a large znode reads back whole, and one in a thousand pieces too", async () => {
    const proxy = await choppingProxy(zkPort())
    try {
      const direct = await connect()
      const path = `${freshRoot()}-large`
      const data = Buffer.from(Array.from({ length: 800_000 }, (_, i) => (i * 7919) % 251))
      await direct.create(path, data)
      const zk = await connect(`127.0.0.1:${proxy.port}`, { operationTimeoutMs: 10_000 })
      expect((await zk.getData(path)).data.equals(data)).toBe(true)
      proxy.arm()
      // The first attempt may fail (connection lost mid-reply) or be retried by the client: either
      // way, every read after the reconnect is whole.
      await zk.getData(path).catch(() => undefined)
      await waitFor(async () => ((await zk.getData(path).catch(() => undefined))?.data.equals(data) ? true : undefined), { timeoutMs: 30_000, what: "the large znode read whole after the reconnect" })
      for (let i = 0; i < 3; i++) expect((await zk.getData(path)).data.equals(data)).toBe(true)
      await direct.remove(path)
    } finally {
      await proxy.close()
    }
  })
})
