/**
 * A synthetic but valid fleet history for the benchmarks: commands are decided by core/decide
 * against the state folded so far, so every event is one the master could have appended (jobs
 * exist before they are deployed, hosts before they are used, task reports only for deployments).
 *
 * Mix (by design, measured in `mixOf`): most events are agents' TaskStateChanged reports, the
 * rest are job creations/removals, deployments/undeployments, goal changes and hosts going up
 * and down, over `hosts` hosts with about `deploymentsPerHost` deployments each.
 */
import { Result } from "effect"
import type { Command, CommandContext } from "../core/commands.ts"
import { decide } from "../core/decide.ts"
import { envelopeOf } from "../core/envelope.ts"
import type { StoredEvent, StreamId } from "../core/events.ts"
import type { AgentId, HostName, TaskState } from "../core/ids.ts"
import { position } from "../core/ids.ts"
import { decodeJob, type Job, type JobId } from "../core/job.ts"
import { applyEvent, emptyState, type FleetState } from "../core/state.ts"
import { rng } from "./lib.ts"

export interface WorkloadOptions {
  readonly hosts?: number
  readonly deploymentsPerHost?: number
  readonly seed?: number
  /** Epoch ms of the first event; events are 50 ms apart. */
  readonly start?: number
}

const hex = (r: ReturnType<typeof rng>, n: number) => {
  let s = ""
  for (let i = 0; i < n; i++) s += "0123456789abcdef"[r.int(16)]
  return s
}

const IMAGES = ["registry.example.com/web", "registry.example.com/api", "registry.example.com/worker", "redis", "nginx"]

const makeJob = (r: ReturnType<typeof rng>, name: string, version: number): Job => {
  const result = decodeJob({
    id: `${name}:v${version}`,
    image: `${r.pick(IMAGES)}:${version}.${r.int(20)}`,
    ports: { http: { internalPort: 8080, protocol: "tcp" }, ...(r.next() < 0.3 ? { admin: { internalPort: 9090 } } : {}) },
    env: { SERVICE: name, LOG_LEVEL: r.pick(["info", "debug", "warn"]), REGION: r.pick(["eu-west", "us-east"]) },
    healthCheck: { type: "http", port: "http", path: "/healthz" },
    registration: { [`${name}/http`]: { ports: { http: {} } } },
    gracePeriod: 5,
  })
  if (Result.isFailure(result)) throw new Error(`workload: invalid job ${name}: ${JSON.stringify(result.failure)}`)
  return result.success
}

/** The task states an agent reports after a deployment, then around a restart. */
const STARTUP: TaskState[] = ["PULLING_IMAGE", "CREATING", "STARTING", "HEALTHCHECKING", "RUNNING"]
const RESTART: TaskState[] = ["EXITED", "STARTING", "HEALTHCHECKING", "RUNNING"]

interface Slot {
  host: HostName
  jobId: JobId
  /** Reports still to send, in order. */
  pending: TaskState[]
  containerId: string
  port: number
}

/**
 * Generates `n` stored events (positions 1..n), one command's events after another. Also returns
 * the final state and the batches (events of one command) as position ranges.
 */
