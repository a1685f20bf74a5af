/**
 * The end of a task is in the history: however a deployment goes away (undeploy, the host
 * deregistered, the job expired), the agent records the container's STOPPING and STOPPED (goal
 * UNDEPLOY, with its id), or EXITED when it had exited unseen, and the task does not come back in
 * the fleet state. A real master on real ZooKeeper, the agent's facts relayed through it as
 * `helios agent` sends them; the in-memory runtime, since this is about what gets recorded (the
 * real engine's undeploy is covered end to end in cli/e2e-flow.ts).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { HostName } from "../core/ids.ts"
import type { Job } from "../core/job.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot, waitFor } from "../test/services.ts"
import { startAgent, type Agent, type AgentOptions } from "./agent.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { MasterRelayLog, zkMasterUrls } from "./master-relay.ts"
import { MemoryRuntime } from "./memory-runtime.ts"
import { FAST_IN_MEMORY as fast } from "../test/agent-helpers.ts"

const IMAGE = "helios-test/web:latest"
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface AuditEntry {
  readonly type: string
  readonly position: number
  readonly state?: string
  readonly goal?: string
  readonly containerId?: string
}

const setup = async (name: string, extra: Partial<AgentOptions> = {}) => {
  const master = await startTestMaster(uniqueRoot(name), `${name}-master`)
  cleanups.push(() => master.stop())
  const dir = mkdtempSync(join(tmpdir(), `helios-${name}-`))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const h = host(`${name}-h1`)
  const runtime = new MemoryRuntime({ localImages: [IMAGE] })
  const relay = new MasterRelayLog({ direct: master.log, host: h, masters: zkMasterUrls(master.zk, master.root) })
  /** Starts (or restarts, on the same state dir) the host's agent. */
  const start = async (): Promise<Agent> => {
    const agent = await startAgent({
      log: relay,
      hostInfo: new ZkHostInfoStore(master.zk, master.root),
      runtime,
      zk: master.zk,
      zkRoot: master.root,
      hostName: h,
      stateDir: join(dir, "agent"),
      ...fast,
      ...extra,
    })
    cleanups.push(() => agent.stop())
    await agent.registered
    return agent
  }
  const ok = async (method: string, path: string, body?: unknown) => {
    const res = await master.call(method, path, body)
    expect({ method, path, status: res.status, body: res.body }).toMatchObject({ status: 200 })
    return res.body
  }
  /** Creates and deploys the job, and waits until its container runs; returns the container id. */
  const runJob = async (job: Job): Promise<string> => {
    await ok("POST", "/jobs", job)
    await ok("PUT", `/hosts/${h}/jobs/${job.id}`, { goal: "START" })
    return waitFor(
      async () => {
        const status = (await master.call("GET", `/jobs/${job.id}/status`)).body
        const task = status?.taskStatuses?.[h]
        return task?.state === "RUNNING" ? (task.containerId as string) : undefined
      },
      { what: `${job.id} RUNNING` },
    )
  }
  return { master, h, runtime, relay, start, ok, runJob }
}

/** The job's audit trail from the master, once it holds an entry `until` accepts. */
const historyUntil = (master: TestMaster, jobId: string, until: (audit: AuditEntry[]) => boolean, what: string) =>
  waitFor(
    async () => {
      const res = await master.call("GET", `/history/jobs/${jobId}`)
      const audit = (res.body?.audit ?? []) as AuditEntry[]
      return until(audit) ? audit : undefined
    },
    { timeoutMs: 30_000, what },
  )

const story = (audit: ReadonlyArray<AuditEntry>) => audit.map((e) => (e.type === "TaskStateChanged" ? `${e.state}/${e.goal}` : e.type))
const hasState = (state: string) => (audit: AuditEntry[]) => audit.some((e) => e.state === state && e.goal === "UNDEPLOY")
/** Everything from the last `undeployed` on. */
const afterUndeploy = (audit: ReadonlyArray<AuditEntry>) => story(audit.slice(audit.map((e) => e.type).lastIndexOf("JobUndeployed")))

