/**
 * A master under overload sheds agents' facts with 503 OVERLOADED + Retry-After instead of queueing
 * them until the agents time out (master/routes/agent-facts.ts), and an agent honours it
 * (agent/master-relay.ts, agent/outbox.ts): it waits and sends again through the same master,
 * never racing the master for the log's positions by appending itself, and every fact lands once.
 * Real master, real ZooKeeper; the log is slowed for one host only, standing in for a slow
 * ZooKeeper that keeps the relay's appends in flight.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { envelopeOf } from "../core/envelope.ts"
import type { EventLog } from "../core/event-log.ts"
import type { EventEnvelope } from "../core/events.ts"
import { hostsOf } from "../core/events.ts"
import type { HostName } from "../core/ids.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { FAST_IN_MEMORY as fast, hostEvents, lastTask } from "./agent-helpers.ts"
import { host } from "./event-fixtures.ts"
import { aJob } from "./fixtures.ts"
import { uniqueRoot, waitFor, zkConnect } from "./services.ts"
import { startAgent } from "../agent/agent.ts"
import { MasterRelayLog } from "../agent/master-relay.ts"
import { MemoryRuntime } from "../agent/memory-runtime.ts"

const IMAGE = "helios-test/web:latest"
const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/**
 * The log, with the appends that concern `slowHost` held until released (a slow ZooKeeper, for that
 * host only); with `factsOnly`, only its agent's facts (so the master's own commands go through).
 */
const withSlowHost = (log: EventLog, slowHost: string, factsOnly = false) => {
  let gate: Promise<void> | undefined
  let open = () => {}
  let waiting = 0
  const slowed: EventLog = {
    read: (after, limit) => log.read(after, limit),
    head: () => log.head(),
    readHostStream: (h, after, limit) => log.readHostStream(h, after, limit),
    subscribe: (after, onEvents, onUndecodable) => log.subscribe(after, onEvents, onUndecodable),
    subscribeHostStream: (h, after, onEvents, onUndecodable) => log.subscribeHostStream(h, after, onEvents, onUndecodable),
    close: () => log.close(),
    append: async (events, options) => {
      if (gate !== undefined && events.some((e) => hostsOf(e.event).includes(slowHost as HostName) && (!factsOnly || e.actor.kind === "agent"))) {
        waiting++
        await gate
        waiting--
      }
      return log.append(events, options)
    },
  }
  return {
    log: slowed,
    hold: () => {
      gate = new Promise<void>((r) => (open = r))
    },
    /** Appends of the slow host waiting for release. */
    waiting: () => waiting,
    release: () => {
      gate = undefined
      open()
    },
  }
}

/** The host's stream holds its registration and each task transition exactly once, in order. */
const expectEachFactOnce = async (log: EventLog, h: HostName) => {
  const events = await hostEvents(log, h)
  const states = events.flatMap((e) => (e.envelope.event._tag === "TaskStateChanged" ? [e.envelope.event.state] : []))
  expect(states).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
  expect(events.filter((e) => e.envelope.event._tag === "HostRegistered")).toHaveLength(1)
  const ids = events.flatMap((e) => (e.envelope.commandId ? [e.envelope.commandId] : []))
  expect(new Set(ids).size).toBe(ids.length)
}

