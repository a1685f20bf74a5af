/**
 * An agent restarted without its desired state (desired.json gone) while the log is unreachable
 * cannot tell wanted containers from unwanted ones: it must leave every container alone until the
 * log answers, then reconcile normally (a job undeployed meanwhile is removed, the others adopted).
 * Real Docker, real ZooKeeper reached through a TCP gate (test/tcp-gate.ts) cut for the outage.
 */
import { rmSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { docker } from "../test/docker.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor, zkConnect } from "../test/services.ts"
import { dockerAgentFixture, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import type { Logger } from "./logger.ts"
import { deploy, lastTask, undeploy } from "../test/agent-helpers.ts"
import { tcpGate, type TcpGate } from "../test/tcp-gate.ts"

let gate: TcpGate | undefined
let fx: DockerAgentFixture | undefined
let direct: { zk: ZkClient; log: ZooKeeperEventLog } | undefined
afterAll(async () => {
  await fx?.cleanup()
  await direct?.log.close().catch(() => undefined)
  await direct?.zk.close().catch(() => undefined)
  await gate?.close()
})

describe("agent restarted without desired.json while the log is unreachable", () => {
  it("keeps every container until the log answers, then reconciles normally", async () => {
    const [zkHost, zkPort] = zkConnect().split(",")[0]!.split(":")
    expect(zkHost).toBeDefined()
    gate = await tcpGate(Number(zkPort))
    fx = await dockerAgentFixture("agent-unknown-desired", `127.0.0.1:${gate.port}`)
    const f = fx
    const zk = await ZkClient.connect(zkConnect(), { sessionTimeoutMs: 10_000 })
    direct = { zk, log: await ZooKeeperEventLog.open(zk, { root: f.root }) }
    const h = host("unknown-desired-h1")

    const agent = await f.start(h)
    await agent.registered
    const steady = aJob({ id: "steady:v1" })
    const leaving = aJob({ id: "leaving:v1" })
    await deploy(f.log, steady, h)
    await deploy(f.log, leaving, h)
    const running = (jobId: string) =>
      waitFor(async () => {
        const t = await lastTask(f.log, h, jobId)
        return t?.state === "RUNNING" ? t : undefined
      })
    const a = await running(steady.id)
    const b = await running(leaving.id)
    const startedAt = async (id: string) => (await docker().getContainer(id).inspect()).State.StartedAt
    const aStartedAt = await startedAt(a.containerId!)
    const bStartedAt = await startedAt(b.containerId!)

    // The agent stops, its desired state is lost, and the log becomes unreachable.
    await agent.stop()
    rmSync(join(f.stateDir(h), "desired.json"))
    gate.cut()
    await waitFor(() => (f.zk.isConnected ? undefined : true), { what: "client disconnected" })

    // Restarted: the 3 s start-up catch-up times out. Several reconcile passes touch nothing.
    const lines: Array<{ level: string; msg: string }> = []
    const logger: Logger = { log: (level, msg) => void lines.push({ level, msg }) }
    const again = await f.start(h, { logger })
    expect(again.desired().deployments).toEqual({})
    expect(lines.some((l) => l.level === "warn" && l.msg.startsWith("desired state unknown"))).toBe(true)
    // Meanwhile (through a client that still reaches ZooKeeper) one job is undeployed.
    await undeploy(direct.log, leaving, h)
    const since = performance.now()
    await waitFor(
      async () => {
        await again.reconcile()
        expect(await startedAt(a.containerId!)).toBe(aStartedAt)
        expect(await startedAt(b.containerId!)).toBe(bStartedAt)
        expect((await f.containers()).filter((c) => c.running)).toHaveLength(2)
        return performance.now() - since > 4_000 ? true : undefined
      },
      { intervalMs: 250, what: "4 s of unknown desired state" },
    )

    // The log answers again: the agent reads its desired state and reconciles normally.
    gate.restore()
    await waitFor(() => (f.zk.isConnected ? true : undefined), { timeoutMs: 30_000, what: "the ZooKeeper client to reconnect" })
    await waitFor(async () => ((await f.containers()).length === 1 ? true : undefined), {
      timeoutMs: 30_000,
      what: "the undeployed job's container removed",
    })
    expect(lines.some((l) => l.msg === "desired state read from the log; reconciling")).toBe(true)
    const [left] = await f.containers()
    expect(left?.id).toBe(a.containerId)
    expect(await startedAt(a.containerId!)).toBe(aStartedAt)
    expect(again.executions().get(steady.id)?.containerId).toBe(a.containerId)
    expect(again.executions().has(leaving.id)).toBe(false)
  }, 120_000)
})
