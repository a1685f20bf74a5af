/**
 * Two allocations at once (a supervisor moving its job off a port Docker said was taken, and a
 * reconcile pass giving a new job its ports, both waiting on slow bind checks) never hand out the
 * same port: they take turns, each seeing what the one before recorded. On the in-memory runtime.
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

describe("port allocation", () => {
  it("a reallocation after 'port is already allocated' and a new job's allocation at the same time get different ports; the moved job fails once, not twice", async () => {
    const { log, runtime, host: h, start, close } = memoryAgent("port-race", { latencyMs: 300 })
    cleanups.push(close)
    const agent = await start({
      portRange: "20000:20010",
      // A loaded host's bind check: slow; every port is free.
      portProbe: () => new Promise((resolve) => setTimeout(() => resolve(true), 500)),
    })
    const y = aJob({ id: "race-y:v1" })
    const x = aJob({ id: "race-x:v1" })
    runtime.failNextStart("Bind for 0.0.0.0:20000 failed: port is already allocated", { portInUse: true })
    await deploy(log, y, h)
    // Y is starting (its start fails after 300 ms): deploy X now, so both allocate at once.
    await waitFor(async () => ((await taskEvents(log, h, y.id)).some((e) => e.state === "STARTING") ? true : undefined), { what: "Y STARTING" })
    await deploy(log, x, h)
    const portsOf = (id: string) => agent.executions().get(id)?.ports
    await waitFor(
      async () => {
        const ys = await taskEvents(log, h, y.id)
        const xs = await taskEvents(log, h, x.id)
        return ys.at(-1)?.state === "RUNNING" && xs.at(-1)?.state === "RUNNING" ? true : undefined
      },
      { timeoutMs: 30_000, what: "both RUNNING" },
    )
    expect(portsOf(y.id)!["http"]).not.toBe(portsOf(x.id)!["http"])
    expect((await taskEvents(log, h, y.id)).filter((e) => e.state === "FAILED")).toHaveLength(1)
  })
})
