/**
 * Test fixture for agents on the real engine and real ZooKeeper: its own ZooKeeper root, its own
 * Docker label (`helios-test-run=<random>`, put on every container its agents create), temp state
 * dirs, and a cleanup that removes every container carrying the label even after a failure.
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { HostName } from "../core/ids.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { docker, removeContainersByLabel } from "./docker.ts"
import { uniqueRoot, zkConnect } from "./services.ts"
import { startAgent, type Agent, type AgentOptions } from "../agent/agent.ts"
import { DockerRuntime } from "../agent/docker-runtime.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"

export const RUN_LABEL_KEY = "helios-test-run"

/** Settings that keep tests quick without changing behaviour. */
export const FAST: Partial<AgentOptions> = {
  bindAddress: "127.0.0.1",
  reconcileIntervalMs: 1_000,
  startupCatchUpMs: 3_000,
  restartDelays: { minimumMs: 100, normalMs: 100 },
  tuning: { monitorIntervalMs: 1_000, healthCheckInitialBackoffMs: 100 },
}

export interface DockerAgentFixture {
  readonly root: string
  readonly runId: string
  /** `helios-test-run=<runId>` */
  readonly label: string
  readonly zk: ZkClient
  readonly log: ZooKeeperEventLog
  readonly hostInfo: ZkHostInfoStore
  readonly runtime: DockerRuntime
  readonly tmp: string
  stateDir(host: string): string
  start(host: HostName, extra?: Partial<AgentOptions>): Promise<Agent>
  /** Every container of this fixture, running or not. */
  containers(): Promise<Array<{ id: string; running: boolean; host: string | undefined }>>
  cleanup(): Promise<void>
}

export const dockerAgentFixture = async (name: string, connectString: string = zkConnect()): Promise<DockerAgentFixture> => {
  const root = uniqueRoot(name)
  const runId = randomBytes(6).toString("hex")
  const label = `${RUN_LABEL_KEY}=${runId}`
  const tmp = mkdtempSync(join(tmpdir(), `helios-agent-${name}-`))
  const zk = await ZkClient.connect(connectString, { sessionTimeoutMs: 10_000 })
  const log = await ZooKeeperEventLog.open(zk, { root })
  const hostInfo = new ZkHostInfoStore(zk, root)
  const runtime = new DockerRuntime()
  const agents: Agent[] = []
  return {
    root,
    runId,
    label,
    zk,
    log,
    hostInfo,
    runtime,
    tmp,
    stateDir: (host) => join(tmp, host),
    async start(host, extra = {}) {
      const agent = await startAgent({
        log,
        hostInfo,
        runtime,
        zk,
        zkRoot: root,
        hostName: host,
        stateDir: join(tmp, host),
        containerLabels: { [RUN_LABEL_KEY]: runId },
        ...FAST,
        ...extra,
      })
      agents.push(agent)
      return agent
    },
    async containers() {
      const list = await docker().listContainers({ all: true, filters: { label: [label] } })
      return list.map((c) => ({ id: c.Id, running: c.State === "running", host: c.Labels["helios.host"] }))
    },
    async cleanup() {
      for (const a of agents.splice(0)) await a.stop().catch(() => undefined)
      await removeContainersByLabel(label).catch(() => undefined)
      await log.close().catch(() => undefined)
      await zk.close().catch(() => undefined)
      rmSync(tmp, { recursive: true, force: true })
    },
  }
}

/** GET http://127.0.0.1:port/ and return the body (throws on failure). */
export const httpGet = async (port: number, path = "/"): Promise<string> => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) })
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  return res.text()
}
