/**
 * Pieces of a simulated fleet for the benchmarks: forking a bench process with typed waits on its
 * IPC messages, and starting N in-memory agents (startAgent with MemoryRuntime, each its own host
 * name, state dir and ZooKeeperEventLog instance, relaying their facts through the master) in this
 * process, as bench/fleet.ts does (see its header for why: own cursors and followers per agent, a
 * ZooKeeper session shared by 125 agents, state dirs on tmpfs, periodic timers at 10 min).
 */
import { fork, type ChildProcess } from "node:child_process"
import { EventEmitter } from "node:events"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { getPriority, setPriority, tmpdir } from "node:os"
import { join } from "node:path"
import { startAgent, type Agent } from "../agent/agent.ts"
import { silentLogger } from "../agent/logger.ts"
import { MasterRelayLog } from "../agent/master-relay.ts"
import { MemoryRuntime } from "../agent/memory-runtime.ts"
import type { EventLog } from "../core/event-log.ts"
import type { HostName } from "../core/ids.ts"
import { mapLimit } from "../log/map-limit.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { countingZk, type OpCounts } from "./fleet-zk.ts"
import { BENCH_DIR } from "./lib.ts"

export type Message = { type: string } & Record<string, any>

/**
 * A ZooKeeper session that `agents` simulated agents share. Each agent's log watches the same few
 * znodes (the packed-segments marker): in production once per agent's own session, here up to
 * `agents` times on one session, whose client keeps a watcher emitter per path. That is by design
 * here, not the leak Node warns about past 10 listeners.
 */
export const connectSharedSession = async (connectString: string, agents: number): Promise<ZkClient> => {
  EventEmitter.defaultMaxListeners = Math.max(EventEmitter.defaultMaxListeners, agents + 10)
  const session = await ZkClient.connect(connectString, { sessionTimeoutMs: 30_000, operationTimeoutMs: 30_000 })
  session.setMaxListeners(0)
  return session
}

/** A forked bench process (bench/<file>) with typed waits on its messages. */
export const forkChild = (file: string, args: string[], execArgv: string[] = process.execArgv) => {
  const proc: ChildProcess = fork(join(BENCH_DIR, file), args, { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv })
  // A child inherits this process's niceness; the simulated agents' lower priority is theirs alone
  // (FLEET_AGENTS_NICE). Raising it back needs CAP_SYS_NICE (root): otherwise the child keeps it.
  if (getPriority() !== 0 && proc.pid !== undefined)
    try {
      setPriority(proc.pid, 0)
    } catch (e) {
      console.error(`bench: ${file} stays at nice ${getPriority()}: ${(e as Error).message}`)
    }
  const inbox: Message[] = []
  let wake: (() => void) | undefined
  /** A listener that returns true consumes the message (it is not kept for next()). */
  const listeners: Array<(m: Message) => boolean | void> = []
  proc.on("message", (m: Message) => {
    let consumed = false
    for (const l of listeners) if (l(m) === true) consumed = true
    if (consumed) return
    inbox.push(m)
    wake?.()
  })
  let exited = false
  proc.on("exit", () => {
    exited = true
    wake?.()
  })
  const next = async (type: string, timeoutMs: number): Promise<Message> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type)
      if (i >= 0) return inbox.splice(i, 1)[0]!
      if (exited) throw new Error(`${file} exited while we waited for "${type}"`)
      if (Date.now() > deadline) throw new Error(`${file}: no "${type}" within ${timeoutMs} ms`)
      await new Promise<void>((r) => {
        wake = r
        setTimeout(r, 200)
      })
      wake = undefined
    }
  }
  const kill = () => {
    if (!exited) proc.kill("SIGKILL")
  }
  const waitExit = async (ms: number) => {
    const deadline = Date.now() + ms
    while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  }
  return {
    proc,
    // After a signal the cleanup may have killed the child while main still talks to it: drop the message.
    send: (m: unknown) => void (proc.connected && proc.send(m as never)),
    next,
    on: (l: (m: Message) => boolean | void) => listeners.push(l),
    kill,
    waitExit,
    get exited() {
      return exited
    },
  }
}
export type ForkedChild = ReturnType<typeof forkChild>

