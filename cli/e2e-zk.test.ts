/**
 * End to end on a fleet's layout: two masters and one agent on the run's real ZooKeeper (each with
 * its own session, in this process) and the real Docker engine; `helios` runs as a child process
 * with HELIOS_MASTER listing an unreachable master first, so every command also exercises the
 * fallback to the next endpoint. The agent's facts go through a master (POST /hosts/{host}/events),
 * as `helios agent` sends them.
 */
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startAgent, type Agent } from "../agent/agent.ts"
import { DockerRuntime } from "../agent/docker-runtime.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { MasterRelayLog, zkMasterUrls } from "../agent/master-relay.ts"
import type { HostName } from "../core/ids.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { HELIOS_VERSION } from "../master/version.ts"
import { removeContainersByLabel, TEST_IMAGE, TEST_LABEL } from "../test/docker.ts"
import { uniqueRoot, zkConnect } from "../test/services.ts"
import { HeliosClient } from "./client.ts"
import { okLines, userFlow } from "../test/e2e-flow.ts"
import { freePort, spawnCli, tempDir, removeTempDirs } from "../test/cli-helpers.ts"

const suffix = randomBytes(4).toString("hex")
const root = uniqueRoot("cli-e2e")
const host = `cli-zk-${suffix}`
const containerLabel = `${TEST_LABEL}=cli-zk-${suffix}`
const dir = tempDir("cli-zk")

const sessions: ZkClient[] = []
const session = async () => {
  const zk = await ZkClient.connect(zkConnect())
  sessions.push(zk)
  return { zk, log: await ZooKeeperEventLog.open(zk, { root }) }
}
const masters: RunningMaster[] = []
const startOne = async (name: string) => {
  const { zk, log } = await session()
  const m = await startMaster({ log, zk, zkRoot: root, name, port: 0, bindAddress: "127.0.0.1", hostInfo: new ZkHostInfoStore(zk, root), housekeepingIntervalMs: 500 })
  masters.push(m)
  return m
}
let agent: Agent | undefined
let relay: MasterRelayLog | undefined

beforeAll(async () => {
  await Promise.all([startOne("m1"), startOne("m2")])
  const { zk, log } = await session()
  relay = new MasterRelayLog({ direct: log, host: host as HostName, masters: zkMasterUrls(zk, root) })
  agent = await startAgent({
    log: relay,
    zk,
    zkRoot: root,
    hostInfo: new ZkHostInfoStore(zk, root),
    runtime: new DockerRuntime(),
    hostName: host,
    stateDir: join(dir, "agent"),
    containerLabels: { [TEST_LABEL]: `cli-zk-${suffix}` },
  })
  await agent.registered
})

afterAll(async () => {
  await agent?.stop()
  for (const m of masters) await m.stop()
  for (const zk of sessions) await zk.close()
  await removeContainersByLabel(containerLabel)
  removeTempDirs()
})

describe("helios against masters and an agent on real ZooKeeper", () => {
  it("the user flow, through the first reachable master", async () => {
    const [m1, m2] = masters as [RunningMaster, RunningMaster]
    const dead = `http://127.0.0.1:${await freePort()}`
    const env = { HOME: join(dir, "home"), HELIOS_MASTER: [dead, m1.url, m2.url].join(",") }
    const cli = (args: ReadonlyArray<string>) => spawnCli(args, env)

    expect(await okLines(cli, ["masters"])).toEqual(["m1", "m2"])
    expect(await okLines(cli, ["version"])).toEqual([`Client Version: ${HELIOS_VERSION}`, `Master Version: ${HELIOS_VERSION}`])
    await userFlow({ cli, host, webPort: await freePort(), containerLabel, jobName: "zkweb" })
    expect(relay!.counts.relayed).toBeGreaterThan(0)
  })

  it("read-your-writes: a read on another master carries the write's position", async () => {
    const [m1, m2] = masters as [RunningMaster, RunningMaster]
    const writer = new HeliosClient({ endpoints: [m1.url], user: "alice", version: HELIOS_VERSION })
    const created = (await writer.request("POST", "/jobs", { body: { id: `ryw:${suffix}`, image: TEST_IMAGE } })) as { id: string; position: number }
    expect(writer.position).toBe(created.position)
    // Another master, same client state: the read waits until m2 has applied the write.
    const reader = new HeliosClient({ endpoints: [m2.url], user: "alice", version: HELIOS_VERSION })
    reader.position = writer.position
    const job = await reader.get(`/jobs/${encodeURIComponent(created.id)}`)
    expect(job).toMatchObject({ id: created.id, creatingUser: "alice" })
  })
})
