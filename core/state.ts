import type { DeploymentGroup, MergedRolloutOptions, RolloutErrorCode, RolloutReason, RolloutStep } from "./deployment-group.ts"
import { STOPPED_BY_USER } from "./deployment-group.ts"
import type { DomainEvent, EventOf, StoredEvent, StreamId } from "./events.ts"
import { formatActor, type AgentId, type Goal, type HostName, type Position } from "./ids.ts"
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
  /** The deployment group whose rollout made it. */
  readonly deploymentGroup?: string
  /** Position of the JobDeployed event. */
  readonly deployedAt: Position
}

export interface HostRecord {
  readonly name: HostName
  readonly agentId: AgentId
  /** Epoch ms of the HostRegistered event, by the agent's clock. */
  readonly registeredAt: number
  /** Its log position (absent in a state restored from a snapshot written before it was kept). */
  readonly registeredPosition?: Position
  readonly up: boolean
  /** Epoch ms of the last up/down transition (for "Up 3 days" / "Down 2 hours"). */
  readonly since: number
}

/** A task's last report, with when and where in the log it was made. */
export type TaskStatus = Omit<EventOf<"TaskStateChanged">, "_tag"> & {
  readonly at: number
  readonly position: Position
}

/** A step that failed, as its group's status shows it. */
export interface FailedStep {
  readonly step: number
  readonly host: HostName
  readonly error: RolloutErrorCode
  readonly message: string
}

/** A group's latest rollout: its plan and how far it got. */
export interface RolloutRecord {
  /** Position of its RolloutStarted event (what names the rollout in the log). */
  readonly startedAt: Position
  /** Epoch ms of its RolloutStarted event. */
  readonly startedAtTime: number
  /** Its number in the group's rollouts: 1, 2, 3... */
  readonly number: number
  readonly jobId: JobId
  readonly reason: RolloutReason
  readonly options: MergedRolloutOptions
  readonly steps: ReadonlyArray<RolloutStep>
  /** With a canary: the first step after the canary hosts' steps (the rollout waits there for `promote`). */
  readonly canaryUntilStep?: number
  /** The canary was promoted (or there is none to promote). */
  readonly promoted: boolean
  /**
   * Helios's group status: ROLLING_OUT until it finishes ACTIVE or FAILED (or is stopped: FAILED);
   * ours adds AWAITING_PROMOTION, a canary waiting for `promote`.
   */
  readonly status: RolloutStatus
  /** Index of the step in progress (= steps done); steps.length once every step is done. */
  readonly nextStep: number
  /** Epoch ms of the rollout's last progress (its start, or the start of the step in progress): a step's timeout runs from it. */
  readonly lastProgressAt: number
  /** Steps that failed (with ignoreFailures the rollout went on past them). */
  readonly failures: ReadonlyArray<FailedStep>
  /** FAILED: why (Helios's status error). */
  readonly error?: string
}

export type RolloutStatus = "ROLLING_OUT" | "AWAITING_PROMOTION" | "ACTIVE" | "FAILED"

/** One of a group's rollouts, as `rollout history` lists them. */
export interface RolloutSummary {
  readonly number: number
  readonly startedAt: Position
  readonly startedAtTime: number
  /** Who started it (a user, or the master for HOSTS_CHANGED and automatic rollbacks). */
  readonly actor: string
  readonly jobId: JobId
  readonly reason: RolloutReason
  readonly options: MergedRolloutOptions
  /**
   * How it ended; SUPERSEDED: another rollout of the group started before it ended. A stop after
   * it ended changes only its group's status, not this.
   */
  readonly status: RolloutStatus | "SUPERSEDED"
  /** Position and time of the event that ended it. */
  readonly endedAt?: Position
  readonly endedAtTime?: number
  readonly failedSteps: number
  readonly rollbackTo?: number
}

