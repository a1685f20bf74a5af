import type { DomainEvent, EventOf, StoredEvent, StreamId } from "./events.ts"
import type { AgentId, Goal, HostName, Position } from "./ids.ts"
import type { Job, JobId } from "./job.ts"

/*
 * The fleet as the master sees it: the fold of the whole log. `decide` reads it; projections
 * serve it. The fold owns its state and applies events in place (a fold of 10^6 events cannot
 * afford a copy per event); `evolve` is the copying form for callers that keep old states.
 */

export interface Deployment {
  readonly jobId: JobId
  readonly host: HostName
  readonly goal: Goal
  readonly deployerUser?: string
  readonly deployerMaster?: string
  /** Position of the JobDeployed event. */
  readonly deployedAt: Position
}

export interface HostRecord {
  readonly name: HostName
  readonly agentId: AgentId
  readonly registeredAt: number
  readonly up: boolean
  /** Epoch ms of the last up/down transition (for "Up 3 days" / "Down 2 hours"). */
  readonly since: number
}

/** A task's last report, with when and where in the log it was made. */
export type TaskStatus = Omit<EventOf<"TaskStateChanged">, "_tag"> & {
  readonly at: number
  readonly position: Position
}

export interface FleetState {
  readonly jobs: Map<string, Job>
  readonly hosts: Map<HostName, HostRecord>
  /** host → jobId → deployment */
  readonly deployments: Map<HostName, Map<string, Deployment>>
  /** jobId → hosts it is deployed on (the reverse index of `deployments`) */
  readonly jobHosts: Map<string, Set<HostName>>
  /** host → jobId → latest task status, for deployed jobs only */
  readonly tasks: Map<HostName, Map<string, TaskStatus>>
  /** Current version of every stream (0 after its first append). */
  readonly versions: Map<StreamId, number>
  /** Position of the last event applied. */
  position: Position
}

export const emptyState = (): FleetState => ({
  jobs: new Map(),
  hosts: new Map(),
  deployments: new Map(),
  jobHosts: new Map(),
  tasks: new Map(),
  versions: new Map(),
  position: 0 as Position,
})

const inner = <K, V>(outer: Map<HostName, Map<K, V>>, host: HostName): Map<K, V> => {
  let m = outer.get(host)
  if (!m) {
    m = new Map()
    outer.set(host, m)
  }
  return m
}

const undeploy = (state: FleetState, host: HostName, jobId: string): void => {
  state.deployments.get(host)?.delete(jobId)
  state.tasks.get(host)?.delete(jobId)
  const hosts = state.jobHosts.get(jobId)
  hosts?.delete(host)
  if (hosts?.size === 0) state.jobHosts.delete(jobId)
}

/**
 * An agent's task report: most of a log, so it is tested first (a string switch compares tags in
 * order) and builds one object.
 */
const applyTaskStateChanged = (state: FleetState, event: EventOf<"TaskStateChanged">, at: number, position: Position): void => {
  // Late reports about a deployment that is gone stay in history, not in current state; so do the
  // reports of an undeploy (goal UNDEPLOY), even when they land after the job was deployed again.
  if (event.goal === "UNDEPLOY" || state.deployments.get(event.host)?.has(event.jobId) !== true) return
  // Built field by field: object rest/spread is ~6x slower here.
  const status: { -readonly [K in keyof TaskStatus]: TaskStatus[K] } = {
    jobId: event.jobId,
    host: event.host,
    state: event.state,
    goal: event.goal,
    throttled: event.throttled,
    at,
    position,
  }
  if (event.containerId !== undefined) status.containerId = event.containerId
  if (event.ports !== undefined) status.ports = event.ports
  if (event.env !== undefined) status.env = event.env
  if (event.error !== undefined) status.error = event.error
  inner(state.tasks, event.host).set(event.jobId, status)
}

const applyDomainEvent = (state: FleetState, event: DomainEvent, at: number, position: Position): void => {
  if (event._tag === "TaskStateChanged") return applyTaskStateChanged(state, event, at, position)
  switch (event._tag) {
    case "JobCreated":
      state.jobs.set(event.job.id, event.job)
      return
    case "JobRemoved":
      state.jobs.delete(event.jobId)
      return
    case "JobDeployed":
      inner(state.deployments, event.host).set(event.job.id, {
        jobId: event.job.id,
        host: event.host,
        goal: event.goal,
        ...(event.deployerUser !== undefined ? { deployerUser: event.deployerUser } : {}),
        ...(event.deployerMaster !== undefined ? { deployerMaster: event.deployerMaster } : {}),
        deployedAt: position,
      })
      let hosts = state.jobHosts.get(event.job.id)
      if (!hosts) state.jobHosts.set(event.job.id, (hosts = new Set()))
      hosts.add(event.host)
      return
    case "DeploymentGoalChanged": {
      const d = state.deployments.get(event.host)?.get(event.jobId)
      if (d) state.deployments.get(event.host)!.set(event.jobId, { ...d, goal: event.goal })
      return
    }
    case "JobUndeployed":
      undeploy(state, event.host, event.jobId)
      return
    case "HostRegistered": {
      const prior = state.hosts.get(event.host)
      state.hosts.set(event.host, {
        name: event.host,
        agentId: event.agentId,
        registeredAt: at,
        up: prior?.up ?? false,
        since: prior?.since ?? at,
      })
      return
    }
    case "HostDeregistered":
      for (const jobId of [...(state.deployments.get(event.host)?.keys() ?? [])]) undeploy(state, event.host, jobId)
      state.hosts.delete(event.host)
      state.deployments.delete(event.host)
      state.tasks.delete(event.host)
      return
    case "HostWentUp":
    case "HostWentDown": {
      const h = state.hosts.get(event.host)
      const up = event._tag === "HostWentUp"
      if (h && h.up !== up) state.hosts.set(event.host, { ...h, up, since: at })
      return
    }
  }
}

/** Applies one stored event to a state the caller owns (mutates it). */
export const applyEvent = (state: FleetState, stored: StoredEvent): FleetState => {
  applyDomainEvent(state, stored.envelope.event, stored.envelope.at, stored.position)
  for (const stream of stored.bumped) state.versions.set(stream, (state.versions.get(stream) ?? -1) + 1)
  state.position = stored.position
  return state
}

/** A deep copy, so a caller can keep a state while the original folds on. */
export const cloneState = (s: FleetState): FleetState => ({
  jobs: new Map(s.jobs),
  hosts: new Map(s.hosts),
  deployments: new Map([...s.deployments].map(([h, m]) => [h, new Map(m)])),
  jobHosts: new Map([...s.jobHosts].map(([j, hosts]) => [j, new Set(hosts)])),
  tasks: new Map([...s.tasks].map(([h, m]) => [h, new Map(m)])),
  versions: new Map(s.versions),
  position: s.position,
})

/** The pure, copying step: evolve(state, event) leaves `state` untouched. */
export const evolve = (state: FleetState, stored: StoredEvent): FleetState => applyEvent(cloneState(state), stored)

export const foldEvents = (events: Iterable<StoredEvent>, from: FleetState = emptyState()): FleetState => {
  for (const e of events) applyEvent(from, e)
  return from
}

export const deploymentsOfJob = (state: FleetState, jobId: string): Deployment[] =>
  [...(state.jobHosts.get(jobId) ?? [])].map((host) => state.deployments.get(host)!.get(jobId)!)
