/**
 * The master of bench/fleet.ts, in its own process (as in production: its event loop is not the
 * one of the 1,000 simulated agents, so its API latency is its own). Started with fork() by
 * bench/fleet.ts, which talks to it over IPC:
 *
 *   parent → child  { type: "watch", target }   report when `target` tasks are RUNNING
 *                   { type: "watchJob", jobId, target }   report when `target` tasks of one job are RUNNING
 *                   { type: "watchRollout", group }        report when the group's next rollout ends
 *                   { type: "reset" }            zero the counters (start of the rollout)
 *                   { type: "stats" }            answer with counters, CPU, event-loop delay
 *                   { type: "stop" }
 *   child → parent  { type: "ready", url }      { type: "allRunning", at, position }
 *                   { type: "jobRunning", jobId, at, position }
 *                   { type: "rolloutDone", group, status, error?, at, startedEventAt, finishedEventAt,
 *                     hosts, steps, batches, failures, stepMs: { kind: durations } }
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
import type { StoredEvent } from "../core/events.ts"

const [connectString, root] = [process.argv[2]!, process.argv[3] ?? "/helios"]
/** The relay's bound on appends in flight (argv[4]; 0: unbounded); absent: the master's default. */
const relayMaxInFlight = process.argv[4] === undefined ? undefined : Number(process.argv[4]) === 0 ? Number.POSITIVE_INFINITY : Number(process.argv[4])
const send = (m: unknown) => process.send?.(m)

const counts: OpCounts = {}
const session = await ZkClient.connect(connectString, { sessionTimeoutMs: 30_000 })
const zk = countingZk(session, counts)
const log = await ZooKeeperEventLog.open(zk, { root })
const master = await startMaster({ log, zk, zkRoot: root, name: "bench-fleet-master", port: 0, bindAddress: "127.0.0.1", hostInfo: new ZkHostInfoStore(zk, root), ...(relayMaxInFlight !== undefined ? { relayMaxInFlight } : {}) })

const running = new Set<string>()
/** RUNNING tasks per job (the keys of `running` counted by job). */
const runningByJob = new Map<string, number>()
const setRunning = (host: string, jobId: string, on: boolean) => {
  const key = `${host}|${jobId}`
  if (on === running.has(key)) return
  if (on) running.add(key)
  else running.delete(key)
  runningByJob.set(jobId, (runningByJob.get(jobId) ?? 0) + (on ? 1 : -1))
}
let deployed = 0
let applied = 0
/** Events applied since the last reset, by type. */
let byType: Record<string, number> = {}
let target: number | undefined
let reported = false
let jobWatch: { jobId: string; target: number } | undefined

/** The rollout being watched: its steps' start times and durations, read from the events' timestamps. */
interface RolloutTrack {
  readonly group: string
  startedEventAt?: number
  hosts?: number
  steps?: number
  readonly stepStartedAt: Map<number, number>
  readonly stepMs: Record<string, number[]>
  readonly batches: Set<string>
  failures: number
}
let rolloutWatch: RolloutTrack | undefined

const onRolloutEvent = (e: StoredEvent): void => {
  const w = rolloutWatch
  const ev = e.envelope.event
  if (w === undefined || !("group" in ev) || ev.group !== w.group) return
  if (e.envelope.commandId !== undefined) w.batches.add(e.envelope.commandId)
  const at = e.envelope.at
  switch (ev._tag) {
    case "RolloutStarted":
      w.startedEventAt = at
      w.hosts = ev.hosts.length
      w.steps = ev.steps.length
      w.stepStartedAt.clear()
      break
    case "RolloutStepStarted":
      w.stepStartedAt.set(ev.step, at)
      break
    case "RolloutStepSucceeded":
    case "RolloutStepFailed": {
      const started = w.stepStartedAt.get(ev.step)
      if (started !== undefined) (w.stepMs[ev.kind] ??= []).push(at - started)
      if (ev._tag === "RolloutStepFailed") w.failures++
      break
    }
    case "RolloutFinished":
    case "RolloutStopped":
      if (w.startedEventAt === undefined) break
      rolloutWatch = undefined
      send({
        type: "rolloutDone",
        group: w.group,
        status: ev._tag === "RolloutStopped" ? "STOPPED" : ev.status,
        ...(ev._tag === "RolloutFinished" && ev.error !== undefined ? { error: ev.error } : {}),
        at: Date.now(),
        startedEventAt: w.startedEventAt,
        finishedEventAt: at,
        hosts: w.hosts,
        steps: w.steps,
        batches: w.batches.size,
        failures: w.failures,
        stepMs: w.stepMs,
        position: e.position,
      })
      break
  }
}

master.projection.onEvents((events) => {
  for (const e of events) {
    applied++
    const ev = e.envelope.event
    byType[ev._tag] = (byType[ev._tag] ?? 0) + 1
    if (ev._tag === "JobDeployed") deployed++
    else if (ev._tag === "TaskStateChanged") setRunning(ev.host, ev.jobId, ev.state === "RUNNING")
    else if (ev._tag === "JobUndeployed") setRunning(ev.host, ev.jobId, false)
    else if (rolloutWatch !== undefined && ev._tag.startsWith("Rollout")) onRolloutEvent(e)
  }
  if (target !== undefined && !reported && running.size >= target) {
    reported = true
    send({ type: "allRunning", at: Date.now(), position: master.projection.position, running: running.size })
  }
  if (jobWatch !== undefined && (runningByJob.get(jobWatch.jobId) ?? 0) >= jobWatch.target) {
    send({ type: "jobRunning", jobId: jobWatch.jobId, at: Date.now(), position: master.projection.position })
    jobWatch = undefined
  }
})

const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
let cpu = process.cpuUsage()
const progress = setInterval(() => send({ type: "progress", at: Date.now(), running: running.size, deployed, position: master.projection.position }), 1000)
progress.unref()

process.on("message", async (m: { type: string; target?: number; jobId?: string; group?: string }) => {
  if (m.type === "watchJob") {
    jobWatch = { jobId: m.jobId!, target: m.target! }
    if ((runningByJob.get(jobWatch.jobId) ?? 0) >= jobWatch.target) {
      send({ type: "jobRunning", jobId: jobWatch.jobId, at: Date.now(), position: master.projection.position })
      jobWatch = undefined
    }
  } else if (m.type === "watchRollout") {
    rolloutWatch = { group: m.group!, stepStartedAt: new Map(), stepMs: {}, batches: new Set(), failures: 0 }
  } else if (m.type === "watch") {
    target = m.target
    reported = false
    if (target !== undefined && running.size >= target) {
      reported = true
      send({ type: "allRunning", at: Date.now(), position: master.projection.position, running: running.size })
    }
  } else if (m.type === "reset") {
    for (const k of Object.keys(counts)) delete counts[k]
    applied = 0
    byType = {}
    loop.reset()
    cpu = process.cpuUsage()
  } else if (m.type === "stats") {
    const used = process.cpuUsage(cpu)
    send({
      type: "stats",
      counts: { ...counts },
      applied,
      byType,
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
