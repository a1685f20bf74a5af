/**
 * A container that exits while its agent is down is reported EXITED when the agent comes back,
 * before it is replaced (it went from RUNNING straight to PULLING_IMAGE: the crash was in no
 * history and not counted for flapping). On the in-memory runtime, one state dir across restarts.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { LocalHostInfoStore } from "../log/sqlite-host-info-store.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { deploy, FAST_IN_MEMORY, taskEvents } from "../test/agent-helpers.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor } from "../test/services.ts"
import { startAgent } from "./agent.ts"
import { silentLogger } from "./logger.ts"
import { MemoryRuntime } from "./memory-runtime.ts"

const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe("a container that exits while the agent is down", () => {
  it("is reported EXITED when the agent is back, then restarted", async () => {
    const dir = mkdtempSync(join(tmpdir(), "helios-downtime-exit-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const log = new SqliteEventLog(":memory:")
    cleanups.push(() => log.close())
    const hostInfo = new LocalHostInfoStore(join(dir, "host-info.db"))
    cleanups.push(() => hostInfo.close())
    const runtime = new MemoryRuntime({ localImages: ["helios-test/web:latest"] })
    const h = host("downtime-h1")
    const start = async () => {
      const agent = await startAgent({ log, hostInfo, runtime, hostName: h, stateDir: join(dir, "state"), ...FAST_IN_MEMORY, logger: silentLogger })
      cleanups.push(() => agent.stop())
      await agent.registered
      return agent
    }
    const job = aJob({ id: "downtime:v1" })
    const states = async () => (await taskEvents(log, h, job.id)).map((e) => e.state)
    const first = await start()
    await deploy(log, job, h)
    await waitFor(async () => ((await states()).at(-1) === "RUNNING" ? true : undefined), { what: "RUNNING" })
    await first.stop()
    const crashed = runtime.running()[0]!
    runtime.die(crashed.id, 3)
    await start()
    await waitFor(async () => ((await states()).filter((s) => s === "RUNNING").length === 2 ? true : undefined), { timeoutMs: 30_000, what: "RUNNING again" })
    const after = (await taskEvents(log, h, job.id)).slice(4)
    expect(after.map((e) => e.state)).toEqual(["EXITED", "PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    expect(after[0]!.containerId).toBe(crashed.id)
    expect(runtime.running().map((c) => c.id)).not.toContain(crashed.id)
  })
})
