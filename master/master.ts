import { hostname as osHostname } from "node:os"
import { DEFAULT_CONTAINER_POLICY, type ContainerPolicy } from "../core/container-policy.ts"
import { Registry } from "prom-client"
import type { EventLog } from "../core/event-log.ts"
import type { HostInfoReader } from "../core/host-info.ts"
import type { ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { meteredLog, observeZooKeeper } from "../log/log-metrics.ts"
import { masterApp } from "./app.ts"
import type { Principals } from "./auth.ts"
import { LoopLag } from "./loop-lag.ts"
import { CommandBus } from "./command-bus.ts"
import { hostDetailsFrom } from "./host-details.ts"
import { WatchedHostLiveness } from "./host-liveness.ts"
import { Housekeeping } from "./housekeeping.ts"
import { listen } from "./http-listener.ts"
import { LeaderElection } from "./leader-election.ts"
import { masterMetrics } from "./metrics.ts"
import type { Checkpoints } from "./checkpoints.ts"
import type { LiveProjection } from "./live-projection.ts"
import { MasterRegistration } from "./master-registration.ts"
import { LogReachability } from "./log-reachability.ts"
import { repeatWithoutOverlap } from "./periodic.ts"
import { HostLabelsCache } from "./host-labels.ts"
import { RolloutDriver } from "./rollout-driver.ts"
import { failureText, RepeatedFailureLog } from "./failure-log.ts"
import { startProjection } from "./projection-start.ts"
import { SnapshotSchedule, snapshotDue, snapshotInterval } from "./snapshot-schedule.ts"
import { saveSharedSnapshot } from "./snapshots.ts"
import { HELIOS_VERSION } from "./version.ts"
import { StatusWarmer, WARM_INTERVAL_MS } from "./status-warmer.ts"

/*
 * A master: its read model caught up with the log, the HTTP API, its entry in ZooKeeper, and the
 * leader's housekeeping and the snapshots in the background. This file only wires them and owns the
 * order they start and stop in.
 */

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
  /** Serve the API over HTTPS with this certificate chain and key (PEM; `--tls-cert`, `--tls-key`). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer }
  /** The agents' latest-value host facts; also tells whether a host's agent is up. */
  readonly hostInfo?: HostInfoReader
  readonly whitelistedCapabilities?: ReadonlyArray<string>
  /** What a job may ask of its hosts (core/container-policy.ts); default: nothing beyond Docker's defaults. `whitelistedCapabilities` adds to its capabilities. */
  readonly containerPolicy?: Partial<ContainerPolicy>
  /** Bearer-token principals and their capabilities (master/auth.ts); absent: no authentication. */
  readonly principals?: Principals
  /** Origins whose web pages may call the API (`--cors-origin`); none by default (master/browser-guard.ts). */
  readonly corsOrigins?: ReadonlyArray<string>
  /** Names a request may give in `Host` besides loopback ones (`--allowed-host`). */
  readonly allowedHosts?: ReadonlyArray<string>
  readonly now?: () => number
  /** How often the leader checks host liveness and expired jobs, in ms. */
  readonly housekeepingIntervalMs?: number
  /** Deregister hosts DOWN longer than this (Helios's --agent-reaping-timeout); absent or 0: never. */
  readonly agentReapingTimeoutMs?: number
  /** Where this master keeps a snapshot of its read model, so a restart reads only the log's tail. */
  readonly snapshotFile?: string
  /** Where this master keeps its checkpoints for temporal queries, so they survive restarts (default: in memory only). */
  readonly checkpointDir?: string
  /** Events between checkpoints (default 10,000). */
  readonly checkpointEvery?: number
  /** Bytes the checkpoints may take (default 128 MiB in memory, 1 GiB in checkpointDir). */
  readonly checkpointBudgetBytes?: number
  /** Write a snapshot after this many new events; default: grows with the log (snapshotInterval in snapshot-schedule.ts). */
  readonly snapshotEveryEvents?: number
  /**
   * How often the leader packs the log's sealed segments (ZooKeeper: a few znodes per 10,000
   * positions instead of one each), in ms; default 30 s, 0: never.
   */
  readonly packIntervalMs?: number
  /** How often the projection checks that the log still holds what it applied, in ms (default 10 s). */
  readonly divergenceCheckIntervalMs?: number
  /** How long ZooKeeper may be unreachable before /healthz answers 503 LOG_UNAVAILABLE, in ms (default 3 s). */
  readonly logUnavailableGraceMs?: number
  /** Positions of undecodable events this master skips (--skip-undecodable); every master must be given the same. */
  readonly skipUndecodable?: ReadonlyArray<number>
  /** Where this master's metrics go (GET /metrics); default a registry of its own (never prom-client's global one). */
  readonly metrics?: Registry
  /** More registries of this process served on its /metrics (solo mode: its agent's). */
  readonly alsoServeMetrics?: ReadonlyArray<Registry>
  /** Agents' relayed appends waiting for the log at once before the relay sheds load with 503 + Retry-After (default 256). */
  readonly relayMaxInFlight?: number
  /** Large answers this size or more are gzip-compressed for a client that accepts it (default 64 KiB; Infinity: never; --compress-from). */
  readonly compressFromBytes?: number
}

