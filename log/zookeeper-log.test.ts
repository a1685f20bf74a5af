import { randomUUID } from "node:crypto"
import { describe, expect, it, afterAll } from "vitest"
import { LogUnavailable } from "../core/event-log.ts"
import { MalformedEvent } from "../core/codec.ts"
import { position } from "../core/ids.ts"
import { hostUp } from "../test/event-fixtures.ts"
import { zkConnect } from "../test/services.ts"
import { startZooKeeper } from "../test/zookeeper.ts"
import { eventLogConformance } from "./conformance.ts"
import { ZkClient } from "./zk-client.ts"
import { ZooKeeperEventLog } from "./zookeeper-log.ts"
import { zkPaths } from "./zk-paths.ts"

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

eventLogConformance("ZooKeeper", async () => {
  const root = freshRoot()
  const open = async () => ZooKeeperEventLog.open(await connect(), { root, segmentSize: SEGMENT })
  const log = await open()
  return {
    log,
    segmentSize: SEGMENT,
    openAnother: open,
    // Every append was acknowledged by a quorum write; a new session must see all of them.
    reopen: async () => {
      await log.close()
      return open()
    },
  }
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
    let drops = 1
    const lossy = new Proxy(zk, {
      get(target, prop, receiver) {
        if (prop === "multi")
          return async (build: Parameters<ZkClient["multi"]>[0]) => {
            const result = await target.multi(build)
            if (drops-- > 0) throw new LogUnavailable({ reason: "connection lost (injected)" })
            return result
          }
        const value = Reflect.get(target, prop, receiver)
        return typeof value === "function" ? value.bind(target) : value
      },
    })
    const log = await ZooKeeperEventLog.open(lossy, { root, segmentSize: SEGMENT })
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
    let drops = 2
    const lossy = new Proxy(zk, {
      get(target, prop, receiver) {
        if (prop === "multi")
          return async (build: Parameters<ZkClient["multi"]>[0]) => {
            if (drops-- > 0) throw new LogUnavailable({ reason: "connection lost (injected)" })
            return target.multi(build)
          }
        const value = Reflect.get(target, prop, receiver)
        return typeof value === "function" ? value.bind(target) : value
      },
    })
    const log = await ZooKeeperEventLog.open(lossy, { root, segmentSize: SEGMENT })
    await log.append([hostUp("h1", "a")])
    await log.append([hostUp("h1", "b")])
    expect((await log.read(position(0))).map((e) => e.position)).toEqual([1, 2])
  })

  it("a batch that cannot be decoded is a typed MalformedEvent, not a crash", async () => {
    const root = freshRoot()
    const zk = await connect()
    const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT })
    await log.append([hostUp("h1", "good")])
    const paths = zkPaths(root)
    await zk.create(paths.log.entry(0, 2), Buffer.from([0xc1, 0x00, 0xff]))
    await expect(log.read(position(0))).rejects.toBeInstanceOf(MalformedEvent)
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
