/**
 * A container that exits while its agent is down is reported EXITED when the agent comes back,
 * before it is replaced (it went from RUNNING straight to PULLING_IMAGE: the crash was in no
 * history and not counted for flapping). On the in-memory runtime, one state dir across restarts.
 */
import { afterEach, describe, expect, it } from "vitest"
import { deploy, taskEvents } from "../test/agent-helpers.ts"
import { memoryAgent } from "../test/memory-agent.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor } from "../test/services.ts"

const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe("a container that exits while the agent is down", () => {
  it("is reported EXITED when the agent is back, then restarted", async () => {
    const { log, runtime, host: h, start, close } = memoryAgent("downtime")
    cleanups.push(close)
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
