/**
 * dockerd restarts under a running agent (agent/main.ts as a child) on a disposable engine
 * (test/disposable-dockerd.ts), so the shared engine is never touched. Without live-restore a
 * restarted dockerd stops the containers it finds running (a killed one leaves them to their shims,
 * and shuts them down when it comes back; a stopped one stops them on the way down), and our
 * containers have no restart policy: the agent must notice and run them again. Afterwards every job
 * has one running container on its old port, the history shows EXITED and the way back to RUNNING,
 * and the host never went DOWN (the agent's ZooKeeper session was never in question).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { RuntimeEvent } from "../core/container-runtime.ts"
import type { HostName } from "../core/ids.ts"
import type { Job } from "../core/job.ts"
import { agentProcesses, type AgentProcess } from "../test/agent-process.ts"
import { TEST_IMAGE, TEST_IMAGE_TEXT } from "../test/docker.ts"
import { disposableDockerdUnavailable, startDisposableDockerd, type DisposableDockerd } from "../test/disposable-dockerd.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor } from "../test/services.ts"
import { dockerAgentFixture, httpGet, RUN_LABEL_KEY, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import { DockerRuntime } from "./docker-runtime.ts"
import { bareSpec, deploy, hostEvents, lastTask, taskEvents } from "../test/agent-helpers.ts"

const unavailable = disposableDockerdUnavailable()
const agents = agentProcesses()
let engine: DisposableDockerd | undefined
let fx: DockerAgentFixture | undefined

beforeAll(async () => {
  if (unavailable !== undefined) return
  engine = await startDisposableDockerd()
  await engine.loadImage(TEST_IMAGE)
  fx = await dockerAgentFixture("dockerd-restart")
}, 60_000)

afterAll(async () => {
  agents.killAll()
  await fx?.cleanup()
  await engine?.destroy()
}, 60_000)

const jobs = [aJob({ id: "dr-a:v1" }), aJob({ id: "dr-b:v1" })]

describe.skipIf(unavailable !== undefined)(`dockerd restart under a running agent${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  // First: the engine runs without live-restore here.
  it("the runtime's event stream resumes where it broke: the die of a container a restarted dockerd stopped arrives", async () => {
    const e = engine!
    const runtime = new DockerRuntime(e.docker, { eventsRetryMs: 100 })
    const labels = { [RUN_LABEL_KEY]: fx!.runId, "helios-test-case": "events" }
    const id = await runtime.create(bareSpec(`events-${fx!.runId}`, labels))
    await runtime.start(id)
    const events: RuntimeEvent[] = []
    const unwatch = runtime.watch(labels, (ev) => events.push(ev))
    try {
      // The stream is live once it delivers something.
      const probe = await runtime.create(bareSpec(`events-probe-${fx!.runId}`, labels))
      await waitFor(() => events.find((ev) => ev.containerId === probe && ev.action === "create"), { what: "the probe's create event" })
      await runtime.remove(probe)
      await e.kill("SIGKILL")
      await e.start()
      await waitFor(() => events.find((ev) => ev.containerId === id && ev.action === "die"), { timeoutMs: 15_000, what: "the die event of the stopped container" })
    } finally {
      unwatch()
      await runtime.remove(id)
    }
  }, 60_000)

  it("after kill -9 and after a graceful restart, each job runs again in one container on its port; with live-restore it keeps its container; the host stays UP", async () => {
    const f = fx!
    const e = engine!
    const h = host("dockerd-restart-h1")
    const agent = agents.spawn(f, h, { env: { DOCKER_HOST: e.dockerHost } })
    await agent.saw((l) => l["event"] === "registered", "registered")
    for (const job of jobs) await deploy(f.log, job, h)
    let running = await allRunning(f, h, new Map())
    const ports = new Map([...running].map(([id, t]) => [id, t.ports!["http"]!.externalPort!]))
    for (const port of ports.values()) expect(await waitFor(() => httpGet(port), { timeoutMs: 30_000, what: `port ${port} served` })).toContain(TEST_IMAGE_TEXT)
    const hostTagsBefore = await hostTags(f, h)

    for (const signal of ["SIGKILL", "SIGTERM"] as const) {
      const before = running
      const historyBefore = new Map(await Promise.all(jobs.map(async (j) => [j.id, (await taskEvents(f.log, h, j.id)).length] as const)))
      await e.kill(signal)
      // The graceful round brings the engine back with live-restore, for the round after the loop.
      await e.start({ liveRestore: signal === "SIGTERM" })
      const t0 = performance.now()
      running = await allRunning(f, h, before)
      console.log(`dockerd ${signal} + restart: both jobs RUNNING again ${(performance.now() - t0).toFixed(0)} ms after the engine answered`)

      const containers = await e.docker.listContainers({ all: true, filters: { label: [f.label] } })
      for (const job of jobs) {
        const mine = containers.filter((c) => c.Labels["helios.job"] === job.id)
        expect(mine.map((c) => ({ id: c.Id, state: c.State })), `${job.id} after ${signal}`).toEqual([{ id: running.get(job.id)!.containerId, state: "running" }])
        expect(running.get(job.id)!.ports!["http"]!.externalPort).toBe(ports.get(job.id))
        expect(await waitFor(() => httpGet(ports.get(job.id)!), { timeoutMs: 30_000, what: `${job.id} served after ${signal}` })).toContain(TEST_IMAGE_TEXT)
        const history = (await taskEvents(f.log, h, job.id)).slice(historyBefore.get(job.id)!)
        const since = history.map((t) => t.state)
        const told = `${job.id} history after ${signal}: ${history.map((t) => `${t.state}${t.error ? ` (${t.error})` : ""}`).join(", ")}`
        expect(since[0], told).toBe("EXITED")
        // Then a clean run; before it, attempts that met the engine going or still away may have
        // FAILED (e.g. "docker pull: ENOENT", or a start refused by a daemon shutting down).
        expect(since.slice(-4), told).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
        expect(since.filter((s) => s === "FAILED").length, told).toBeLessThanOrEqual(3)
      }
      expect(containers).toHaveLength(jobs.length)
      expect(await f.containers()).toEqual([]) // and nothing strayed onto the shared engine
      // The engine going away is not the host going away: no DOWN, no re-registration.
      expect(await hostTags(f, h)).toEqual(hostTagsBefore)
      expect(agent.child.exitCode).toBeNull()
    }

    // With live-restore the containers outlive a killed dockerd: the agent adopts them as they are.
    const [a, b] = jobs as [Job, Job]
    const eventsBefore = await Promise.all(jobs.map(async (j) => (await taskEvents(f.log, h, j.id)).length))
    const startedB = (await e.docker.getContainer(running.get(b.id)!.containerId!).inspect()).State.StartedAt
    await e.kill("SIGKILL")
    await e.start({ liveRestore: true })
    for (const port of ports.values())
      await waitFor(() => httpGet(port), { timeoutMs: 30_000, what: `port ${port} served again after a live restore` })
    // The agent watches the engine again: a container that dies now is replaced as usual...
    await e.docker.getContainer(running.get(a.id)!.containerId!).kill()
    await allRunning(f, h, running, [a])
    expect((await taskEvents(f.log, h, a.id)).slice(eventsBefore[0]).map((t) => t.state)).toEqual(["EXITED", "PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    // ...while the survivor was never restarted and never reported anything.
    expect((await lastTask(f.log, h, b.id))?.containerId).toBe(running.get(b.id)!.containerId)
    const infoB = await e.docker.getContainer(running.get(b.id)!.containerId!).inspect()
    expect({ running: infoB.State.Running, startedAt: infoB.State.StartedAt }).toEqual({ running: true, startedAt: startedB })
    expect((await taskEvents(f.log, h, b.id)).length).toBe(eventsBefore[1])
    expect(await e.docker.listContainers({ all: true, filters: { label: [f.label] } })).toHaveLength(jobs.length)
    expect(await hostTags(f, h)).toEqual(hostTagsBefore)
    await stop(agent)
  }, 120_000)
})

/** Waits until each job's task is RUNNING in a container other than the one in `before`. */
const allRunning = async (f: DockerAgentFixture, h: HostName, before: ReadonlyMap<string, { containerId?: string | undefined }>, which = jobs) =>
  new Map(
    await Promise.all(
      which.map(
        async (job) =>
          [
            job.id,
            await waitFor(
              async () => {
                const t = await lastTask(f.log, h, job.id)
                return t?.state === "RUNNING" && t.containerId !== undefined && t.containerId !== before.get(job.id)?.containerId ? t : undefined
              },
              { timeoutMs: 45_000, what: `${job.id} RUNNING in a new container` },
            ),
          ] as const,
      ),
    ),
  )

const hostTags = async (f: DockerAgentFixture, h: HostName) =>
  (await hostEvents(f.log, h)).map((e) => e.envelope.event._tag).filter((t) => t.startsWith("Host"))

const stop = async (agent: AgentProcess) => {
  agent.child.kill("SIGTERM")
  await agent.exited
}
