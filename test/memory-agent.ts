import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startAgent, type Agent, type AgentOptions } from "../agent/agent.ts"
import { silentLogger } from "../agent/logger.ts"
import { MemoryRuntime, type MemoryRuntimeOptions } from "../agent/memory-runtime.ts"
import { LocalHostInfoStore } from "../log/sqlite-host-info-store.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { FAST_IN_MEMORY } from "./agent-helpers.ts"
import { host } from "./event-fixtures.ts"

/**
 * One host's agent on the in-memory runtime over an embedded log, in a temp dir of its own:
 * `start` starts it (again: on the same state dir, as a restart), `close` stops every agent started
 * and removes everything.
 */
export const memoryAgent = (name: string, runtimeOptions: MemoryRuntimeOptions = {}) => {
  const dir = mkdtempSync(join(tmpdir(), `helios-${name}-`))
  const log = new SqliteEventLog(":memory:")
  const hostInfo = new LocalHostInfoStore(join(dir, "host-info.db"))
  const runtime = new MemoryRuntime({ localImages: ["helios-test/web:latest"], ...runtimeOptions })
  const hostName = host(`${name}-h1`)
  const agents: Agent[] = []
  const start = async (options: Partial<AgentOptions> = {}): Promise<Agent> => {
    const agent = await startAgent({ log, hostInfo, runtime, hostName, stateDir: join(dir, "state"), ...FAST_IN_MEMORY, logger: silentLogger, ...options })
    agents.push(agent)
    await agent.registered
    return agent
  }
  const close = async () => {
    for (const agent of agents.splice(0).reverse()) await agent.stop().catch(() => undefined)
    await log.close()
    await hostInfo.close()
    rmSync(dir, { recursive: true, force: true })
  }
  return { log, runtime, host: hostName, start, close }
}