export const generateWorkload = (
  n: number,
  options: WorkloadOptions = {},
): { events: StoredEvent[]; batches: Array<[first: number, count: number]>; state: FleetState } => {
  const r = rng(options.seed ?? 42)
  const hostCount = options.hosts ?? 100
  const perHost = options.deploymentsPerHost ?? 5
  const t0 = options.start ?? Date.UTC(2026, 0, 1)
  const state = emptyState()
  const events: StoredEvent[] = []
  const batches: Array<[number, number]> = []
  const hosts = Array.from({ length: hostCount }, (_, i) => `host-${String(i).padStart(4, "0")}.dc1.example.com` as HostName)
  const agentSeq = new Map<string, number>()
  const slots: Slot[] = []
  const slotIndex = new Map<string, number>()
  const jobNames = Array.from({ length: Math.max(10, Math.round((hostCount * perHost) / 4)) }, (_, i) => `svc-${i}`)
  const versions = new Map<string, number>()
  let cmdSeq = 0

  const run = (command: Command, actor: CommandContext["actor"]): boolean => {
    if (events.length >= n) return false
    const at = t0 + events.length * 50
    const decided = decide(command, state, { now: at, actor, master: "master-1" })
    if (Result.isFailure(decided) || decided.success.events.length === 0) return false
    const commandId =
      actor.kind === "agent"
        ? `${actor.name}-1-${(agentSeq.set(actor.name, (agentSeq.get(actor.name) ?? 0) + 1), agentSeq.get(actor.name))}`
        : `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-a${hex(r, 3)}-${(++cmdSeq).toString(16).padStart(12, "0")}`
    const bumped = Object.keys(decided.success.expected) as StreamId[]
    const first = events.length + 1
    const evs = decided.success.events.slice(0, n - events.length)
    evs.forEach((event, i) => {
      const envelope = envelopeOf(event, { at, actor, commandId })
      const stored: StoredEvent = { position: position(first + i), envelope, bumped: i === evs.length - 1 ? bumped : [] }
      applyEvent(state, stored)
      events.push(stored)
    })
    batches.push([first, evs.length])
    return true
  }
  const user = { kind: "user" as const, name: "alice" }
  const master = { kind: "master" as const, name: "master-1" }

  for (const host of hosts) {
    run({ _tag: "RegisterHost", host, agentId: hex(r, 40) as AgentId }, { kind: "agent", name: host })
    run({ _tag: "MarkHostUp", host, agentId: state.hosts.get(host)?.agentId ?? ("x" as AgentId) }, master)
  }

  const removeSlot = (host: HostName, jobId: string) => {
    const key = `${host}\u0000${jobId}`
    const i = slotIndex.get(key)
    if (i === undefined) return
    const last = slots.pop()!
    if (i < slots.length) {
      slots[i] = last
      slotIndex.set(`${last.host}\u0000${last.jobId}`, i)
    }
    slotIndex.delete(key)
  }

  const createJob = (): JobId | undefined => {
    const name = r.pick(jobNames)
    const version = (versions.get(name) ?? 0) + 1
    const job = makeJob(r, name, version)
    if (!run({ _tag: "CreateJob", job }, user)) return undefined
    versions.set(name, version)
    return job.id
  }

  const deploy = () => {
    const jobs = [...state.jobs.keys()]
    const jobId = (jobs.length === 0 || r.next() < 0.2 ? createJob() : r.pick(jobs)) as JobId | undefined
    if (jobId === undefined) return
    const host = r.pick(hosts)
    if (!run({ _tag: "DeployJob", jobId, host, goal: "START" }, user)) return
    const slot: Slot = { host, jobId, pending: [...STARTUP], containerId: hex(r, 64), port: 20000 + r.int(10000) }
    slotIndex.set(`${host}\u0000${jobId}`, slots.length)
    slots.push(slot)
  }

  const report = () => {
    const slot = r.pick(slots)
    if (slot.pending.length === 0) slot.pending = r.next() < 0.5 ? [...RESTART] : ["RUNNING"]
    const s = slot.pending.shift()!
    const d = state.deployments.get(slot.host)?.get(slot.jobId)
    run(
      {
        _tag: "ReportTaskState",
        jobId: slot.jobId,
        host: slot.host,
        state: s,
        goal: d?.goal ?? "START",
        throttled: "NO",
        ...(s === "PULLING_IMAGE" ? {} : { containerId: slot.containerId }),
        ...(s === "RUNNING" || s === "HEALTHCHECKING"
          ? {
              ports: { http: { internalPort: 8080, externalPort: slot.port, protocol: "tcp" as const } },
              env: { HELIOS_PORT_http: `${slot.host}:${slot.port}` },
            }
          : {}),
        ...(s === "EXITED" ? { error: "exit code 137" } : {}),
      },
      { kind: "agent", name: slot.host },
    )
  }

  const undeploy = () => {
    const slot = r.pick(slots)
    if (run({ _tag: "UndeployJob", jobId: slot.jobId, host: slot.host }, user)) removeSlot(slot.host, slot.jobId)
  }

  const removeJob = () => {
    const idle = [...state.jobs.keys()].filter((j) => !state.jobHosts.has(j))
    if (idle.length > 0) run({ _tag: "RemoveJob", jobId: r.pick(idle) as JobId }, user)
  }

  const setGoal = () => {
    const slot = r.pick(slots)
    const d = state.deployments.get(slot.host)?.get(slot.jobId)
    if (!d) return
    const goal = d.goal === "START" ? "STOP" : "START"
    if (run({ _tag: "SetGoal", jobId: slot.jobId, host: slot.host, goal }, user))
      slot.pending = goal === "STOP" ? ["STOPPING", "STOPPED"] : ["STARTING", "RUNNING"]
  }

  const flapHost = () => {
    const host = r.pick(hosts)
    const h = state.hosts.get(host)
    if (!h) return
    run(h.up ? { _tag: "MarkHostDown", host } : { _tag: "MarkHostUp", host, agentId: h.agentId }, master)
  }

  const target = hostCount * perHost
  while (events.length < n) {
    const x = r.next()
    if (slots.length < target * 0.5 || (slots.length < target && x < 0.06)) deploy()
    else if (x < 0.08) undeploy()
    else if (x < 0.1) removeJob()
    else if (x < 0.12) createJob()
    else if (x < 0.14) setGoal()
    else if (x < 0.145) flapHost()
    else report()
    // Re-deploy what a removal or undeploy took away so the fleet stays about the same size.
    if (slots.length > target * 1.2) undeploy()
  }
  return { events, batches, state }
}

/** How many events of each type. */
export const mixOf = (events: ReadonlyArray<StoredEvent>): Record<string, number> => {
  const mix: Record<string, number> = {}
  for (const e of events) mix[e.envelope.event._tag] = (mix[e.envelope.event._tag] ?? 0) + 1
  return mix
}
