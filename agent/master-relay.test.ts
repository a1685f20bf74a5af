/**
 * An agent whose facts reach the log through a master (agent/master-relay.ts), on real ZooKeeper and
 * a real master, with the in-memory runtime (the relay is about the log, not the engine). What a user
 * relies on: the deployment reaches RUNNING through the master; with the master gone the agent
 * appends itself; and a relayed append whose answer is lost is neither lost nor written twice.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { envelopeOf } from "../core/envelope.ts"
import type { HostName } from "../core/ids.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot, waitFor } from "../test/services.ts"
import { startAgent } from "./agent.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { MasterRelayLog, stableIndex, zkMasterUrls } from "./master-relay.ts"
import { MemoryRuntime } from "./memory-runtime.ts"
import { deploy, FAST_IN_MEMORY as fast, hostEvents, lastTask } from "../test/agent-helpers.ts"

const IMAGE = "helios-test/web:latest"
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})


const setup = async (name: string) => {
  const master = await startTestMaster(uniqueRoot(name), `${name}-master`)
  cleanups.push(() => master.stop())
  const dir = mkdtempSync(join(tmpdir(), `helios-${name}-`))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const root = master.root
  const startRelayedAgent = async (h: HostName, masters: () => Promise<ReadonlyArray<string>>, timeoutMs = 30_000) => {
    const relay = new MasterRelayLog({ direct: master.log, host: h, masters, timeoutMs, avoidMs: 60_000 })
    const agent = await startAgent({
      log: relay,
      hostInfo: new ZkHostInfoStore(master.zk, root),
      runtime: new MemoryRuntime({ localImages: [IMAGE] }),
      zk: master.zk,
      zkRoot: root,
      hostName: h,
      stateDir: join(dir, h),
      ...fast,
    })
    cleanups.push(() => agent.stop())
    return { agent, relay }
  }
  return { master, root, startRelayedAgent }
}

/** Every TaskStateChanged of the host, as "state" strings in log order. */
const taskStates = async (m: TestMaster, h: HostName) =>
  (await hostEvents(m.log, h)).flatMap((e) => (e.envelope.event._tag === "TaskStateChanged" ? [e.envelope.event.state] : []))

const untilRunning = (m: TestMaster, h: HostName, jobId: string) =>
  waitFor(async () => ((await lastTask(m.log, h, jobId))?.state === "RUNNING" ? true : undefined), { what: `RUNNING on ${h}` })

describe("an agent relaying its facts through a master", () => {
  it("registers and reports every transition through the master announced in ZooKeeper", async () => {
    const { master, root, startRelayedAgent } = await setup("relay-ok")
    const h = host("relay-ok-h1")
    const { agent, relay } = await startRelayedAgent(h, zkMasterUrls(master.zk, root))
    await agent.registered
    const job = aJob({ id: "relay-web:v1" })
    expect((await master.call("POST", "/jobs", job)).status).toBe(200)
    expect((await master.call("PUT", `/hosts/${h}/jobs/${job.id}`, { goal: "START" })).status).toBe(200)
    await untilRunning(master, h, job.id)
    const status = await waitFor(async () => {
      const s = (await master.call("GET", `/jobs/${job.id}/status`)).body
      return s?.taskStatuses?.[h]?.state === "RUNNING" ? s : undefined
    })
    expect(status.deployments[h].goal).toBe("START")
    expect(await taskStates(master, h)).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    expect(relay.counts.direct).toBe(0)
    expect(relay.counts.relayed).toBeGreaterThanOrEqual(2) // registration + up, then the transitions
  })

  it("appends itself when no master answers, and nothing is lost", async () => {
    const { master, startRelayedAgent } = await setup("relay-gone")
    const h = host("relay-gone-h1")
    // A master that was announced but is gone: its port refuses connections.
    const gone = await closedPortUrl()
    const { agent, relay } = await startRelayedAgent(h, async () => [gone])
    await agent.registered
    const job = aJob({ id: "relay-gone-web:v1" })
    await deploy(master.log, job, h)
    await untilRunning(master, h, job.id)
    expect(await taskStates(master, h)).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    expect(relay.counts.relayed).toBe(0)
    expect(relay.counts.direct).toBeGreaterThan(0)
  })

  it("writes a fact exactly once when the master appended it but its answer was lost", async () => {
    const { master, startRelayedAgent } = await setup("relay-lost")
    const h = host("relay-lost-h1")
    // A front that forwards each request to the master, lets the append happen, and never answers.
    const swallowed: string[] = []
    const front = await listen(
      createServer((req, res) => {
        const chunks: Buffer[] = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          void fetch(master.url + req.url, { method: req.method ?? "POST", headers: { "content-type": "application/json" }, body: Buffer.concat(chunks) })
            .then((r) => r.text())
            .then(() => {
              swallowed.push(req.url ?? "")
              res.socket?.destroy()
            })
        })
      }),
    )
    cleanups.push(() => new Promise<void>((r) => front.close(() => r())))
    const { agent, relay } = await startRelayedAgent(h, async () => [urlOf(front)], 1_000)
    await agent.registered
    const job = aJob({ id: "relay-lost-web:v1" })
    await deploy(master.log, job, h)
    await untilRunning(master, h, job.id)
    await agent.flushed()
    expect(swallowed.length).toBeGreaterThan(0) // the master did append through the front at least once
    const tags = (await hostEvents(master.log, h)).map((e) => e.envelope.event._tag)
    expect(tags.filter((t) => t === "HostRegistered")).toHaveLength(1)
    expect(await taskStates(master, h)).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    const ids = (await hostEvents(master.log, h)).flatMap((e) => (e.envelope.commandId ? [e.envelope.commandId] : []))
    expect(new Set(ids).size).toBe(ids.length)
    expect(relay.counts.direct).toBeGreaterThan(0) // after the lost answer the agent went on by itself
  })
})