export interface RunningMaster {
  readonly name: string
  readonly url: string
  readonly port: number
  readonly projection: LiveProjection
  readonly checkpoints: Checkpoints
  readonly bus: CommandBus
  /** This master's Prometheus registry (what GET /metrics serves, with alsoServeMetrics). */
  readonly metrics: Registry
  stop(): Promise<void>
}

export const startMaster = async (options: MasterOptions): Promise<RunningMaster> => {
  const name = options.name ?? osHostname()
  const now = options.now ?? Date.now
  const zk = options.zk
  const root = options.zkRoot ?? "/helios"
  const paths = zkPaths(root)

  const registry = options.metrics ?? new Registry()
  const { projection, log: guarded, checkpoints } = await startProjection(options)
  const log = meteredLog(guarded, registry, "helios_")
  const unobserveZk = zk ? observeZooKeeper(zk, registry, "helios_") : undefined
  let leading = false
  const metrics = masterMetrics({
    registry,
    projection,
    log,
    name,
    version: HELIOS_VERSION,
    isLeader: () => leading,
    ...(options.alsoServeMetrics ? { alsoServe: options.alsoServeMetrics } : {}),
    polledJobs: () => statusWarmer.watched.length,
  })
  // Writes wait while the event loop runs late, so reads get it back (master/loop-lag.ts).
  const loopLag = new LoopLag({ onHeld: (ms) => metrics.writeHeld(ms) })
  loopLag.start()
  const bus = new CommandBus(log, projection, { beforeStart: () => loopLag.whenOnTime() })
  // Host liveness from watches, not an `exists` per host every round (master/host-liveness.ts).
  const watchedLiveness = zk && options.hostInfo ? new WatchedHostLiveness(zk, root, options.hostInfo) : undefined
  const liveness = watchedLiveness ?? options.hostInfo
  const registration = new MasterRegistration(zk, paths, name)
  const reachability = new LogReachability(zk, Date.now, options.logUnavailableGraceMs)

  const labelsCache = new HostLabelsCache(() => projection.model.state, options.hostInfo ? (host) => options.hostInfo!.get(host) : undefined, now)
  const stopFollowingLabels = projection.onEvents((events) => labelsCache.onEvents(events))
  const hostLabels = (maxAgeMs?: number) => labelsCache.labels(maxAgeMs)
  const statusWarmer = new StatusWarmer(() => projection.model.state, now, { onRound: (ms) => metrics.statusesWarmed(ms) })
  const stopFollowingStatuses = projection.onEvents((events) => statusWarmer.onEvents(events))
  const app = masterApp({
    name,
    version: HELIOS_VERSION,
    log,
    projection,
    checkpoints,
    bus,
    now,
    masters: () => registration.masters(),
    logOutage: () => reachability.outage(),
    ...(options.relayMaxInFlight !== undefined ? { relayMaxInFlight: options.relayMaxInFlight } : {}),
    ...(options.compressFromBytes !== undefined ? { compressFromBytes: options.compressFromBytes } : {}),
    beforeWrite: () => loopLag.whenOnTime(),
    hostDetails: options.hostInfo ? hostDetailsFrom(options.hostInfo) : async () => undefined,
    containerPolicy: {
      ...DEFAULT_CONTAINER_POLICY,
      ...options.containerPolicy,
      whitelistedCapabilities: [...(options.containerPolicy?.whitelistedCapabilities ?? []), ...(options.whitelistedCapabilities ?? [])],
    },
    ...(options.principals ? { principals: options.principals } : {}),
    browser: { corsOrigins: options.corsOrigins ?? [], allowedHosts: options.allowedHosts ?? [], bindAddress: options.bindAddress ?? "0.0.0.0" },
    hostLabels,
    metrics,
    statusWarmer,
  })
  const server = await listen(app.fetch, options)
  await registration.announce(server.advertisedUrl)
  // A ZooKeeper that lost acknowledged data is only met after a reconnect (a server that changes
  // its view drops its clients): check at once that the log still holds what we applied.
  const onReconnected = () => void projection.check("ZooKeeper session re-established")
  zk?.on("connected", onReconnected)

  const election = new LeaderElection(zk, paths, name)
  const rollouts = new RolloutDriver({ name, bus, state: () => projection.model.state, history: () => projection.model.history, now, hostLabels })
  const stopFollowingRollouts = projection.onEvents((events) => rollouts.onEvents(events))
  const failures = new RepeatedFailureLog()
  const housekeeping = new Housekeeping({
    failures,
    name,
    bus,
    state: () => projection.model.state,
    now,
    // Each round asks; the rollout driver acts on the answer between rounds. Not knowing (ZooKeeper
    // out of reach) is not leading, said once.
    isLeader: async () => {
      leading = await election.isLeader().then(
        (yes) => (failures.succeeded("leader election"), yes),
        (error: unknown) => (failures.failed("leader election", failureText(error)), false),
      )
      rollouts.setLeading(leading)
      return leading
    },
    ...(liveness ? { liveness } : {}),
    agentReapingTimeoutMs: options.agentReapingTimeoutMs ?? 0,
  })
  const warming = repeatWithoutOverlap(WARM_INTERVAL_MS, () => statusWarmer.round(), (error) => failures.failed("keeping polled statuses ready", failureText(error)))
  const snapshots = options.snapshotFile ? new SnapshotSchedule(options.snapshotFile, options.log, projection, options.snapshotEveryEvents) : undefined
  // Each part said once when it fails (not every round), and once when it works again.
  const background = repeatWithoutOverlap(
    options.housekeepingIntervalMs ?? 2000,
    async () => {
      await failures.run("housekeeping round", () => housekeeping.round())
      await failures.run("rollouts round", () => rollouts.round())
      await failures.run("snapshot schedule", async () => snapshots?.afterRound())
    },
    (error) => failures.failed("background round", failureText(error)),
  )
  // The leader's upkeep of the log, in its own loop (packing a backlog, a log from before packing,
  // takes minutes), never in the way of housekeeping and rollouts; another master doing it too is
  // safe, just wasted. Packing sealed segments; then sharing a snapshot of the read model beside
  // the log once enough events came after the last one, so a master without its own starts there.
  const packSealed = options.log.packSealed?.bind(options.log)
  const sharedSnapshots = options.log.sharedSnapshots
  let sharedAt: number | undefined
  // A share under way is waited for on stop (a second or two), and none starts after it.
  let sharing: Promise<void> | undefined
  let stopping = false
  const shareSnapshot = async () => {
    if (sharedSnapshots === undefined || projection.diverged || stopping) return
    sharedAt ??= (await sharedSnapshots.position()) ?? 0
    const position = projection.position
    if (!snapshotDue(sharedAt, position, snapshotInterval(position, options.snapshotEveryEvents)).write) return
    const stored = await saveSharedSnapshot(sharedSnapshots, options.log, projection.model)
    sharedAt = stored ? position : await sharedSnapshots.position()
    if (stored) console.error(`helios-master: shared a snapshot of the read model at position ${position}`)
  }
  const upkeepIntervalMs = options.packIntervalMs ?? 30_000
  const upkeep =
    (packSealed || sharedSnapshots) && upkeepIntervalMs > 0
      ? repeatWithoutOverlap(
          upkeepIntervalMs,
          async () => {
            if (!leading) return
            if (packSealed)
              await failures.run("packing sealed segments", async () => {
                const report = await packSealed()
                if (report.segments > 0)
                  console.error(`helios-master: packed ${report.segments} sealed segments (${report.entries} entries; ${report.znodesRemoved} znodes removed)`)
              })
            await failures.run("sharing a snapshot", () => (sharing = shareSnapshot().finally(() => (sharing = undefined))))
          },
          (error) => failures.failed("log upkeep", failureText(error)),
        )
      : undefined

  return {
    name,
    url: server.url,
    port: server.port,
    projection,
    checkpoints,
    bus,
    metrics: registry,
    stop: async () => {
      loopLag.stop()
      background.stop()
      warming.stop()
      stopFollowingStatuses()
      upkeep?.stop()
      stopping = true
      await sharing?.catch(() => {})
      rollouts.stop()
      stopFollowingRollouts()
      stopFollowingLabels()
      await snapshots?.onStop()
      registration.stopReannouncing()
      zk?.off("connected", onReconnected)
      reachability.close()
      watchedLiveness?.close()
      projection.stop()
      await server.close()
      await checkpoints.close()
      await registration.withdraw()
      await election.resign()
      unobserveZk?.()
    },
  }
}