/**
 * What every simulated agent runs with: ports never probed (no real containers), the periodic
 * work (reconcile, host info, monitoring) slowed to near never, so a simulated fleet costs only
 * what the product does per event, and no logging.
 */
export const SIMULATED_AGENT_SETTINGS = {
  bindAddress: "127.0.0.1",
  portRange: "20000:20100",
  portProbe: async () => true,
  reconcileIntervalMs: 600_000,
  hostInfoIntervalMs: 600_000,
  startupCatchUpMs: 30_000,
  tuning: { monitorIntervalMs: 600_000 },
  logger: silentLogger,
} as const

export interface FleetAgentsOptions {
  readonly connectString: string
  readonly root: string
  /** The master the agents relay their facts through. */
  readonly masterUrl: string
  readonly hosts: ReadonlyArray<string>
  /** Labels of each host (host selectors). */
  readonly labels: (host: string, index: number) => Readonly<Record<string, string>>
  /** Images the in-memory engine has locally and can pull. */
  readonly images: ReadonlyArray<string>
  /** Counts every ZooKeeper request of the agents, by kind. */
  readonly counts: OpCounts
  readonly agentsPerSession?: number
  readonly startConcurrency?: number
}

export interface FleetAgents {
  readonly agents: ReadonlyArray<Agent>
  /** Agents whose registration completed. */
  readonly registered: () => number
  /** Facts the agents relayed through the master, and appended themselves. */
  readonly appends: () => { relayed: number; direct: number }
  /** Stops the agents, closes their logs and sessions, removes their state dirs. */
  readonly stop: () => Promise<void>
  /** Synchronous last resort (process exit): removes the state dirs. */
  readonly removeStateDirs: () => void
}

/** Starts the agents (`startConcurrency` at a time); resolves once each has started (not necessarily registered). */
export const startFleetAgents = async (o: FleetAgentsOptions): Promise<FleetAgents> => {
  const stateBase = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "helios-bench-agents-"))
  const perSession = o.agentsPerSession ?? 125
  const sessions: ZkClient[] = []
  const logs: EventLog[] = []
  const agents: Agent[] = []
  const relays: MasterRelayLog[] = []
  let registered = 0
  const removeStateDirs = () => rmSync(stateBase, { recursive: true, force: true })
  const stop = async () => {
    // Cut ZooKeeper first, so agents still retrying give up fast; then stop them.
    await mapLimit(agents.splice(0), 100, (a) => Promise.race([a.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]))
    for (const l of logs.splice(0)) await l.close().catch(() => undefined)
    for (const s of sessions.splice(0)) await s.close().catch(() => undefined)
    removeStateDirs()
  }
  try {
    const sessionCount = Math.ceil(o.hosts.length / perSession)
    for (let i = 0; i < sessionCount; i++) sessions.push(await connectSharedSession(o.connectString, perSession))
    await mapLimit([...o.hosts], o.startConcurrency ?? 50, async (host, i) => {
      const session = sessions[i % sessionCount]!
      const zk = countingZk(session, o.counts)
      const own = await ZooKeeperEventLog.open(zk, { root: o.root })
      logs.push(own)
      const relay = new MasterRelayLog({ direct: own, host: host as HostName, masters: async () => [o.masterUrl] })
      relays.push(relay)
      const agent = await startAgent({
        log: relay,
        hostInfo: new ZkHostInfoStore(zk, o.root),
        runtime: new MemoryRuntime({ localImages: [...o.images], registryImages: [...o.images] }),
        zk: session,
        zkRoot: o.root,
        hostName: host,
        stateDir: join(stateBase, host),
        labels: o.labels(host, i),
        ...SIMULATED_AGENT_SETTINGS,
      })
      agents.push(agent)
      void agent.registered.then(() => registered++)
    })
  } catch (e) {
    await stop()
    throw e
  }
  return {
    agents,
    registered: () => registered,
    appends: () => ({ relayed: relays.reduce((a, r) => a + r.counts.relayed, 0), direct: relays.reduce((a, r) => a + r.counts.direct, 0) }),
    stop,
    removeStateDirs,
  }
}
