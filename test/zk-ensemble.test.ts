/**
 * The three-server ensemble harness (test/zk-ensemble.ts) does what fault tests rely on: it serves,
 * survives a leader kill -9 and a paused follower without losing data, and its per-client gate's
 * cut and freeze reach a real client (the project's ZkClient on node-zookeeper-client).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ZK, ZkClient, zkCode } from "../log/zk-client.ts"
import { uniqueRoot, waitFor } from "./services.ts"
import { startEnsemble, type ZooKeeperEnsemble } from "./zk-ensemble.ts"
import { serverVersion } from "./zookeeper.ts"

let zk: ZooKeeperEnsemble
const clients: ZkClient[] = []

beforeAll(async () => {
  zk = await startEnsemble()
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await zk?.destroy()
})

const client = async (connectString: string, sessionTimeoutMs = 10_000): Promise<ZkClient> => {
  const c = await ZkClient.connect(connectString, { sessionTimeoutMs, operationTimeoutMs: 5_000 }, 30_000)
  clients.push(c)
  return c
}

/**
 * Creates `path` with `data`, retrying while the ensemble is unavailable. A retry after a lost
 * reply may find the node already made by the first try: that counts if it holds the same data.
 */
const createSurely = (c: ZkClient, path: string, data: string) =>
  waitFor(
    async () => {
      try {
        await c.create(path, Buffer.from(data))
      } catch (error) {
        if (zkCode(error) !== ZK.Exception.NODE_EXISTS) throw error
        const stored = (await c.getData(path)).data.toString()
        if (stored !== data) throw new Error(`${path} holds ${stored}, not ${data}`)
      }
      return true
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `create ${path}` },
  )

/** `promise`, or a failure naming `what` after `ms`. */
const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** All children of `root` with their data, as { name: data }. */
const contents = async (c: ZkClient, root: string): Promise<Record<string, string>> => {
  const names = (await c.getChildren(root)).sort()
  const entries = await Promise.all(names.map(async (n) => [n, (await c.getData(`${root}/${n}`)).data.toString()] as const))
  return Object.fromEntries(entries)
}

