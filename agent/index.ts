/**
 * The agent's public API, for the CLI entry point (agent/main.ts), solo mode and the fleet
 * benchmark:
 *
 *   const agent = await startAgent({ log, hostInfo, runtime, hostName, stateDir, zk, ... })
 *   await agent.registered
 *   ...
 *   await agent.stop()            // graceful: containers keep running
 *
 * The master reads host facts through a HostInfoReader (ZkHostInfoStore / LocalHostInfoStore).
 */
export { startAgent, type Agent, type AgentOptions } from "./agent.ts"
export {
  collectHostInfo,
  decodeHostInfo,
  HostHeldByAnotherAgent,
  HostInfo,
  LocalHostInfoStore,
  ZkHostInfoStore,
  type HostInfoReader,
  type HostInfoStore,
} from "./host-info.ts"
export { DockerRuntime, type DockerRuntimeOptions } from "./docker-runtime.ts"
export { MemoryRuntime, type MemoryBehaviour, type MemoryRuntimeOptions } from "./memory-runtime.ts"
export { emptyDesiredState, foldHostStream, applyHostEvent, hostStreamVersion, type DesiredState, type DesiredDeployment } from "./desired-state.ts"
export { DEFAULT_PORT_RANGE, parsePortRange, type PortRange } from "./ports.ts"
export { DEFAULT_FLAP_CONFIG, DEFAULT_RESTART_DELAYS, type FlapConfig, type RestartDelays } from "./flapping.ts"
export { LABEL_AGENT, LABEL_HOST, LABEL_JOB } from "./container-spec.ts"
export { systemClock, type Clock } from "./clock.ts"
export { jsonLogger, silentLogger, type Logger } from "./logger.ts"
export type { TaskStatus } from "./task-reporter.ts"
export type { Execution } from "./reconciler.ts"