describe("the end of a task in the history", () => {
  it("undeploy: undeployed, then STOPPING and STOPPED with the container id; no task left in the status", async () => {
    const { master, h, runtime, relay, start, ok, runJob } = await setup("end-undeploy")
    await start()
    const job = aJob({ id: "end-undeploy:v1" })
    const containerId = await runJob(job)
    await ok("DELETE", `/hosts/${h}/jobs/${job.id}`)
    const audit = await historyUntil(master, job.id, hasState("STOPPED"), "STOPPED")
    expect(afterUndeploy(audit)).toEqual(["JobUndeployed", "STOPPING/UNDEPLOY", "STOPPED/UNDEPLOY"])
    expect(audit.filter((e) => e.goal === "UNDEPLOY").map((e) => e.containerId)).toEqual([containerId, containerId])
    await waitFor(() => (runtime.containers().length === 0 ? true : undefined), { what: "the container removed" })
    const status = (await master.call("GET", `/jobs/${job.id}/status?after=${audit.at(-1)!.position}`)).body
    expect([status.deployments, status.taskStatuses]).toEqual([{}, {}])
    expect(relay.counts.relayed).toBeGreaterThan(0)
    expect(relay.counts.direct).toBe(0)
  })

  it("a host deregistered while its agent runs: the agent stops the container and records it; the host does not come back", async () => {
    const { master, h, runtime, start, ok, runJob } = await setup("end-dereg")
    await start()
    const job = aJob({ id: "end-dereg:v1" })
    const containerId = await runJob(job)
    await ok("DELETE", `/hosts/${h}`)
    const audit = await historyUntil(master, job.id, hasState("STOPPED"), "STOPPED")
    expect(afterUndeploy(audit)).toEqual(["JobUndeployed", "STOPPING/UNDEPLOY", "STOPPED/UNDEPLOY"])
    expect(audit.at(-1)!.containerId).toBe(containerId)
    await waitFor(() => (runtime.containers().length === 0 ? true : undefined), { what: "the container removed" })
    const hosts = (await master.call("GET", `/hosts?after=${audit.at(-1)!.position}`)).body
    expect(hosts).not.toContain(h)
  })

  it("a host deregistered while its agent is down: on its return the agent registers again, stops the container and records it", async () => {
    const { master, h, runtime, start, ok, runJob } = await setup("end-dereg-down")
    const agent = await start()
    const job = aJob({ id: "end-dereg-down:v1" })
    const containerId = await runJob(job)
    await agent.stop()
    await ok("DELETE", `/hosts/${h}`)
    expect(runtime.running().map((c) => c.id)).toEqual([containerId]) // nobody there to stop it
    await start()
    const audit = await historyUntil(master, job.id, hasState("STOPPED"), "STOPPED")
    expect(afterUndeploy(audit)).toEqual(["JobUndeployed", "STOPPING/UNDEPLOY", "STOPPED/UNDEPLOY"])
    expect(audit.at(-1)!.containerId).toBe(containerId)
    await waitFor(() => (runtime.containers().length === 0 ? true : undefined), { what: "the container removed" })
    const hostStatus = (await master.call("GET", `/hosts/${h}/status?after=${audit.at(-1)!.position}`)).body
    expect([hostStatus.jobs, hostStatus.statuses]).toEqual([{}, {}])
  })

  it("a job that expires: undeployed and removed by the master, STOPPING and STOPPED by the agent", async () => {
    const { master, runtime, start, runJob } = await setup("end-expiry")
    await start()
    const job = aJob({ id: "end-expiry:v1", expires: Date.now() + 3_000 })
    const containerId = await runJob(job)
    const audit = await historyUntil(master, job.id, (a) => hasState("STOPPED")(a) && a.some((e) => e.type === "JobRemoved"), "STOPPED and removed")
    // `removed` may land before or after the agent's reports; the rest is in this order.
    expect(afterUndeploy(audit).filter((x) => x !== "JobRemoved")).toEqual(["JobUndeployed", "STOPPING/UNDEPLOY", "STOPPED/UNDEPLOY"])
    expect(audit.at(-1)!.containerId ?? audit.at(-2)!.containerId).toBe(containerId)
    expect(audit.filter((e) => e.type === "JobUndeployed" || e.type === "JobRemoved").map((e) => (e as { actor?: string }).actor)).toEqual([
      "master:end-expiry-master",
      "master:end-expiry-master",
    ])
    await waitFor(() => (runtime.containers().length === 0 ? true : undefined), { what: "the container removed" })
    expect((await master.call("GET", `/jobs/${job.id}`)).status).toBe(404)
  })

  it("a container that exited while the agent was down ends as EXITED (goal UNDEPLOY), with no STOPPING", async () => {
    const { master, h, runtime, start, ok, runJob } = await setup("end-exited")
    const agent = await start()
    const job = aJob({ id: "end-exited:v1" })
    const containerId = await runJob(job)
    await agent.stop()
    runtime.die(containerId, 3)
    await ok("DELETE", `/hosts/${h}/jobs/${job.id}`)
    await start()
    const audit = await historyUntil(master, job.id, hasState("EXITED"), "EXITED")
    await waitFor(() => (runtime.containers().length === 0 ? true : undefined), { what: "the container removed" })
    expect(afterUndeploy(audit)).toEqual(["JobUndeployed", "EXITED/UNDEPLOY"])
    expect(audit.at(-1)!.containerId).toBe(containerId)
  })

  it("a task whose exit is already in the history gets nothing more", async () => {
    const slow = { minimumMs: 60_000, normalMs: 60_000, flappingMs: 60_000, imageMissingMs: 60_000, imagePullFailedMs: 60_000 }
    const { master, h, runtime, start, ok, runJob } = await setup("end-already", { restartDelays: slow })
    const agent = await start()
    const job = aJob({ id: "end-already:v1" })
    const containerId = await runJob(job)
    runtime.die(containerId, 3)
    await historyUntil(master, job.id, (a) => a.some((e) => e.state === "EXITED"), "EXITED")
    await ok("DELETE", `/hosts/${h}/jobs/${job.id}`)
    await waitFor(() => (runtime.containers().length === 0 ? true : undefined), { what: "the container removed" })
    await agent.flushed()
    const audit = await historyUntil(master, job.id, (a) => a.some((e) => e.type === "JobUndeployed"), "undeployed")
    expect(story(audit).slice(-2)).toEqual(["EXITED/START", "JobUndeployed"])
  })
})
