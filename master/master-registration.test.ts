/**
 * The master's entry under /masters when ZooKeeper fails while it is written again (after a session
 * expiry): the failure is said once on stderr, never an unhandled rejection (which ends a Node
 * process), and the write is tried again at the next reconnect. A fake session here, since this is
 * about our error handling, not ZooKeeper's behaviour; the real one (an entry left by an earlier run
 * of the same master) is in the last test.
 */
import { EventEmitter } from "node:events"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { LogUnavailable } from "../core/event-log.ts"
import { ZK, ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { startTestMaster } from "../test/master-fixture.ts"
import { uniqueRoot, zkConnect } from "../test/services.ts"
import { RepeatedFailureLog } from "./failure-log.ts"
import { MasterRegistration, type RegistrationZk } from "./master-registration.ts"

/** A ZooKeeper session whose next answers the test sets; records the entries created. */
class FakeZk extends EventEmitter {
  isConnected = true
  created: string[] = []
  failNext: Error | undefined
  private watchers = new Map<string, () => void>()

  private maybeFail(): Promise<void> {
    const e = this.failNext
    return e ? Promise.reject(e) : Promise.resolve()
  }
  async ensurePath(): Promise<void> {
    await this.maybeFail()
  }
  async create(path: string): Promise<string> {
    await this.maybeFail()
    this.created.push(path)
    return path
  }
  async exists(path: string, watcher?: () => void) {
    await this.maybeFail()
    if (watcher) this.watchers.set(path, watcher)
    return {} as never
  }
  async remove(): Promise<void> {}
  async getChildrenIfExists(): Promise<string[]> {
    return []
  }
  // What the registration used before it handled failures itself.
  async waitConnected(): Promise<void> {}

  /** ZooKeeper expired the session; a new one is being opened (not yet connected). */
  expire() {
    this.isConnected = false
    this.emit("disconnected")
    this.emit("expired")
  }
  connect() {
    this.isConnected = true
    this.emit("connected")
  }
}

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
beforeEach(() => {
  unhandled.length = 0
  process.on("unhandledRejection", onUnhandled)
})
afterEach(() => {
  process.off("unhandledRejection", onUnhandled)
})

const settle = () => new Promise((resolve) => setTimeout(resolve, 20))
const lost = () => new LogUnavailable({ reason: "ZooKeeper connection lost during mkdirp /helios/masters" })

describe("re-announcing after a session expiry", () => {
  const setup = () => {
    const zk = new FakeZk()
    const lines: string[] = []
    const registration = new MasterRegistration(zk as unknown as RegistrationZk, zkPaths("/helios"), "m1", new RepeatedFailureLog((l) => lines.push(l)))
    return { zk, lines, registration }
  }

  it("a failing write is said once, no unhandled rejection, and tried again at the next reconnect", async () => {
    const { zk, lines, registration } = setup()
    await registration.announce("http://127.0.0.1:5801")
    expect(zk.created).toEqual(["/helios/masters/m1"])

    zk.expire()
    zk.failNext = lost() // the new session connects, then loses ZooKeeper again mid-write
    zk.connect()
    await settle()
    expect(unhandled).toEqual([])
    expect(lines).toEqual([expect.stringMatching(/announcing this master .*\/helios\/masters\/m1.* failed: .*connection lost.*tried again at the next reconnect/)])
    expect(zk.created).toHaveLength(1)

    // Still failing at the next reconnect: nothing more said.
    zk.emit("disconnected")
    zk.isConnected = false
    zk.connect()
    await settle()
    expect(lines).toHaveLength(1)

    zk.failNext = undefined
    zk.emit("disconnected")
    zk.isConnected = false
    zk.connect()
    await expect.poll(() => zk.created).toEqual(["/helios/masters/m1", "/helios/masters/m1"])
    expect(lines[1]).toMatch(/announcing this master .* succeeded again/)
    expect(unhandled).toEqual([])
  })

  it("a reconnect within the same session writes nothing", async () => {
    const { zk, registration } = setup()
    await registration.announce("http://127.0.0.1:5801")
    zk.emit("disconnected")
    zk.isConnected = false
    zk.connect()
    await settle()
    expect(zk.created).toHaveLength(1)
  })

  it("after stopReannouncing nothing is written", async () => {
    const { zk, registration } = setup()
    await registration.announce("http://127.0.0.1:5801")
    registration.stopReannouncing()
    zk.expire()
    zk.connect()
    await settle()
    expect(zk.created).toHaveLength(1)
  })
})

describe("on real ZooKeeper", () => {
  it("an entry left by an earlier run of the same master (its session not yet ended) is written again once it goes", async () => {
    const root = uniqueRoot("reg-stale")
    const paths = zkPaths(root)
    // The earlier run: killed, its session still alive.
    const earlier = await ZkClient.connect(zkConnect(), { sessionTimeoutMs: 4_000 })
    const watcher = await ZkClient.connect(zkConnect())
    try {
      await earlier.ensurePath(paths.masters)
      await earlier.create(paths.master("m-stale"), Buffer.from("http://127.0.0.1:1"), ZK.CreateMode.EPHEMERAL)
      const m = await startTestMaster(root, "m-stale")
      try {
        // The earlier run's session ends (closed here; ZooKeeper expires it after a kill -9).
        await earlier.close()
        await expect
          .poll(async () => (await watcher.getDataIfExists(paths.master("m-stale")))?.toString(), { timeout: 15_000, interval: 100 })
          .toBe(m.url)
        expect((await m.call("GET", "/masters")).body).toEqual(["m-stale"])
      } finally {
        await m.stop()
      }
    } finally {
      await earlier.close()
      await watcher.close()
    }
  })
})
