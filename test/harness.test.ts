/**
 * Smoke test of the test harness itself: the run's ZooKeeper answers, and the local test image
 * runs, serves HTTP on a published 127.0.0.1 port and stops promptly.
 */
import { createRequire } from "node:module"
import { afterAll, describe, expect, it } from "vitest"
import { docker, removeContainersByLabel, TEST_IMAGE, TEST_IMAGE_TEXT } from "./docker.ts"
import { uniqueRoot, waitFor, zkConnect } from "./services.ts"
import { serverVersion } from "./zookeeper.ts"

// node-zookeeper-client ships no types; this test only needs a few calls.
type Callback<T> = (error: Error | null, result: T) => void
interface ZkClient {
  connect(): void
  close(): void
  once(event: "connected", listener: () => void): void
  create(path: string, data: Buffer, callback: Callback<string>): void
  getData(path: string, callback: (error: Error | null, data: Buffer | undefined) => void): void
  removeRecursive(path: string, callback: (error: Error | null) => void): void
}
const zookeeper = createRequire(import.meta.url)("node-zookeeper-client") as {
  createClient(connectString: string, options?: { sessionTimeout?: number }): ZkClient
}

function connectZk(connectString: string): Promise<ZkClient> {
  return new Promise((resolve, reject) => {
    const client = zookeeper.createClient(connectString, { sessionTimeout: 10_000 })
    const timer = setTimeout(() => {
      client.close()
      reject(new Error(`could not connect to ZooKeeper at ${connectString}`))
    }, 15_000)
    client.once("connected", () => {
      clearTimeout(timer)
      resolve(client)
    })
    client.connect()
  })
}

const call = <T>(fn: (cb: (error: Error | null, result: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((error, result) => (error ? reject(error) : resolve(result))))

/** "3.9.5" -> [3, 9, 5] compared part by part. */
const atLeast = (version: string, minimum: string): boolean => {
  const a = version.split(".").map(Number)
  const b = minimum.split(".").map(Number)
  for (let i = 0; i < b.length; i++) if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i]!
  return true
}

describe("ZooKeeper from global setup", () => {
  it("is 3.9.5 or newer (3.8 loses committed transactions when servers crash during sync)", async () => {
    const port = Number(zkConnect().split(":")[1])
    const version = await serverVersion(port)
    expect(atLeast(version, "3.9.5"), `ZooKeeper ${version}`).toBe(true)
    expect(atLeast("3.8.0", "3.9.5")).toBe(false) // the comparison itself tells 3.8 apart
    expect(atLeast("3.10.0", "3.9.5")).toBe(true)
  })

  it("creates and reads a node under a unique root", async () => {
    const root = uniqueRoot("harness")
    expect(root).toMatch(/^\/t-harness-[0-9a-f]{12}$/)
    expect(uniqueRoot("harness")).not.toBe(root)
    const client = await connectZk(zkConnect())
    try {
      await call<string>((cb) => client.create(root, Buffer.from("root"), cb))
      const path = await call<string>((cb) => client.create(`${root}/hello`, Buffer.from("world"), cb))
      expect(path).toBe(`${root}/hello`)
      const data = await call<Buffer | undefined>((cb) => client.getData(path, cb))
      expect(data?.toString()).toBe("world")
      await call<void>((cb) => client.removeRecursive(root, (err) => cb(err, undefined)))
    } finally {
      client.close()
    }
  })
})

describe("test image", () => {
  const label = "helios-test=harness"
  afterAll(() => removeContainersByLabel(label))

  it("serves its index page on a published 127.0.0.1 port and stops promptly", async () => {
    const container = await docker().createContainer({
      Image: TEST_IMAGE,
      Labels: { "helios-test": "harness" },
      ExposedPorts: { "80/tcp": {} },
      // HostPort "" lets the engine pick a free port: no race with other tests.
      HostConfig: { PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } },
    })
    try {
      await container.start()
      const info = await container.inspect()
      const hostPort = info.NetworkSettings.Ports["80/tcp"]?.[0]?.HostPort
      expect(hostPort).toMatch(/^\d+$/)
      const body = await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${hostPort}/`, { signal: AbortSignal.timeout(2_000) })
          const text = await res.text()
          return res.ok && text.includes(TEST_IMAGE_TEXT) ? text : undefined
        },
        { timeoutMs: 30_000, what: "HTTP from the test image" },
      )
      expect(body).toContain(TEST_IMAGE_TEXT)

      const t0 = performance.now()
      await container.stop({ t: 10 })
      expect(performance.now() - t0).toBeLessThan(5_000) // SIGTERM is handled, no 10 s grace wait
      expect((await container.inspect()).State.ExitCode).toBe(0)
    } finally {
      await container.remove({ force: true }).catch(() => undefined)
    }
  })

  it("runs other commands from busybox, e.g. sh -c 'exit 3'", async () => {
    const container = await docker().createContainer({
      Image: TEST_IMAGE,
      Cmd: ["sh", "-c", "exit 3"],
      Labels: { "helios-test": "harness" },
    })
    try {
      await container.start()
      const result = (await container.wait()) as { StatusCode: number }
      expect(result.StatusCode).toBe(3)
    } finally {
      await container.remove({ force: true }).catch(() => undefined)
    }
  })
})
