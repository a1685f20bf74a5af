/**
 * One master cold start, in a fresh process so its memory is the master's alone (run by
 * bench/fold.ts, not on its own):
 *
 *   node --import tsx --expose-gc bench/cold-start-worker.ts '{"kind":"zookeeper","connect":"127.0.0.1:PORT","root":"/r"}'
 *   node --import tsx --expose-gc bench/cold-start-worker.ts '{"kind":"sqlite","file":"/tmp/x.db"}'
 *
 * Starts a real master (startMaster: its LiveProjection catches up before it serves, within its
 * own 120 s limit), then waits for the projection to reach the log's head if startMaster gave up
 * earlier, and prints one JSON line: times, events, memory after a full GC.
 */
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import type { EventLog } from "../core/event-log.ts"
import { startMaster } from "../master/master.ts"
import { historySize } from "../projections/history.ts"
import { gc, mib, nowMs, round } from "./lib.ts"

type Args = { kind: "zookeeper"; connect: string; root: string } | { kind: "sqlite"; file: string }

const args = JSON.parse(process.argv[2] ?? "{}") as Args
const before = process.memoryUsage()
const t0 = nowMs()
let zk: ZkClient | undefined
let eventLog: EventLog
if (args.kind === "zookeeper") {
  zk = await ZkClient.connect(args.connect, { operationTimeoutMs: 30_000 })
  eventLog = await ZooKeeperEventLog.open(zk, { root: args.root })
} else {
  eventLog = new SqliteEventLog(args.file)
}
const head = await eventLog.head()
const tOpen = nowMs()
// No ZooKeeper session for the master itself: no registration or housekeeping writes during the measurement.
const master = await startMaster({ log: eventLog, name: "bench", port: 0, bindAddress: "127.0.0.1", housekeepingIntervalMs: 2_000_000_000 })
const tServing = nowMs()
const positionWhenServing = master.projection.position
if (master.projection.position < head) await master.projection.waitFor(head, 30 * 60_000)
const tCaughtUp = nowMs()
gc()
const after = process.memoryUsage()
const model = master.projection.model
const out = {
  kind: args.kind,
  head,
  position: master.projection.position,
  openMs: round(tOpen - t0),
  startMasterMs: round(tServing - tOpen),
  /** startMaster returned before the projection held the whole log (its catch-up limit is 120 s). */
  servedStale: positionWhenServing < head,
  positionWhenServing,
  catchUpMs: round(tCaughtUp - tOpen),
  eventsPerSec: round((head * 1000) / (tCaughtUp - tOpen)),
  rssMiB: mib(after.rss),
  heapUsedMiB: mib(after.heapUsed),
  externalMiB: mib(after.external),
  rssBeforeMiB: mib(before.rss),
  model: {
    jobs: model.state.jobs.size,
    hosts: model.state.hosts.size,
    deployments: [...model.state.deployments.values()].reduce((n, m) => n + m.size, 0),
    tasks: [...model.state.tasks.values()].reduce((n, m) => n + m.size, 0),
    historyEntries: historySize(model.history),
    commandIds: model.commands.size,
  },
}
await master.stop()
await eventLog.close()
await zk?.close()
console.log(JSON.stringify(out))
process.exit(0)
