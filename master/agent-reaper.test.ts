/**
 * The dead-agent reaper (master/agent-reaper.ts): the pure choice of hosts to reap, then the
 * leader on a real ZooKeeper deregistering a host whose agent's session ended, leaving an UP host
 * and a pre-registered host whose agent never reported alone.
 */
import { afterAll, describe, expect, it } from "vitest"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import type { HostInfo } from "../core/host-info.ts"
import type { Command } from "../core/commands.ts"
import type { AgentId, HostName } from "../core/ids.ts"
import type { HostRecord } from "../core/state.ts"
import { ZK, ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { uniqueRoot, waitFor, zkConnect } from "../test/services.ts"
import { AgentReaper, hostsToReap, HOUR_MS } from "./agent-reaper.ts"
import { startMaster } from "./master.ts"

const host = (name: string, up: boolean, since: number): HostRecord => ({
  name: name as HostName,
  agentId: `agent-${name}` as AgentId,
  registeredAt: 0,
  up,
  since,
})

describe("which hosts to reap", () => {
  const T = 1_000 * HOUR_MS
  const timeout = 336 * HOUR_MS

  it("reaps DOWN hosts whose DOWN time reached the timeout, never UP ones", () => {
    const hosts = [
      host("down-long", false, T - timeout - 1),
      host("down-exactly", false, T - timeout),
      host("down-short", false, T - timeout + 1),
      host("up-long", true, T - 10 * timeout),
    ]
    expect(hostsToReap(hosts, T, timeout)).toEqual(["down-exactly", "down-long"])
  })

  it("a timeout of 0 disables reaping", () => {
    expect(hostsToReap([host("down", false, 0)], T, 0)).toEqual([])
  })

  it("skips hosts whose agent never reported (asked once per DOWN period) and hosts that came back up", async () => {
    const ran: Command[] = []
    let asked = 0
    const reaper = new AgentReaper({
      timeoutMs: timeout,
      agentReported: async (h) => (asked++, h !== "pre-registered"),
      isUp: async (h) => h === "back-up",
      run: async (c) => (ran.push(c), true),
    })
    const hosts = [host("dead", false, 0), host("pre-registered", false, 0), host("back-up", false, 0)]
    expect(await reaper.reap(hosts, T)).toEqual(["dead"])
    expect(ran).toEqual([{ _tag: "DeregisterHost", host: "dead" }])
    expect(await reaper.reap(hosts.slice(1), T + 1)).toEqual([])
    expect(asked).toBe(4) // dead, pre-registered, back-up; then back-up again, not pre-registered
  })
})

const hostInfo = (hostname: string, agentId: string): HostInfo => ({
  hostname,
  uname: "Linux",
  architecture: "x86_64",
  osName: "Linux",
  osVersion: "6.0",
  cpus: 2,
  loadAvg: [0, 0, 0],
  memoryTotalBytes: 1,
  memoryFreeBytes: 1,
  swapTotalBytes: 0,
  swapFreeBytes: 0,
  agentId,
  agentVersion: "0.1.0",
  startTime: Date.now(),
  uptimeMs: 0,
  labels: {},
  environment: {},
  updatedAt: Date.now(),
})

const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

describe("the leader's reaper on real ZooKeeper", () => {
  it("deregisters a host DOWN longer than the timeout (with its deployments, as the master), and leaves UP and never-reported hosts alone", async () => {
    const root = uniqueRoot("agent-reaper")
    const paths = zkPaths(root)
    const zk = await ZkClient.connect(zkConnect())
    cleanups.push(() => zk.close())
    const log = await ZooKeeperEventLog.open(zk, { root })
    cleanups.push(() => log.close())
    const timeoutMs = 1_500
    const m = await startMaster({
      log,
      zk,
      zkRoot: root,
      name: "m-reaper",
      port: 0,
      bindAddress: "127.0.0.1",
      hostInfo: new ZkHostInfoStore(zk, root),
      housekeepingIntervalMs: 100,
      agentReapingTimeoutMs: timeoutMs,
    })
    cleanups.push(() => m.stop())
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(m.url + path, {
        method,
        ...(body !== undefined ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}),
      })
      return { status: res.status, body: (await res.json()) as any }
    }
    const statusOf = async (h: string) => (await call("GET", `/hosts/${h}/status`)).body.status as string

    // A host pre-registered for an agent that never came: DOWN from the start, but never reported.
    expect((await call("PUT", "/hosts/reap-never?id=agent-never")).status).toBe(200)

    /** An agent: its session holds the up mark; it reports host info once it is up. */
    const agent = async (h: string) => {
      expect((await call("PUT", `/hosts/${h}?id=agent-${h}`)).status).toBe(200)
      const session = await ZkClient.connect(zkConnect())
      cleanups.push(() => session.close())
      await session.ensurePath(paths.host(h))
      await session.create(paths.hostUp(h), Buffer.from("{}"), ZK.CreateMode.EPHEMERAL)
      await waitFor(async () => ((await statusOf(h)) === "UP" ? true : undefined), { what: `${h} UP` })
      await new ZkHostInfoStore(session, root).put(h, hostInfo(h, `agent-${h}`))
      return session
    }
    const dying = await agent("reap-down")
    await agent("reap-up")

    const id = (await call("POST", "/jobs", { id: "reaped:v1", image: "helios-test/web:latest" })).body.id
    expect((await call("PUT", `/hosts/reap-down/jobs/${id}`, { goal: "START" })).body.status).toBe("OK")

    // The agent dies: its session ends, the host goes DOWN, and after the timeout it is deregistered.
    await dying.close()
    await waitFor(async () => ((await statusOf("reap-down")) === "DOWN" ? true : undefined), { what: "reap-down DOWN" })
    const downAt = Date.now()
    await waitFor(async () => ((await call("GET", "/hosts")).body.includes("reap-down") ? undefined : true), { what: "reap-down reaped", timeoutMs: 60_000 })
    expect(Date.now() - downAt).toBeGreaterThanOrEqual(timeoutMs - 200) // not before its time (allowing for when DOWN was seen)

    const events = await log.readHostStream("reap-down" as HostName, 0)
    const tail = events.slice(-2).map((e) => [e.envelope.event._tag, e.envelope.actor])
    expect(tail).toEqual([
      ["JobUndeployed", { kind: "master", name: "m-reaper" }],
      ["HostDeregistered", { kind: "master", name: "m-reaper" }],
    ])
    expect(Object.keys((await call("GET", `/jobs/${id}/status`)).body.deployments)).toEqual([])

    // The UP host and the never-reported one are still there, well past the timeout.
    expect((await call("GET", "/hosts")).body).toEqual(["reap-never", "reap-up"])
    expect([await statusOf("reap-up"), await statusOf("reap-never")]).toEqual(["UP", "DOWN"])
  })
})