export interface GroupRecord {
  readonly group: DeploymentGroup
  /** Position of its DeploymentGroupCreated event. */
  readonly createdAt: Position
  /** The hosts matching its selectors when its latest rollout started (Helios's group hosts); [] before. */
  readonly hosts: ReadonlyArray<HostName>
  /** The latest rollout, if any (Helios: the group's job, options and rolling-update reason come from it). */
  readonly rollout?: RolloutRecord
  /** Every rollout of the group, oldest first (the last one is `rollout`'s summary). */
  readonly rollouts: ReadonlyArray<RolloutSummary>
}

/**
 * What a rollback from rollout `current` restores, if any: the group's latest rollout before it
 * that ended ACTIVE with another job (one of the same job, such as the HOSTS_CHANGED rollouts that
 * followed it, would undo nothing).
 */
export const rollbackTarget = (g: GroupRecord, current: Pick<RolloutRecord, "number" | "jobId">): RolloutSummary | undefined => {
  for (let i = g.rollouts.length - 1; i >= 0; i--) {
    const r = g.rollouts[i]!
    if (r.number < current.number && r.status === "ACTIVE" && r.jobId !== current.jobId) return r
  }
  return undefined
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
  /** Deployment groups by name, with their latest rollout. */
  readonly groups: Map<string, GroupRecord>
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
  groups: new Map(),
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

type RolloutEvent = EventOf<
  "RolloutStepStarted" | "RolloutStepSucceeded" | "RolloutStepSkipped" | "RolloutStepFailed" | "RolloutFinished" | "RolloutStopped" | "RolloutAwaitingPromotion" | "RolloutPromoted"
>

/** The group's summary of its latest rollout, brought up to date with the record. */
const withSummary = (g: GroupRecord, r: RolloutRecord, ended?: { readonly at: number; readonly position: Position }): GroupRecord => {
  const rollouts = g.rollouts.slice()
  const last = rollouts[rollouts.length - 1]
  if (last !== undefined && last.number === r.number)
    rollouts[rollouts.length - 1] = {
      ...last,
      status: r.status,
      failedSteps: r.failures.length,
      ...(ended !== undefined ? { endedAt: ended.position, endedAtTime: ended.at } : {}),
    }
  return { ...g, rollout: r, rollouts }
}

/**
 * A rollout event applied to its group's rollout in progress. Events that do not fit it (no such
 * group, no rollout in progress, another job, another step) change nothing: decisions never
 * write them, and the fold must not trip over a log it did not write.
 */
const applyRolloutEvent = (state: FleetState, event: RolloutEvent, at: number, position: Position): void => {
  const g = state.groups.get(event.group)
  const r = g?.rollout
  if (g === undefined || r === undefined || r.jobId !== event.jobId) return
  const inProgress = r.status === "ROLLING_OUT" || r.status === "AWAITING_PROMOTION"
  // A stop also applies to a finished rollout (Helios marks the group FAILED whatever it was doing).
  if (!inProgress && event._tag !== "RolloutStopped") return
  let next: RolloutRecord
  switch (event._tag) {
    case "RolloutStepStarted":
      if (event.step !== r.nextStep || r.status !== "ROLLING_OUT") return
      next = { ...r, lastProgressAt: at }
      break
    case "RolloutStepSucceeded":
    case "RolloutStepSkipped":
      if (event.step !== r.nextStep || r.status !== "ROLLING_OUT") return
      next = { ...r, nextStep: r.nextStep + 1, lastProgressAt: at }
      break
    case "RolloutStepFailed":
      if (event.step !== r.nextStep || r.status !== "ROLLING_OUT") return
      next = {
        ...r,
        nextStep: r.nextStep + 1,
        lastProgressAt: at,
        failures: [...r.failures, { step: event.step, host: event.host, error: event.error, message: event.message }],
      }
      state.groups.set(event.group, withSummary(g, next))
      return
    case "RolloutAwaitingPromotion":
      if (event.step !== r.nextStep || r.status !== "ROLLING_OUT") return
      next = { ...r, status: "AWAITING_PROMOTION", lastProgressAt: at }
      break
    case "RolloutPromoted":
      if (r.status !== "AWAITING_PROMOTION") return
      next = { ...r, status: "ROLLING_OUT", promoted: true, lastProgressAt: at }
      break
    case "RolloutFinished":
      next = { ...r, status: event.status, lastProgressAt: at, ...(event.error !== undefined ? { error: event.error } : {}) }
      state.groups.set(event.group, withSummary(g, next, { at, position }))
      return
    case "RolloutStopped":
      next = { ...r, status: "FAILED", lastProgressAt: at, error: STOPPED_BY_USER }
      // A finished rollout keeps its summary: it did end ACTIVE, and a rollback goes by that.
      state.groups.set(event.group, inProgress ? withSummary(g, next, { at, position }) : { ...g, rollout: next })
      return
  }
  state.groups.set(event.group, next.status === r.status ? { ...g, rollout: next } : withSummary(g, next))
}

const applyDomainEvent = (state: FleetState, event: DomainEvent, at: number, position: Position, actor?: string): void => {
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
        ...(event.deploymentGroup !== undefined ? { deploymentGroup: event.deploymentGroup } : {}),
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
        registeredPosition: position,
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
    case "DeploymentGroupCreated":
      state.groups.set(event.group.name, { group: event.group, createdAt: position, hosts: [], rollouts: [] })
      return
    case "DeploymentGroupRemoved":
      state.groups.delete(event.group)
      return
    case "RolloutStarted": {
      const g = state.groups.get(event.group)
      if (g === undefined) return
      const number = g.rollouts.length + 1
      const rollouts = g.rollouts.slice()
      const last = rollouts[rollouts.length - 1]
      if (last !== undefined && (last.status === "ROLLING_OUT" || last.status === "AWAITING_PROMOTION"))
        rollouts[rollouts.length - 1] = { ...last, status: "SUPERSEDED", endedAt: position, endedAtTime: at }
      rollouts.push({
        number,
        startedAt: position,
        startedAtTime: at,
        actor: actor ?? "",
        jobId: event.jobId,
        reason: event.reason,
        options: event.options,
        status: "ROLLING_OUT",
        failedSteps: 0,
        ...(event.rollbackTo !== undefined ? { rollbackTo: event.rollbackTo } : {}),
      })
      state.groups.set(event.group, {
        ...g,
        hosts: event.hosts,
        rollouts,
        rollout: {
          startedAt: position,
          startedAtTime: at,
          number,
          jobId: event.jobId,
          reason: event.reason,
          options: event.options,
          steps: event.steps,
          ...(event.canaryUntilStep !== undefined ? { canaryUntilStep: event.canaryUntilStep } : {}),
          promoted: event.canaryUntilStep === undefined,
          status: "ROLLING_OUT",
          nextStep: 0,
          lastProgressAt: at,
          failures: [],
        },
      })
      return
    }
    case "RolloutStepStarted":
    case "RolloutStepSucceeded":
    case "RolloutStepSkipped":
    case "RolloutStepFailed":
    case "RolloutFinished":
    case "RolloutStopped":
    case "RolloutAwaitingPromotion":
    case "RolloutPromoted":
      return applyRolloutEvent(state, event, at, position)
    default: {
      const unhandled: never = event
      return unhandled
    }
  }
}

/** Applies one stored event to a state the caller owns (mutates it). */
export const applyEvent = (state: FleetState, stored: StoredEvent): FleetState => {
  const event = stored.envelope.event
  applyDomainEvent(state, event, stored.envelope.at, stored.position, event._tag === "RolloutStarted" ? formatActor(stored.envelope.actor) : undefined)
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
  // Group records are replaced, never changed in place: a shallow copy suffices.
  groups: new Map(s.groups),
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
