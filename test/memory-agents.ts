/**
 * Agents running containers in the in-memory runtime on the run's real ZooKeeper, each with its
 * own session and labels, for tests of the master and CLI where Docker is not the point (the
 * real-Docker suites use test/agent-docker-fixture.ts).
 */
import { join } from "node:path"
import { startAgent, type Agent } from "../agent/agent.ts"
import { MemoryRuntime } from "../agent/memory-runtime.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { FAST_IN_MEMORY } from "./agent-helpers.ts"
import { zkConnect } from "./services.ts"

export interface MemoryAgents {
  readonly agents: ReadonlyArray<Agent>
  stop(): Promise<void>
}

/** Starts one agent per host (state dirs under `dir`), all sharing one runtime that has `images`; resolves once each registered. */
export const startMemoryAgents = async (
  root: string,
  dir: string,
  hosts: ReadonlyArray<readonly [hostName: string, labels: Readonly<Record<string, string>>]>,
  images: ReadonlyArray<string>,
): Promise<MemoryAgents> => {
  const runtime = new MemoryRuntime({ localImages: [...images] })
  const agents: Agent[] = []
  const sessions: ZkClient[] = []
  const stop = async () => {
    for (const a of agents) await a.stop().catch(() => {})
    for (const zk of sessions) await zk.close().catch(() => {})
  }
  try {
    for (const [hostName, labels] of hosts) {
      const zk = await ZkClient.connect(zkConnect())
      sessions.push(zk)
      const log = await ZooKeeperEventLog.open(zk, { root })
      const agent = await startAgent({ log, zk, zkRoot: root, hostInfo: new ZkHostInfoStore(zk, root), runtime, hostName, labels, stateDir: join(dir, hostName), ...FAST_IN_MEMORY })
      agents.push(agent)
      await agent.registered
    }
  } catch (e) {
    await stop()
    throw e
  }
  return { agents, stop }
}
