import { serve, type ServerType } from "@hono/node-server"
import { hostname as osHostname } from "node:os"
import type { AddressInfo } from "node:net"
import type { Server } from "node:http"
import type { EventLog } from "../core/event-log.ts"
import type { Command } from "../core/commands.ts"
import { isExpired } from "../core/job.ts"
import { ZK, type ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { CommandBus } from "./command-bus.ts"
import { LiveProjection } from "./live-projection.ts"
import { masterApp } from "./app.ts"
import { answerInFlightRequestsFirst } from "./client-errors.ts"
import type { HostInfoReader } from "../core/host-info.ts"
import { hostDetailsFrom } from "./host-details.ts"
import { WatchedHostLiveness } from "./host-liveness.ts"
import { HELIOS_VERSION } from "./version.ts"
import { loadSnapshot, saveSnapshot } from "./snapshots.ts"
import { AgentReaper } from "./agent-reaper.ts"
import { Result } from "effect"

export interface MasterOptions {
  readonly log: EventLog
  /** ZooKeeper session for master registration, leader election and host liveness; absent in solo mode. */
  readonly zk?: ZkClient
  readonly zkRoot?: string
  readonly name?: string
  readonly port?: number
  readonly bindAddress?: string
  /**
   * The URL announced in ZooKeeper, where agents relay their facts (POST /hosts/{host}/events).
   * Default: http://<bind address>:<port>, or http://<this machine's host name>:<port> when bound to 0.0.0.0.
   */
  readonly advertisedUrl?: string
  /** The agents' latest-value host facts; also tells whether a host's agent is up. */
  readonly hostInfo?: HostInfoReader
  readonly whitelistedCapabilities?: ReadonlyArray<string>
  readonly now?: () => number
  /** How often the leader checks host liveness and expired jobs, in ms. */
  readonly housekeepingIntervalMs?: number
  /** Deregister hosts DOWN longer than this (Helios's --agent-reaping-timeout); absent or 0: never. */
  readonly agentReapingTimeoutMs?: number
  /** Where this master keeps a snapshot of its read model, so a restart reads only the log's tail. */
  readonly snapshotFile?: string
  /**
   * Write a snapshot after this many new events. Default: 10,000, or a tenth of the log once it is
   * longer than 100,000 events — encoding blocks the master (~4 s at 10^6 events), so the interval
   * grows with the log and the cost per event stays bounded; a restart reads at most that tail.
   */
  readonly snapshotEveryEvents?: number
  /** How often the projection checks that the log still holds what it applied, in ms (default 10 s). */
  readonly divergenceCheckIntervalMs?: number
  /** Positions of undecodable events this master skips (--skip-undecodable); every master must be given the same. */
  readonly skipUndecodable?: ReadonlyArray<number>
}

export interface RunningMaster {
  readonly name: string
  readonly url: string
  readonly port: number
  readonly projection: LiveProjection
  readonly bus: CommandBus
  stop(): Promise<void>
}

export const startMaster = async (options: MasterOptions): Promise<RunningMaster> => {
  const name = options.name ?? osHostname()
  const now = options.now ?? Date.now
  const snapshot = options.snapshotFile ? await loadSnapshot(options.snapshotFile, options.log) : undefined
  const projection = new LiveProjection(options.log, snapshot, {
    ...(options.divergenceCheckIntervalMs !== undefined ? { checkIntervalMs: options.divergenceCheckIntervalMs } : {}),
    ...(options.skipUndecodable ? { skipUndecodable: options.skipUndecodable } : {}),
  })
  if (options.skipUndecodable?.length)
    console.error(`helios-master: told to skip undecodable events at positions ${options.skipUndecodable.join(", ")} (--skip-undecodable)`)
  projection.start()
  // Appends go through the projection's guard: refused while it disagrees with the log, and each
  // result checked against what it applied (the log giving out again positions it lost).
  const log = projection.guard(options.log)
  // Serve only once the projection holds what the log held at start: no stale answers or decisions
  // after a restart, however long a large log takes to read. An event it cannot decode ends the wait:
  // the master serves what it has, says why on /healthz, and refuses writes (live-projection.ts).
  while (!projection.undecodable && !(await projection.catchUp(60_000)))
    if (!projection.undecodable) console.error(`helios-master: still catching up with the event log (at position ${projection.position})`)
  const bus = new CommandBus(log, projection)
  const paths = zkPaths(options.zkRoot ?? "/helios")
  const zk = options.zk
  // Host liveness from watches, not an `exists` per host every round (master/host-liveness.ts).
  const watchedLiveness = zk && options.hostInfo ? new WatchedHostLiveness(zk, options.zkRoot ?? "/helios", options.hostInfo) : undefined
  const liveness = watchedLiveness ?? options.hostInfo

  const masters = async (): Promise<string[]> => (zk ? (await zk.getChildrenIfExists(paths.masters)).sort() : [name])

  const app = masterApp({
    name,
    version: HELIOS_VERSION,
    log,
    projection,
    bus,
    now,
    masters,
    hostDetails: options.hostInfo ? hostDetailsFrom(options.hostInfo) : async () => undefined,
    whitelistedCapabilities: options.whitelistedCapabilities ?? [],
  })

  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 5801, hostname: options.bindAddress ?? "0.0.0.0" }, () => resolve(s))
  })
  answerInFlightRequestsFirst(server as Server)
  const port = (server.address() as AddressInfo).port
  const boundToAll = options.bindAddress === undefined || options.bindAddress === "0.0.0.0"
  const url = `http://${boundToAll ? "127.0.0.1" : options.bindAddress}:${port}`
  const advertisedUrl = options.advertisedUrl ?? (boundToAll ? `http://${osHostname()}:${port}` : url)

  // Announce ourselves (ephemeral: gone with our session) and again after a session expiry.
  const announce = async () => {
    if (!zk) return
    await zk.ensurePath(paths.masters)
    await zk.create(paths.master(name), Buffer.from(advertisedUrl), ZK.CreateMode.EPHEMERAL).catch(() => {})
  }
  await announce()
  const onExpired = () => void zk?.waitConnected(30_000).then(announce, () => {})
  zk?.on("expired", onExpired)
  // A ZooKeeper that lost acknowledged data is only met after a reconnect (a server that changes
  // its view drops its clients): check at once that the log still holds what we applied.
  const onReconnected = () => void projection.check("ZooKeeper session re-established")
  zk?.on("connected", onReconnected)

  const asMaster = { now: now(), actor: { kind: "master" as const, name }, master: name }
  const run = (command: Command) => bus.execute(command, { ...asMaster, now: now() }).catch(() => undefined)

  const reaper = new AgentReaper({
    timeoutMs: options.agentReapingTimeoutMs ?? 0,
    ...(liveness ? { isUp: (host) => liveness.isUp(host), agentReported: async (host) => (await liveness.get(host)) !== undefined } : {}),
    run: async (command) => {
      const result = await run(command)
      return result !== undefined && Result.isSuccess(result)
    },
    log: (line) => console.log(line),
  })

  /** Only the master holding the lowest election node does background work. */
  let electionNode: string | undefined
  const isLeader = async (): Promise<boolean> => {
    if (!zk) return true
    await zk.ensurePath(paths.election)
    if (electionNode === undefined || !(await zk.exists(electionNode)))
      electionNode = await zk.create(`${paths.election}/m-`, Buffer.from(name), ZK.CreateMode.EPHEMERAL_SEQUENTIAL)
    const children = (await zk.getChildren(paths.election)).sort()
    return `${paths.election}/${children[0]}` === electionNode
  }

  const housekeeping = async () => {
    if (!(await isLeader())) return
    const state = projection.model.state
    const hostInfo = liveness
    if (hostInfo) {
      // Host liveness: the agent's up mark (a ZooKeeper ephemeral node) is the truth; record
      // transitions as events.
      for (const [host, record] of state.hosts) {
        const up = await hostInfo.isUp(host)
        if (up !== record.up)
          await run(up ? { _tag: "MarkHostUp", host, agentId: record.agentId } : { _tag: "MarkHostDown", host })
      }
    }
    // Hosts DOWN too long: deregistered (Helios's DeadAgentReaper).
    await reaper.reap(projection.model.state.hosts.values(), now()).catch((e: unknown) => console.error(`helios-master: agent reaper: ${String(e)}`))
    // Expired jobs: undeploy everywhere, then remove (Helios's ExpiredJobReaper).
    for (const job of [...state.jobs.values()]) {
      if (!isExpired(job, now())) continue
      for (const host of [...(state.jobHosts.get(job.id) ?? [])])
        await run({ _tag: "UndeployJob", jobId: job.id, host, ...(job.token ? { token: job.token } : {}) })
      await run({ _tag: "RemoveJob", jobId: job.id, ...(job.token ? { token: job.token } : {}) })
    }
  }
  let snapshotAt = projection.position
  const maybeSnapshot = async () => {
    const every = options.snapshotEveryEvents ?? Math.max(10_000, Math.floor(projection.position / 10))
    if (projection.diverged) return
    snapshotAt = Math.min(snapshotAt, projection.position) // rebuilt after a divergence: count from there
    if (!options.snapshotFile || projection.position - snapshotAt < every) return
    snapshotAt = projection.position
    await saveSnapshot(options.snapshotFile, options.log, projection.model)
  }
  let busy = false
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    housekeeping()
      .then(maybeSnapshot)
      .catch(() => {})
      .finally(() => (busy = false))
  }, options.housekeepingIntervalMs ?? 2000)
  timer.unref()

  return {
    name,
    url,
    port,
    projection,
    bus,
    stop: async () => {
      clearInterval(timer)
      if (options.snapshotFile && projection.position > snapshotAt && !projection.diverged)
        await saveSnapshot(options.snapshotFile, options.log, projection.model).catch(() => {})
      zk?.off("expired", onExpired)
      zk?.off("connected", onReconnected)
      watchedLiveness?.close()
      projection.stop()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      if (zk) {
        await zk.remove(paths.master(name)).catch(() => {})
        if (electionNode) await zk.remove(electionNode).catch(() => {})
      }
    },
  }
}

