/**
 * The master of bench/fleet.ts, in its own process (as in production: its event loop is not the
 * one of the 1,000 simulated agents, so its API latency is its own). Started with fork() by
 * bench/fleet.ts, which talks to it over IPC:
 *
 *   parent → child  { type: "watch", target }   report when `target` tasks are RUNNING
 *                   { type: "reset" }            zero the counters (start of the rollout)
 *                   { type: "stats" }            answer with counters, CPU, event-loop delay
 *                   { type: "stop" }
 *   child → parent  { type: "ready", url }      { type: "allRunning", at, position }
 *                   { type: "progress", at, running, deployed, position }   every second
 *                   { type: "stats", ... }      { type: "stopped" }
 *
 * RUNNING is counted from the master's own projection: the events it applied (a task's latest
 * TaskStateChanged is RUNNING), the same model its API answers from.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { startMaster } from "../master/master.ts"
import { countingZk, type OpCounts } from "./fleet-zk.ts"

const [connectString, root] = [process.argv[2]!, process.argv[3] ?? "/helios"]
const send = (m: unknown) => process.send?.(m)

const counts: OpCounts = {}
const session = await ZkClient.connect(connectString, { sessionTimeoutMs: 30_000 })
const zk = countingZk(session, counts)
const log = await ZooKeeperEventLog.open(zk, { root })
const master = await startMaster({ log, zk, zkRoot: root, name: "bench-fleet-master", port: 0, bindAddress: "127.0.0.1", hostInfo: new ZkHostInfoStore(zk, root) })

const running = new Set<string>()
let deployed = 0
let applied = 0
let target: number | undefined
let reported = false
master.projection.onEvents((events) => {
  for (const e of events) {
    applied++
    const ev = e.envelope.event
    if (ev._tag === "JobDeployed") deployed++
    else if (ev._tag === "TaskStateChanged") {
      const key = `${ev.host}|${ev.jobId}`
      if (ev.state === "RUNNING") running.add(key)
      else running.delete(key)
    } else if (ev._tag === "JobUndeployed") running.delete(`${ev.host}|${ev.jobId}`)
  }
  if (target !== undefined && !reported && running.size >= target) {
    reported = true
    send({ type: "allRunning", at: Date.now(), position: master.projection.position, running: running.size })
  }
})

const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
let cpu = process.cpuUsage()
const progress = setInterval(() => send({ type: "progress", at: Date.now(), running: running.size, deployed, position: master.projection.position }), 1000)
progress.unref()

process.on("message", async (m: { type: string; target?: number }) => {
  if (m.type === "watch") {
    target = m.target
    reported = false
    if (target !== undefined && running.size >= target) {
      reported = true
      send({ type: "allRunning", at: Date.now(), position: master.projection.position, running: running.size })
    }
  } else if (m.type === "reset") {
    for (const k of Object.keys(counts)) delete counts[k]
    applied = 0
    loop.reset()
    cpu = process.cpuUsage()
  } else if (m.type === "stats") {
    const used = process.cpuUsage(cpu)
    send({
      type: "stats",
      counts: { ...counts },
      applied,
      running: running.size,
      deployed,
      position: master.projection.position,
      cpuSeconds: (used.user + used.system) / 1e6,
      rssMiB: Math.round(process.memoryUsage().rss / 1024 / 1024),
      heapMiB: Math.round(process.memoryUsage().heapUsed / 1024 / 1024),
      eventLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    })
  } else if (m.type === "stop") {
    clearInterval(progress)
    await master.stop().catch(() => undefined)
    await log.close().catch(() => undefined)
    await session.close().catch(() => undefined)
    send({ type: "stopped" })
    process.exit(0)
  }
})
// log/zookeeper-log.ts's readEntries can leave a read's rejection unhandled at shutdown: not fatal here.
process.on("unhandledRejection", () => {})
// The parent died without stopping us: do not linger.
process.on("disconnect", () => process.exit(0))

send({ type: "ready", url: master.url, pid: process.pid })
