/**
 * The whole agent against the in-memory runtime and an embedded (SQLite, in-memory) log: fast checks
 * of the reconcile logic, fault injection the real engine cannot do on demand.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { HostName } from "../core/ids.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor } from "../test/services.ts"
import { startAgent, type Agent, type AgentOptions } from "./agent.ts"
import { LocalHostInfoStore } from "../log/sqlite-host-info-store.ts"
import { MemoryRuntime } from "./memory-runtime.ts"
import { StateDirLocked } from "./state-dir.ts"
import { bareSpec, deploy, FAST_IN_MEMORY as fast, hostEvents, lastTask, setGoal, taskEvents, undeploy } from "../test/agent-helpers.ts"

const IMAGE = "helios-test/web:latest"
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})


const setup = (runtime = new MemoryRuntime({ localImages: [IMAGE] })) => {
  const dir = mkdtempSync(join(tmpdir(), "helios-agent-mem-"))
  const log = new SqliteEventLog(":memory:")
  const hostInfo = new LocalHostInfoStore(join(dir, "hostinfo.db"))
  cleanups.push(async () => {
    await log.close()
    await hostInfo.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const agents: Agent[] = []
  const start = async (name: HostName = host("mem1"), extra: Partial<AgentOptions> = {}) => {
    const agent = await startAgent({ log, hostInfo, runtime, hostName: name, stateDir: join(dir, name), ...fast, ...extra })
    agents.push(agent)
    cleanups.push(() => agent.stop())
    return agent
  }
  return { dir, log, hostInfo, runtime, start, agents }
}

describe("agent (in-memory runtime)", () => {
  it("registers once, marks the host up, and runs a deployed job through every state", async () => {
    const { log, runtime, hostInfo, start } = setup()
    const h = host("mem1")
    const agent = await start(h)
    await agent.registered
    expect(await hostInfo.isUp(h)).toBe(true)
    const job = aJob({ id: "mem-web:v1" })
    await deploy(log, job, h)
    const running = await waitFor(async () => {
      const t = await lastTask(log, h, job.id)
      return t?.state === "RUNNING" ? t : undefined
    })
    const events = await taskEvents(log, h, job.id)
    expect(events.map((e) => e.state)).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    expect(running.containerId).toBe(runtime.running()[0]?.id)
    expect(running.ports?.["http"]?.externalPort).toBeGreaterThanOrEqual(20000)
    expect(running.env?.["HELIOS_PORT_http"]).toBe(`mem1:${running.ports?.["http"]?.externalPort}`)
    const tags = (await hostEvents(log, h)).map((e) => e.envelope.event._tag)
    expect(tags.slice(0, 2)).toEqual(["HostRegistered", "HostWentUp"])

    // A restart of the agent registers nothing new.
    await agent.stop()
    const again = await start(h)
    await again.registered
    const tags2 = (await hostEvents(log, h)).map((e) => e.envelope.event._tag)
    expect(tags2.filter((t) => t === "HostRegistered")).toHaveLength(1)
    expect(tags2.filter((t) => t === "HostWentUp")).toHaveLength(2)
  })

  it("refuses a second agent on the same state dir", async () => {
    const { start } = setup()
    await start(host("mem1"))
    await expect(start(host("mem1"))).rejects.toBeInstanceOf(StateDirLocked)
  })

  it("restarts a container that dies, and adopts the running one after an agent restart", async () => {
    const { log, runtime, start } = setup()
    const h = host("mem1")
    const job = aJob({ id: "mem-die:v1" })
    const agent = await start(h)
    await deploy(log, job, h)
    const first = await waitFor(async () => (await lastTask(log, h, job.id))?.state === "RUNNING" ? runtime.running()[0]?.id : undefined)
    runtime.die(first, 137)
    const second = await waitFor(async () => {
      const t = await lastTask(log, h, job.id)
      return t?.state === "RUNNING" && t.containerId !== first ? t.containerId : undefined
    })
    const states = (await taskEvents(log, h, job.id)).map((e) => e.state)
    expect(states).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING", "EXITED", "PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    expect(runtime.containers()).toHaveLength(1) // the dead one was removed before the new one was made

    const ports = agent.executions().get(job.id)?.ports
    expect(ports?.["http"]).toBeGreaterThanOrEqual(20000)
    await agent.stop()
    const creates = runtime.calls.create
    const pulls = runtime.calls.pull
    const before = (await taskEvents(log, h, job.id)).length
    const again = await start(h)
    await again.reconcile()
    await again.reconcile()
    expect(runtime.running().map((c) => c.id)).toEqual([second])
    expect(again.executions().get(job.id)?.ports).toEqual(ports)
    expect(runtime.calls.create).toBe(creates)
    expect(runtime.calls.pull).toBe(pulls)
    expect((await taskEvents(log, h, job.id)).length).toBe(before)
  })

  it("stops on STOP, starts again on START, stops and removes on undeploy", async () => {
    const { log, runtime, start } = setup()
    const h = host("mem1")
    const job = aJob({ id: "mem-goal:v1" })
    await start(h)
    await deploy(log, job, h)
    await waitFor(async () => ((await lastTask(log, h, job.id))?.state === "RUNNING" ? true : undefined))
    await setGoal(log, job, h, "STOP")
    await waitFor(async () => ((await lastTask(log, h, job.id))?.state === "STOPPED" ? true : undefined))
    expect(runtime.running()).toHaveLength(0)
    const stopStates = (await taskEvents(log, h, job.id)).slice(-2)
    expect(stopStates.map((e) => [e.state, e.goal])).toEqual([
      ["STOPPING", "STOP"],
      ["STOPPED", "STOP"],
    ])
    await setGoal(log, job, h, "START")
    await waitFor(async () => ((await lastTask(log, h, job.id))?.state === "RUNNING" ? true : undefined))
    expect(runtime.running()).toHaveLength(1)
    await undeploy(log, job, h)
    await waitFor(() => (runtime.containers().length === 0 ? true : undefined))
  })

  it("waits the job's grace period between STOPPING and docker stop", async () => {
    const { log, runtime, start } = setup()
    const h = host("mem1")
    const job = aJob({ id: "mem-grace:v1", gracePeriod: 1, ports: null })
    await start(h)
    await deploy(log, job, h)
    await waitFor(async () => ((await lastTask(log, h, job.id))?.state === "RUNNING" ? true : undefined))
    await setGoal(log, job, h, "STOP")
    await waitFor(async () => ((await taskEvents(log, h, job.id)).some((e) => e.state === "STOPPING") ? true : undefined))
    const t0 = Date.now()
    expect(runtime.running()).toHaveLength(1) // still serving during the grace period
    await waitFor(async () => ((await lastTask(log, h, job.id))?.state === "STOPPED" ? true : undefined))
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700)
    expect(runtime.running()).toHaveLength(0)
  })

  it("reports a missing image as FAILED with IMAGE_MISSING and its error", async () => {
    const { log, start } = setup()
    const h = host("mem1")
    const job = aJob({ id: "mem-missing:v1", image: "nowhere/missing:1" })
    await start(h)
    await deploy(log, job, h)
    const failed = await waitFor(async () => {
      const t = await lastTask(log, h, job.id)
      return t?.state === "FAILED" ? t : undefined
    })
    expect(failed.throttled).toBe("IMAGE_MISSING")
    expect(failed.error).toMatch(/not found/)
  })

  it("detects flapping", async () => {
    const runtime = new MemoryRuntime({ localImages: [IMAGE], behaviour: () => ({ exitAfterMs: 5, exitCode: 1 }) })
    const { log, start } = setup(runtime)
    const h = host("mem1")
    const job = aJob({ id: "mem-flap:v1" })
    await start(h, { flapping: { restartCount: 3, windowMs: 10_000 } })
    await deploy(log, job, h)
    const flapping = await waitFor(async () => (await taskEvents(log, h, job.id)).find((e) => e.throttled === "FLAPPING"))
    expect(flapping.state).toBe("EXITED")
  })

  it("keeps containers when the runtime is unavailable, and goes on when it is back", async () => {
    const { log, runtime, start } = setup()
    const h = host("mem1")
    const job = aJob({ id: "mem-unavail:v1" })
    const agent = await start(h)
    await deploy(log, job, h)
    const id = await waitFor(async () => ((await lastTask(log, h, job.id))?.state === "RUNNING" ? runtime.running()[0]?.id : undefined))
    runtime.setUnavailable(true)
    await agent.reconcile()
    await agent.reconcile()
    runtime.setUnavailable(false)
    await agent.reconcile()
    expect(runtime.running().map((c) => c.id)).toEqual([id])
    expect((await lastTask(log, h, job.id))?.state).toBe("RUNNING")
  })

  it("picks new ports when a start fails because its port is taken", async () => {
    const { log, runtime, start } = setup()
    const h = host("mem1")
    const job = aJob({ id: "mem-port:v1" })
    const agent = await start(h)
    runtime.failNextStart("port is already allocated", { portInUse: true })
    await deploy(log, job, h)
    await waitFor(async () => ((await lastTask(log, h, job.id))?.state === "RUNNING" ? true : undefined))
    const events = await taskEvents(log, h, job.id)
    const failed = events.find((e) => e.state === "FAILED")!
    const running = events.at(-1)!
    expect(failed.error).toMatch(/port is already allocated/)
    expect(running.ports?.["http"]?.externalPort).not.toBe(failed.ports?.["http"]?.externalPort)
    expect(agent.executions().get(job.id)?.ports?.["http"]).toBe(running.ports?.["http"]?.externalPort)
  })

  it("a second agent id on a host that is up under another agent registers nothing and runs nothing", async () => {
    const { log, runtime, start, dir } = setup()
    const h = host("mem1")
    const first = await start(h)
    await first.registered
    const job = aJob({ id: "mem-owner:v1" })
    await deploy(log, job, h)
    await waitFor(async () => ((await lastTask(log, h, job.id))?.state === "RUNNING" ? true : undefined))
    const intruder = await start(h, { stateDir: join(dir, "intruder") })
    expect(intruder.agentId).not.toBe(first.agentId)
    await intruder.reconcile()
    await intruder.reconcile()
    expect(runtime.containers()).toHaveLength(1)
    expect(runtime.containers()[0]!.spec.labels["helios.agent"]).toBe(first.agentId)
    expect(intruder.executions().size).toBe(0)
    const registrations = (await hostEvents(log, h)).filter((e) => e.envelope.event._tag === "HostRegistered")
    expect(registrations).toHaveLength(1)
  })

  it("reaps containers in its namespace that no deployment owns, and leaves others alone", async () => {
    const { log, runtime, start } = setup()
    const h = host("mem1")
    const agent = await start(h)
    await agent.registered
    const job = aJob({ id: "mem-reap:v1" })
    await deploy(log, job, h)
    await waitFor(async () => ((await lastTask(log, h, job.id))?.state === "RUNNING" ? true : undefined))
    const orphan = await runtime.create(bareSpec("orphan", { "helios.agent": agent.agentId, "helios.host": h, "helios.job": "gone:v1:" + "0".repeat(40) }, IMAGE))
    const foreign = await runtime.create(bareSpec("foreign", { "helios.agent": "someone-else", "helios.host": h, "helios.job": "gone:v1:" + "0".repeat(40) }, IMAGE))
    await agent.reconcile()
    await agent.reconcile()
    const ids = runtime.containers().map((c) => c.id)
    expect(ids).not.toContain(orphan)
    expect(ids).toContain(foreign)
    expect(runtime.running()).toHaveLength(1)
  })
})