const setup = async (name: string, relayMaxInFlight: number, factsOnly = false) => {
  const root = uniqueRoot(name)
  const zk = await ZkClient.connect(zkConnect())
  cleanups.push(() => zk.close())
  const zkLog = await ZooKeeperEventLog.open(zk, { root })
  cleanups.push(() => zkLog.close())
  const slow = withSlowHost(zkLog, `${name}-slow`, factsOnly)
  const master: RunningMaster = await startMaster({
    log: slow.log,
    zk,
    zkRoot: root,
    name: `${name}-master`,
    port: 0,
    bindAddress: "127.0.0.1",
    hostInfo: new ZkHostInfoStore(zk, root),
    relayMaxInFlight,
  })
  cleanups.push(() => master.stop())
  // Released before the master stops (cleanups run last first): a held append would keep it waiting.
  cleanups.push(() => slow.release())
  const dir = mkdtempSync(join(tmpdir(), `helios-${name}-`))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  /** A fact of the slow host, relayed: held in flight while the slow host is held. */
  const slowFact = () => {
    const h = `${name}-slow`
    const envelope: EventEnvelope = envelopeOf(
      { _tag: "HostRegistered", host: host(h), agentId: "agent-slow" as never },
      { at: 1_700_000_000_000, actor: { kind: "agent", name: "agent-slow" }, commandId: `agent-slow-${Math.random().toString(36).slice(2)}` },
    )
    return fetch(`${master.url}/hosts/${h}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ events: [envelope] }) })
  }
  /** An agent (in-memory runtime) whose facts go through `relay`. */
  const startRelayedAgent = async (relay: MasterRelayLog, h: HostName) => {
    const agent = await startAgent({
      log: relay,
      hostInfo: new ZkHostInfoStore(zk, root),
      runtime: new MemoryRuntime({ localImages: [IMAGE] }),
      zk,
      zkRoot: root,
      hostName: h,
      stateDir: join(dir, h),
      ...fast,
    })
    cleanups.push(() => agent.stop())
    return agent
  }
  return { zkLog, slow, master, slowFact, startRelayedAgent }
}

describe("a master whose relay is full", () => {
  it("answers 503 OVERLOADED with Retry-After at once and writes nothing; what it took lands once released", async () => {
    const { zkLog, slow, master, slowFact } = await setup("shed-answer", 2)
    slow.hold()
    const held = [slowFact(), slowFact()]
    // Both are in flight (the master waits for the log): the next agent's facts are shed.
    const h = host("shed-answer-h1")
    const envelope = envelopeOf(
      { _tag: "HostRegistered", host: h, agentId: "agent-1" as never },
      { at: 1_700_000_000_000, actor: { kind: "agent", name: "agent-1" }, commandId: "agent-1-shed" },
    )
    await waitFor(() => (slow.waiting() === 2 ? true : undefined), { what: "two appends in flight" })
    const shed = await fetch(`${master.url}/hosts/${h}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ events: [envelope] }) })
    expect(shed.status).toBe(503)
    const body = (await shed.json()) as { status: string; message: string; retryAfterSeconds: number }
    expect(body.status).toBe("OVERLOADED")
    expect(body.message).toMatch(/nothing was written/)
    expect(shed.headers.get("retry-after")).toMatch(/^[1-9]\d*$/)
    expect(Number(shed.headers.get("retry-after"))).toBe(body.retryAfterSeconds)
    expect(await zkLog.readHostStream(h, 0)).toEqual([])

    slow.release()
    const answers = await Promise.all(held)
    expect(answers.map((r) => r.status)).toEqual([200, 200])
    // With room again, the same facts are taken.
    const again = await fetch(`${master.url}/hosts/${h}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ events: [envelope] }) })
    expect(again.status).toBe(200)
    expect((await zkLog.readHostStream(h, 0)).map((e) => e.envelope.commandId)).toEqual(["agent-1-shed"])
  })
})

describe("an agent relaying through an overloaded master", () => {
  it("waits Retry-After and sends again through it, never appending itself; every fact lands exactly once", async () => {
    const name = "shed-agent"
    const { zkLog, slow, master, slowFact, startRelayedAgent } = await setup(name, 1)
    const h = host(`${name}-h1`)
    const relay = new MasterRelayLog({ direct: zkLog, host: h, masters: async () => [master.url] })
    const call = (method: string, path: string, body?: unknown) =>
      fetch(master.url + path, { method, headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })

    // The relay is full: the agent's registration is shed, and it waits instead of appending itself.
    slow.hold()
    const blocker = slowFact()
    await waitFor(() => (slow.waiting() === 1 ? true : undefined), { what: "the relay full" })
    const agent = await startRelayedAgent(relay, h)
    await waitFor(async () => (relay.counts.shed >= 2 ? true : undefined), { what: "the registration shed twice" })
    expect(relay.counts.direct).toBe(0)
    expect(await zkLog.readHostStream(h, 0)).toEqual([])
    slow.release()
    expect((await blocker).status).toBe(200)
    await agent.registered

    // Full again while the agent reports its task: the reports wait in its outbox, then land once.
    slow.hold()
    const blocker2 = slowFact()
    await waitFor(() => (slow.waiting() === 1 ? true : undefined), { what: "the relay full" })
    const shedBefore = relay.counts.shed
    const job = aJob({ id: `${name}-web:v1` })
    expect((await call("POST", "/jobs", job)).status).toBe(200)
    expect((await call("PUT", `/hosts/${h}/jobs/${job.id}`, { goal: "START" })).status).toBe(200)
    await waitFor(async () => (relay.counts.shed > shedBefore + 1 && agent.pendingEvents().length > 0 ? true : undefined), { what: "task reports shed" })
    expect((await hostEvents(zkLog, h)).filter((e) => e.envelope.event._tag === "TaskStateChanged")).toEqual([])
    slow.release()
    expect((await blocker2).status).toBe(200)
    await waitFor(async () => ((await lastTask(zkLog, h, job.id))?.state === "RUNNING" ? true : undefined), { what: "RUNNING through the master" })
    await agent.flushed()

    await expectEachFactOnce(zkLog, h)
    expect(relay.counts.direct).toBe(0)
    // Shed means not written: the outbox never had to ask the host stream whether they landed.
    expect(agent.outboxCounts().landedChecks).toBe(0)
    // And the API says so.
    const status = await waitFor(async () => {
      const s = (await (await call("GET", `/jobs/${job.id}/status`)).json()) as { taskStatuses?: Record<string, { state?: string }> }
      return s.taskStatuses?.[h]?.state === "RUNNING" ? s : undefined
    })
    expect(status.taskStatuses?.[h]?.state).toBe("RUNNING")
  })
})

describe("an agent whose master answered lately but lost an answer now", () => {
  it("checks the host stream and retries through that master (busy, not gone): nothing written twice, nothing appended by itself", async () => {
    const name = "lost-busy"
    const { zkLog, master, startRelayedAgent } = await setup(name, 256)
    const h = host(`${name}-h1`)
    // A front that forwards every request to the master; the answers to the 2nd and 3rd are lost
    // after the master appended (as a starved agent or a reset keep-alive connection loses them).
    let requests = 0
    const front: Server = createServer((req, res) => {
      const n = ++requests
      const chunks: Buffer[] = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        void fetch(master.url + req.url, { method: req.method ?? "POST", headers: { "content-type": "application/json" }, body: Buffer.concat(chunks) }).then(async (r) => {
          const text = await r.text()
          if (n === 2 || n === 3) return res.socket?.destroy()
          res.writeHead(r.status, { "content-type": "application/json" }).end(text)
        })
      })
    })
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", () => r()))
    cleanups.push(() => new Promise<void>((r) => front.close(() => r())))
    const frontUrl = `http://127.0.0.1:${(front.address() as { port: number }).port}`
    const relay = new MasterRelayLog({ direct: zkLog, host: h, masters: async () => [frontUrl] })
    const agent = await startRelayedAgent(relay, h)
    await agent.registered
    const job = aJob({ id: `${name}-web:v1` })
    const call = (method: string, path: string, body?: unknown) =>
      fetch(master.url + path, { method, headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    expect((await call("POST", "/jobs", job)).status).toBe(200)
    expect((await call("PUT", `/hosts/${h}/jobs/${job.id}`, { goal: "START" })).status).toBe(200)
    await waitFor(async () => ((await lastTask(zkLog, h, job.id))?.state === "RUNNING" ? true : undefined), { what: "RUNNING through the master" })
    await agent.flushed()

    expect(requests).toBeGreaterThan(3)
    expect(relay.counts.failures).toBeGreaterThanOrEqual(1)
    expect(relay.counts.direct).toBe(0)
    await expectEachFactOnce(zkLog, h)
  })
})