const expected = (prefix: string, n: number): Record<string, string> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${String(i).padStart(3, "0")}`, `value-${prefix}${i}`]))

describe("ZooKeeper ensemble harness", () => {
  it("serves as one ensemble of 3.9.5 servers: one leader, two followers, a write through one server is read through each", async () => {
    const leader = await zk.leader()
    const modes = await Promise.all(zk.members.map((m) => m.mode()))
    expect(modes.filter((m) => m === "leader")).toHaveLength(1)
    expect(modes.filter((m) => m === "follower")).toHaveLength(2)
    expect(await leader.mode()).toBe("leader")
    for (const m of zk.members) expect(await serverVersion(m.clientPort)).toBe("3.9.5")

    const root = uniqueRoot("ensemble-serves")
    const writer = await client(zk.member(1).connectString)
    await writer.create(root, Buffer.from("hello"))
    for (const m of zk.members) {
      const reader = await client(m.connectString)
      const data = await waitFor(() => reader.getDataIfExists(root), { what: `${root} on server ${m.id}` })
      expect(data.toString()).toBe("hello")
    }
  })

  it("after a leader kill -9 a new leader is elected, writes continue, and nothing written before is lost", async () => {
    const root = uniqueRoot("ensemble-leader-kill")
    const c = await client(zk.connectString)
    await c.create(root)
    for (const [name, data] of Object.entries(expected("a", 50))) await c.create(`${root}/${name}`, Buffer.from(data))

    const old = await zk.leader()
    await old.kill()
    const next = await zk.leader()
    expect(next.id).not.toBe(old.id)

    for (const [name, data] of Object.entries(expected("b", 20))) await createSurely(c, `${root}/${name}`, data)
    const all = { ...expected("a", 50), ...expected("b", 20) }
    expect(await waitFor(() => contents(c, root), { what: "reading back" })).toEqual(all)

    // The killed leader comes back as a follower with everything (its own fsynced log plus the sync).
    await old.start()
    expect(await old.mode()).toBe("follower")
    const direct = await client(old.connectString)
    await waitFor(async () => ((await direct.getChildren(root)).length === 70 ? true : undefined), { what: "the old leader catching up" })
    expect(await contents(direct, root)).toEqual(all)
  })

  it("a paused (SIGSTOP) follower does not stop writes, and catches up when resumed", async () => {
    const leader = await zk.leader()
    const follower = zk.members.find((m) => m.id !== leader.id)!
    const others = zk.members.filter((m) => m !== follower)
    const root = uniqueRoot("ensemble-paused-follower")
    const c = await client(zk.connectStringOf(others))
    await c.create(root)

    follower.pause()
    try {
      expect(follower.paused).toBe(true)
      expect(await follower.mode()).toBeUndefined()
      // Every write succeeds on the first try: the leader and the other follower are a quorum.
      const t0 = performance.now()
      for (const [name, data] of Object.entries(expected("p", 30))) await c.create(`${root}/${name}`, Buffer.from(data))
      expect(performance.now() - t0).toBeLessThan(15_000)
      expect(await zk.leader()).toBe(leader)
    } finally {
      follower.resume()
    }
    const direct = await client(follower.connectString)
    await waitFor(async () => ((await direct.getChildren(root)).length === 30 ? true : undefined), { what: "the follower catching up" })
    expect(await contents(direct, root)).toEqual(expected("p", 30))
  })

  it("a cut gate disconnects its client at once (others unaffected); restored within the session timeout, the session lives on", async () => {
    const gate = await zk.gate()
    const gated = await client(gate.connectString, 10_000)
    const observer = await client(zk.connectString)
    const root = uniqueRoot("ensemble-gate-cut")
    await observer.create(root)
    await gated.create(`${root}/mine`, null, ZK.CreateMode.EPHEMERAL)
    let expired = false
    gated.on("expired", () => (expired = true))

    const disconnected = new Promise<void>((resolve) => gated.once("disconnected", resolve))
    gate.cut()
    await within(disconnected, 5_000, "the client's disconnect")
    expect(gated.isConnected).toBe(false)
    await expect(gated.exists(root)).rejects.toMatchObject({ _tag: "LogUnavailable" })
    await observer.create(`${root}/still-served`) // the ensemble itself is fine

    gate.restore()
    await gated.waitConnected(15_000)
    expect(expired).toBe(false)
    expect(await gated.exists(`${root}/mine`)).toBeDefined()
    await waitFor(async () => ((await observer.getChildren(root)).sort().join() === "mine,still-served" ? true : undefined), {
      what: "both nodes seen by the observer",
    })
    await gate.close()
  })

  it("a gate frozen past the session timeout expires its client's session: its ephemeral node goes, the client disconnects, and learns of the expiry on restore", async () => {
    const gate = await zk.gate()
    const sessionTimeoutMs = 2_000
    const gated = await client(gate.connectString, sessionTimeoutMs)
    const observer = await client(zk.connectString)
    const root = uniqueRoot("ensemble-gate-freeze")
    await observer.create(root)
    await gated.create(`${root}/mine`, null, ZK.CreateMode.EPHEMERAL)
    const expired = new Promise<void>((resolve) => gated.once("expired", resolve))
    const disconnected = new Promise<void>((resolve) => gated.once("disconnected", resolve))

    gate.freeze()
    const frozenAt = performance.now()
    await waitFor(async () => ((await observer.exists(`${root}/mine`)) === undefined ? true : undefined), {
      timeoutMs: 20_000,
      what: "the server expiring the frozen session",
    })
    expect(performance.now() - frozenAt).toBeGreaterThanOrEqual(sessionTimeoutMs - 500)
    // Unanswered pings tell the client too, before the gate opens again.
    await within(disconnected, 10_000, "the frozen client's disconnect")
    expect(gated.isConnected).toBe(false)

    gate.restore()
    await within(expired, 15_000, "the client's session expiry")
    // ZkClient opens a new session by itself.
    await gated.waitConnected(15_000)
    await gated.create(`${root}/again`, null, ZK.CreateMode.EPHEMERAL)
    // The observer may be on another server, a moment behind.
    await waitFor(async () => ((await observer.getChildren(root)).join() === "again" ? true : undefined), { what: "the new ephemeral" })
    await gate.close()
  })
})
