/**
 * ZooKeeper goes away (its own server, SIGKILLed) while the agent runs: running containers are not
 * touched, a container killed by hand meanwhile is restarted, and the transitions are kept in the
 * state dir and appended in order once ZooKeeper is back. A lost session's `up` node is recreated.
 *
 * The clients reach the server through a TCP gate (test/tcp-gate.ts) that is cut while the server is
 * down and restored once it serves again. Without it this test flakes on a client bug, not an agent one:
 * node-zookeeper-client 1.1.3 clears its connect timeout on TCP connect, and ZooKeeper 3.8.0 neither
 * answers nor closes a connection that arrives while it is still starting (an NPE in removeCnxn),
 * so a client that reconnects in that window waits forever (measured: 63 of 100 reconnects with a
 * 20 ms spin delay). The fix belongs in the client (a handshake timeout); see the agent's report.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { docker } from "../test/docker.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor } from "../test/services.ts"
import { startZooKeeper, type ZooKeeperServer } from "../test/zookeeper.ts"
import { tcpGate, type TcpGate } from "../test/tcp-gate.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { dockerAgentFixture, httpGet, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import { deploy, hostEvents, lastTask, taskEvents } from "../test/agent-helpers.ts"

let server: ZooKeeperServer | undefined
let gate: TcpGate | undefined
let fx: DockerAgentFixture | undefined
afterAll(async () => {
  await fx?.cleanup()
  await gate?.close()
  await server?.destroy()
})

describe("agent while ZooKeeper is away", () => {
  it("keeps containers running, buffers transitions and appends them in order when ZooKeeper returns", async () => {
    server = await startZooKeeper()
    gate = await tcpGate(server.port)
    fx = await dockerAgentFixture("agent-zk-outage", `127.0.0.1:${gate.port}`)
    const f = fx
    const h = host("outage-h1")
    const agent = await f.start(h)
    await agent.registered
    const steady = aJob({ id: "steady:v1" })
    const victim = aJob({ id: "victim:v1" })
    await deploy(f.log, steady, h)
    await deploy(f.log, victim, h)
    const running = (jobId: string, not?: string) =>
      waitFor(async () => {
        const t = await lastTask(f.log, h, jobId)
        return t?.state === "RUNNING" && t.containerId !== not ? t : undefined
      })
    const a = await running(steady.id)
    const b = await running(victim.id)
    const aStartedAt = (await docker().getContainer(a.containerId!).inspect()).State.StartedAt

    // ZooKeeper crashes.
    const down = performance.now()
    gate.cut()
    await server.kill()
    await waitFor(() => (f.zk.isConnected ? undefined : true), { what: "client disconnected" })

    // A container killed by hand meanwhile is restarted; the transitions wait in the state dir.
    await docker().getContainer(b.containerId!).kill()
    const restarted = await waitFor(() => {
      const s = agent.statuses().get(victim.id)
      return s?.state === "RUNNING" && s.containerId !== b.containerId ? s : undefined
    })
    expect(await waitFor(() => httpGet(restarted.ports!["http"]!.externalPort!))).toContain("Hello")
    const pending = agent.pendingEvents().map((e) => (e.event._tag === "TaskStateChanged" ? e.event.state : e.event._tag))
    expect(pending).toEqual(["EXITED", "PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    const onDisk = readFileSync(join(f.stateDir(h), "outbox.jsonl"), "utf8").trim().split("\n")
    expect(onDisk).toHaveLength(5)

    // The agent itself restarts while ZooKeeper is down: it works from its state dir, adopts both
    // containers and still holds the buffered transitions.
    await agent.stop()
    const again = await f.start(h)
    await again.reconcile()
    expect(again.pendingEvents()).toHaveLength(5)
    expect(again.executions().get(victim.id)?.containerId).toBe(restarted.containerId)

    // Down for a while longer (5 s in all): the agent keeps reconciling, nothing is touched.
    await waitFor(
      async () => {
        const info = await docker().getContainer(a.containerId!).inspect()
        expect(info.State.StartedAt).toBe(aStartedAt)
        return performance.now() - down > 5_000 ? true : undefined
      },
      { intervalMs: 250, what: "5 s of outage" },
    )
    expect((await docker().getContainer(restarted.containerId!).inspect()).State.Running).toBe(true)
    expect(await f.containers()).toHaveLength(2)

    // ZooKeeper comes back: the buffered transitions are appended, in order.
    await server.start() // resolves once the restarted server serves
    gate.restore()
    await waitFor(() => (f.zk.isConnected ? true : undefined), { timeoutMs: 30_000, what: "the ZooKeeper client to reconnect" })
    await again.flushed()
    console.log(`ZooKeeper down for ${(performance.now() - down).toFixed(0)} ms; buffered transitions appended after restart`)
    const victimStates = (await taskEvents(f.log, h, victim.id)).map((e) => [e.state, e.containerId])
    expect(victimStates).toEqual([
      ["PULLING_IMAGE", undefined],
      ["CREATING", undefined],
      ["STARTING", b.containerId],
      ["RUNNING", b.containerId],
      ["EXITED", b.containerId],
      ["PULLING_IMAGE", undefined],
      ["CREATING", undefined],
      ["STARTING", restarted.containerId],
      ["RUNNING", restarted.containerId],
    ])
    // The steady job was never touched.
    const aInfo = await docker().getContainer(a.containerId!).inspect()
    expect(aInfo.State.Running).toBe(true)
    expect(aInfo.State.StartedAt).toBe(aStartedAt)
    expect((await taskEvents(f.log, h, steady.id)).map((e) => e.state)).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    await waitFor(async () => ((await f.hostInfo.isUp(h)) ? true : undefined), { what: "host up again" })

    // A lost session takes the ephemeral `up` node with it: after the next "connected" the agent
    // recreates it and says HostWentUp again.
    const upsBefore = (await hostEvents(f.log, h)).filter((e) => e.envelope.event._tag === "HostWentUp").length
    await f.zk.remove(zkPaths(f.root).hostUp(h))
    f.zk.emit("expired")
    f.zk.emit("connected")
    await waitFor(async () => ((await f.hostInfo.isUp(h)) ? true : undefined), { what: "up node recreated" })
    await waitFor(async () => {
      const ups = (await hostEvents(f.log, h)).filter((e) => e.envelope.event._tag === "HostWentUp").length
      return ups === upsBefore + 1 ? true : undefined
    })
  }, 120_000)
})