describe("an agent whose relayed append times out while the master's log still holds it", () => {
  it("sends the facts again through that master, which appends each once and in order; the agent never appends by itself", async () => {
    const name = "timeout-held"
    const { zkLog, slow, master, startRelayedAgent } = await setup(name, 256, true)
    const h = host(`${name}-slow`)
    // The defaults' ratio (time-out as long as avoidMs), shortened: one time-out is a silence as long as avoidMs.
    const relay = new MasterRelayLog({ direct: zkLog, host: h, masters: async () => [master.url], timeoutMs: 1_000, avoidMs: 1_000 })
    const agent = await startRelayedAgent(relay, h)
    await agent.registered
    const call = (method: string, path: string, body?: unknown) =>
      fetch(master.url + path, { method, headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })

    // The master's log holds the host's appends (a slow ZooKeeper): the first report's relay times
    // out, the outbox finds nothing in the host stream yet and sends it again, with the later ones.
    slow.hold()
    const job = aJob({ id: `${name}-web:v1` })
    expect((await call("POST", "/jobs", job)).status).toBe(200)
    expect((await call("PUT", `/hosts/${h}/jobs/${job.id}`, { goal: "START" })).status).toBe(200)
    await waitFor(() => (relay.counts.timeouts >= 1 && agent.outboxCounts().landedChecks >= 1 && agent.outboxCounts().appends >= 2 ? true : undefined), {
      what: "a relay timed out, checked, and sent again",
    })
    slow.release()
    await waitFor(async () => ((await lastTask(zkLog, h, job.id))?.state === "RUNNING" ? true : undefined), { what: "RUNNING through the master" })
    await agent.flushed()
    await expectEachFactOnce(zkLog, h)
    expect(relay.counts.direct).toBe(0)
  })
})
