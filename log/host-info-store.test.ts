import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { HostHeldByAnotherAgent, type HostInfo, type HostInfoStore } from "../core/host-info.ts"
import { uniqueRoot, zkConnect } from "../test/services.ts"
import { LocalHostInfoStore } from "./sqlite-host-info-store.ts"
import { ZkClient } from "./zk-client.ts"
import { ZkHostInfoStore } from "./zk-host-info-store.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c()
})

const info = (agentId: string, now = Date.now()): HostInfo => ({
  hostname: "h",
  uname: "Linux h 6.0.0 #1 x86_64",
  architecture: "x64",
  osName: "Linux",
  osVersion: "6.0.0",
  cpus: 2,
  loadAvg: [0.1, 0.2, 0.3],
  memoryTotalBytes: 4 * 2 ** 30,
  memoryFreeBytes: 2 ** 30,
  swapTotalBytes: 0,
  swapFreeBytes: 0,
  dockerVersion: { version: "memory", apiVersion: "1.41" },
  agentId,
  agentVersion: "0.1.0",
  startTime: now - 1000,
  uptimeMs: 1000,
  labels: { role: "web" },
  environment: { A: "1" },
  updatedAt: now,
})

const suite = (name: string, open: () => Promise<{ a: HostInfoStore; b: HostInfoStore; reader: HostInfoStore }>) =>
  describe(`host info store: ${name}`, () => {
    it("keeps the latest value per host", async () => {
      const { a, reader } = await open()
      expect(await reader.get("h1")).toBeUndefined()
      const first = info("agent-a")
      await a.put("h1", first)
      await a.put("h1", { ...first, loadAvg: [9, 9, 9] })
      expect((await reader.get("h1"))?.loadAvg).toEqual([9, 9, 9])
      expect((await reader.get("h1"))?.labels).toEqual({ role: "web" })
      expect(await reader.get("h2")).toBeUndefined()
    })

    it("marks a host up and down; another agent id cannot take a live host", async () => {
      const { a, b, reader } = await open()
      expect(await reader.isUp("h3")).toBe(false)
      expect(await a.markUp("h3", "agent-a")).toBe(true)
      expect(await a.markUp("h3", "agent-a")).toBe(false)
      expect(await reader.isUp("h3")).toBe(true)
      await expect(b.markUp("h3", "agent-b")).rejects.toBeInstanceOf(HostHeldByAnotherAgent)
      await a.markDown("h3")
      expect(await reader.isUp("h3")).toBe(false)
      expect(await b.markUp("h3", "agent-b")).toBe(true)
    })
  })

suite("ZooKeeper", async () => {
  const root = uniqueRoot("host-info")
  const zks = await Promise.all([0, 1, 2].map(() => ZkClient.connect(zkConnect())))
  cleanups.push(async () => {
    for (const z of zks) await z.close()
  })
  const [a, b, r] = zks.map((z) => new ZkHostInfoStore(z, root))
  return { a: a!, b: b!, reader: r! }
})

suite("local SQLite (solo mode)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "helios-hostinfo-"))
  const file = join(dir, "hostinfo.db")
  const [a, b, r] = [0, 1, 2].map(() => new LocalHostInfoStore(file))
  cleanups.push(async () => {
    for (const s of [a, b, r]) await s!.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { a: a!, b: b!, reader: r! }
})
