import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import type { EventEnvelope } from "../core/events.ts"
import { ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { hostUp } from "./event-fixtures.ts"
import { readAll } from "./log-conformance.ts"
import { masterProcess, type MasterProcess } from "./master-process.ts"
import { uniqueRoot, waitFor, zkConnect } from "./services.ts"

/*
 * A master killed (kill -9) while it packs the log's sealed segments, on real ZooKeeper: started
 * again, it reads the whole log back (a cold start, no state dir: through chunks, per-position
 * znodes and a half-packed segment), serves every event once, in order, and finishes the packing.
 * The log has 3.5 segments of 10,000 positions: segments 0 and 1 are packed (one sealed segment is
 * kept as it is below the newest).
 */

const EVENTS = 35_000
const BATCH = 100
const root = uniqueRoot("pack-restart")
const paths = zkPaths(root)
const dir = mkdtempSync(join(tmpdir(), "helios-pack-restart-"))
const masters: MasterProcess[] = []
let zk: ZkClient | undefined

afterAll(async () => {
  for (const m of masters) await m.kill()
  await zk?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Every event the master serves on GET /events, as position and command id. */
const servedEvents = async (master: MasterProcess): Promise<string[]> => {
  const res = await fetch(`${master.url}/events`, { signal: AbortSignal.timeout(120_000) })
  expect(res.status).toBe(200)
  const lines = (await res.text()).split("\n").filter((l) => l !== "")
  return lines.map((l) => {
    const e = JSON.parse(l) as { position: number; commandId?: string }
    return `${e.position} ${e.commandId}`
  })
}

const health = async (master: MasterProcess) =>
  fetch(`${master.url}/healthz`, { signal: AbortSignal.timeout(10_000) }).then(
    async (r) => ({ status: r.status, body: (await r.json()) as { status: string; position: number } }),
    () => undefined,
  )

describe("packing sealed segments on real ZooKeeper", () => {
  it("a master killed while packing comes back consistent: it serves every event once, in order, and finishes the packing", async () => {
    zk = await ZkClient.connect(zkConnect())
    const log = await ZooKeeperEventLog.open(zk, { root })
    for (let b = 0; b < EVENTS / BATCH; b++) {
      const events: EventEnvelope[] = Array.from({ length: BATCH }, (_, i) => ({ ...hostUp(`h${i % 5}`, `b${b}-${i}`), commandId: `b${b}` }))
      await log.append(events)
    }
    const expected = (await readAll(log)).map((e) => `${e.position} ${e.envelope.commandId}`)
    expect(expected.length).toBe(EVENTS)

    const master = await masterProcess({ name: "pack-a", zkConnect: zkConnect(), root, dir, args: ["--pack-interval", "0.2"] })
    masters.push(master)
    // Killed as soon as it starts writing segment 0's chunks: packing both segments takes longer.
    await waitFor(async () => ((await zk!.exists(paths.log.packedSegment(0))) !== undefined ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 10,
      what: "the master to start packing segment 0",
    })
    await master.kill()
    const mark = await zk.getDataIfExists(paths.log.packed)
    const markText = mark?.toString() ?? ""
    expect(markText, "the kill came before the packing was done").not.toContain(`"through":1`)

    await master.start()
    await waitFor(async () => ((await health(master))?.body.position === EVENTS ? true : undefined), {
      timeoutMs: 120_000,
      what: `the restarted master to fold all ${EVENTS} events`,
    })
    expect((await health(master))?.status).toBe(200)
    expect(await servedEvents(master)).toEqual(expected)

    // It finishes the packing: segments 0 and 1 packed, their per-position znodes gone.
    await waitFor(async () => ((await zk!.getDataIfExists(paths.log.packed))?.toString() === JSON.stringify({ through: 1 }) ? true : undefined), {
      timeoutMs: 120_000,
      what: "segments 0 and 1 packed",
    })
    await waitFor(async () => ((await zk!.exists(paths.log.segment(1))) === undefined ? true : undefined), { timeoutMs: 60_000, what: "segment 1's znodes removed" })
    expect(await zk.exists(paths.log.segment(0))).toBeUndefined()
    expect((await zk.exists(paths.log.segment(2)))?.numChildren).toBe(10_000)
    // A fresh reader and the master read the same log as before.
    const reader = await ZooKeeperEventLog.open(zk, { root })
    expect((await readAll(reader)).map((e) => `${e.position} ${e.envelope.commandId}`)).toEqual(expected)
    expect(await servedEvents(master)).toEqual(expected)
  }, 300_000)
})