describe("a master cut off from ZooKeeper (it answers 503)", () => {
  it("is passed over for another master; the agent never appends by itself because of it", async () => {
    const { master, startRelayedAgent } = await setup("relay-cutoff")
    let refused = 0
    const cutOff = await listen(
      createServer((req, res) => {
        req.resume()
        req.on("end", () => {
          refused++
          res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ status: "LOG_UNAVAILABLE", message: "ZooKeeper unreachable" }))
        })
      }),
    )
    cleanups.push(() => new Promise<void>((r) => cutOff.close(() => r())))
    const urls = [urlOf(cutOff), master.url].sort()
    // A host whose usual master is the cut-off one, so that it is met first.
    const name = Array.from({ length: 50 }, (_, i) => `relay-cutoff-h${i}`).find((n) => urls[stableIndex(n, 2)] === urlOf(cutOff))!
    const h = host(name)
    const { agent, relay } = await startRelayedAgent(h, async () => urls)
    await agent.registered
    const job = aJob({ id: "relay-cutoff-web:v1" })
    await deploy(master.log, job, h)
    await untilRunning(master, h, job.id)
    expect(refused).toBeGreaterThan(0)
    expect(relay.counts.direct).toBe(0)
    expect(await taskStates(master, h)).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
  })
})

describe("a relayed append over the master's body limit", () => {
  it("is appended by the agent itself (the log takes up to 1 MB), not dropped", async () => {
    const { master, root } = await setup("relay-big")
    const h = host("relay-big-h1")
    const relay = new MasterRelayLog({ direct: master.log, host: h, masters: zkMasterUrls(master.zk, root) })
    const big = envelopeOf(
      { _tag: "TaskStateChanged", jobId: aJob().id, host: h, state: "FAILED", goal: "START", throttled: "NO", error: "x".repeat(600_000) },
      { at: 1_700_000_000_000, actor: { kind: "agent", name: "agent-big" }, commandId: "agent-big-1" },
    )
    const r = await relay.append([big])
    expect(relay.counts).toMatchObject({ relayed: 0, direct: 1 })
    const stream = await hostEvents(master.log, h)
    expect(stream.map((e) => [e.position, e.envelope.commandId])).toEqual([[r.lastPosition, "agent-big-1"]])
  })
})

const listen = (server: Server): Promise<Server> => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)))
const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as { port: number }).port}`
const closedPortUrl = async () => {
  const s = await listen(createServer())
  const url = urlOf(s)
  await new Promise<void>((r) => s.close(() => r()))
  return url
}
