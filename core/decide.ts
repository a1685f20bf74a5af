import { Result } from "effect"
import type { ExpectedVersion } from "./event-log.ts"
import { groupStream, hostStream, jobStream, type DomainEvent, type StreamId } from "./events.ts"
import { mergeRolloutOptions, type MergedRolloutOptions } from "./deployment-group.ts"
import { sameSelectors } from "./host-selector.ts"
import { hostsChangedSinceLastRollout, hostViews, planRollout, rolloutStartEvents } from "./rollout-planner.ts"
import { advanceRollout, hostsChangedOptions, rollbackOptions } from "./rollout-step.ts"
import type { Command, CommandContext } from "./commands.ts"
import { Rejection } from "./commands.ts"
import type { HostName } from "./ids.ts"
import { checkNewJob } from "./job-rules.ts"
import { portConflict, sameSecret, tokenMatches } from "./deploy-rules.ts"
import type { Job } from "./job.ts"
import { deploymentsOfJob, rollbackTarget, type FleetState } from "./state.ts"

/** What a command decided: the events to append and the stream versions the decision read. */
export interface Decision {
  readonly events: ReadonlyArray<DomainEvent>
  readonly expected: Readonly<Record<StreamId, ExpectedVersion>>
  /** Streams the decision read but does not write: checked at these versions, not bumped. */
  readonly unchanged?: Readonly<Record<StreamId, ExpectedVersion>>
}

const versionOf = (state: FleetState, stream: StreamId): ExpectedVersion => state.versions.get(stream) ?? "none"

const reject = (status: Rejection["status"], message: string, errors?: Rejection["errors"]) =>
  Result.fail(new Rejection({ status, message, ...(errors ? { errors } : {}) }))

const accept = (events: ReadonlyArray<DomainEvent>, streams: ReadonlyArray<StreamId>, state: FleetState) =>
  Result.succeed<Decision>({ events, expected: Object.fromEntries(streams.map((s) => [s, versionOf(state, s)])) })

const groupNotFound = (name: string) =>
  reject("DEPLOYMENT_GROUP_NOT_FOUND", `deployment group ${name} not found`, [{ field: "name", message: `deployment group ${name} not found` }])

/** The options a request gives (only those set), for a rollback that keeps the others. */
const mergeRolloutOptionsGiven = (given: Partial<MergedRolloutOptions> | undefined): Partial<MergedRolloutOptions> =>
  Object.fromEntries(Object.entries(given ?? {}).filter(([, v]) => v !== undefined)) as Partial<MergedRolloutOptions>

const nothing = Result.succeed<Decision>({ events: [], expected: {} })

const deployed = (state: FleetState, jobId: string, host: HostName) => state.deployments.get(host)?.get(jobId)

/**
 * The master's state machine: a pure function of (command, state, context). Every rejection
 * carries Helios's status name; every acceptance names the streams whose versions it read.
 */
export const decide = (command: Command, state: FleetState, ctx: CommandContext): Result.Result<Decision, Rejection> => {
  switch (command._tag) {
    case "CreateJob": {
      const checked = checkNewJob(command.job, ctx.now)
      if (Result.isFailure(checked)) return reject("INVALID_JOB_DEFINITION", "invalid job definition", checked.failure)
      const id = checked.success.id
      if (state.jobs.has(id)) return reject("JOB_ALREADY_EXISTS", `job ${id} already exists`)
      const job: Job = { ...checked.success, created: ctx.now, creatingUser: ctx.actor.name }
      return accept([{ _tag: "JobCreated", job }], [jobStream(id)], state)
    }
    case "RemoveJob": {
      const job = state.jobs.get(command.jobId)
      if (!job) return reject("JOB_NOT_FOUND", `job ${command.jobId} not found`)
      if (!tokenMatches(job, command.token)) return reject("FORBIDDEN", "token mismatch")
      const hosts = deploymentsOfJob(state, command.jobId).map((d) => d.host)
      if (hosts.length > 0) return reject("STILL_IN_USE", `job ${command.jobId} is still deployed on ${hosts.join(", ")}`)
      return accept([{ _tag: "JobRemoved", jobId: job.id }], [jobStream(job.id)], state)
    }
    case "DeployJob": {
      const job = state.jobs.get(command.jobId)
      if (!job) return reject("JOB_NOT_FOUND", `job ${command.jobId} not found`)
      if (!state.hosts.has(command.host)) return reject("HOST_NOT_FOUND", `host ${command.host} not found`)
      if (!tokenMatches(job, command.token)) return reject("FORBIDDEN", "token mismatch")
      if (deployed(state, job.id, command.host))
        return reject("JOB_ALREADY_DEPLOYED", `job ${job.id} is already deployed on ${command.host}`)
      const conflict = portConflict(state, job, state.deployments.get(command.host)?.values() ?? [])
      if (conflict) return reject("PORT_CONFLICT", conflict)
      const event: DomainEvent = {
        _tag: "JobDeployed",
        job,
        host: command.host,
        goal: command.goal,
        ...(ctx.actor.kind === "user" ? { deployerUser: ctx.actor.name } : {}),
        ...(ctx.master !== undefined ? { deployerMaster: ctx.master } : {}),
      }
      return accept([event], [jobStream(job.id), hostStream(command.host)], state)
    }
    case "UndeployJob": {
      if (!state.hosts.has(command.host)) return reject("HOST_NOT_FOUND", `host ${command.host} not found`)
      const job = state.jobs.get(command.jobId)
      if (!job) return reject("JOB_NOT_FOUND", `job ${command.jobId} not found`)
      if (!deployed(state, job.id, command.host))
        return reject("JOB_NOT_DEPLOYED", `job ${job.id} is not deployed on ${command.host}`)
      if (!tokenMatches(job, command.token)) return reject("FORBIDDEN", "token mismatch")
      return accept([{ _tag: "JobUndeployed", jobId: job.id, host: command.host }], [jobStream(job.id), hostStream(command.host)], state)
    }
    case "SetGoal": {
      if (!state.hosts.has(command.host)) return reject("HOST_NOT_FOUND", `host ${command.host} not found`)
      const d = deployed(state, command.jobId, command.host)
      if (!d) return reject("JOB_NOT_DEPLOYED", `job ${command.jobId} is not deployed on ${command.host}`)
      const job = state.jobs.get(command.jobId)
      if (job && !tokenMatches(job, command.token)) return reject("FORBIDDEN", "token mismatch")
      if (d.goal === command.goal) return nothing
      return accept(
        [{ _tag: "DeploymentGoalChanged", jobId: d.jobId, host: command.host, goal: command.goal }],
        [hostStream(command.host)],
        state,
      )
    }
    case "RegisterHost": {
      if (state.hosts.get(command.host)?.agentId === command.agentId) return nothing
      return accept([{ _tag: "HostRegistered", host: command.host, agentId: command.agentId }], [hostStream(command.host)], state)
    }
    case "DeregisterHost": {
      if (!state.hosts.has(command.host)) return reject("HOST_NOT_FOUND", `host ${command.host} not found`)
      const jobIds = [...(state.deployments.get(command.host)?.values() ?? [])].map((d) => d.jobId)
      // Deregistering undeploys: each token-protected job on the host needs its token, as an undeploy does.
      if (command.tokens !== undefined) {
        const given = command.tokens
        const guarded = jobIds.filter((id) => {
          const token = state.jobs.get(id)?.token ?? ""
          return token !== "" && !given.some((t) => sameSecret(token, t))
        })
        if (guarded.length > 0)
          return reject("FORBIDDEN", `host ${command.host} runs token-protected jobs; give each one's token (?token=): ${guarded.join(", ")}`, [
            { field: "token", message: `missing or wrong for ${guarded.join(", ")}` },
          ])
      }
      return accept(
        [
          ...jobIds.map((jobId): DomainEvent => ({ _tag: "JobUndeployed", jobId, host: command.host })),
          { _tag: "HostDeregistered", host: command.host },
        ],
        [...jobIds.map(jobStream), hostStream(command.host)],
        state,
      )
    }
    case "MarkHostUp": {
      const h = state.hosts.get(command.host)
      if (!h) return reject("HOST_NOT_FOUND", `host ${command.host} not found`)
      if (h.up) return nothing
      return Result.succeed({ events: [{ _tag: "HostWentUp", host: command.host, agentId: command.agentId }], expected: {} })
    }
    case "MarkHostDown": {
      const h = state.hosts.get(command.host)
      if (!h) return reject("HOST_NOT_FOUND", `host ${command.host} not found`)
      if (!h.up) return nothing
      return Result.succeed({ events: [{ _tag: "HostWentDown", host: command.host }], expected: {} })
    }
    case "CreateDeploymentGroup": {
      const existing = state.groups.get(command.group.name)
      if (existing !== undefined) {
        if (sameSelectors(existing.group.hostSelectors, command.group.hostSelectors)) return nothing
        return reject("CONFLICT", `deployment group ${command.group.name} already exists with other host selectors`)
      }
      return accept([{ _tag: "DeploymentGroupCreated", group: command.group }], [groupStream(command.group.name)], state)
    }
    case "RemoveDeploymentGroup": {
      if (!state.groups.has(command.group)) return groupNotFound(command.group)
      return accept([{ _tag: "DeploymentGroupRemoved", group: command.group }], [groupStream(command.group)], state)
    }
    case "StartRollout": {
      const record = state.groups.get(command.group)
      if (!record) return groupNotFound(command.group)
      const job = state.jobs.get(command.jobId)
      if (!job) return reject("JOB_NOT_FOUND", `job ${command.jobId} not found`, [{ field: "job", message: `job ${command.jobId} not found` }])
      const options = mergeRolloutOptions(command.options, job)
      // Helios fails such a rollout at its first deploy step; refused here, before anything is written.
      if (!tokenMatches(job, options.token))
        return reject("FORBIDDEN", "token mismatch", [{ field: "rolloutOptions.token", message: `does not match job ${job.id}'s token` }])
      const plan = planRollout(record.group, hostViews(state, command.labels), state, options)
      return accept(rolloutStartEvents(record.group.name, job.id, "MANUAL", options, plan), [groupStream(command.group)], state)
    }
    case "RolloutOnHostsChange": {
      const record = state.groups.get(command.group)
      const last = record?.rollout
      if (!record || !last || !state.jobs.has(last.jobId)) return nothing
      const options = hostsChangedOptions(last.options)
      const plan = planRollout(record.group, hostViews(state, command.labels), state, options)
      if (!hostsChangedSinceLastRollout(record, plan, state)) return nothing
      return accept(rolloutStartEvents(record.group.name, last.jobId, "HOSTS_CHANGED", options, plan), [groupStream(command.group)], state)
    }
    case "StopRollout": {
      const record = state.groups.get(command.group)
      if (!record) return groupNotFound(command.group)
      const r = record.rollout
      if (!r || r.status === "FAILED") return nothing
      return accept([{ _tag: "RolloutStopped", group: command.group, jobId: r.jobId }], [groupStream(command.group)], state)
    }
    case "PromoteRollout": {
      const record = state.groups.get(command.group)
      if (!record) return groupNotFound(command.group)
      const r = record.rollout
      const step = r?.steps[r.nextStep]
      if (!r || r.status !== "AWAITING_PROMOTION" || step === undefined)
        return reject("NOT_AWAITING_PROMOTION", `deployment group ${command.group} has no canary waiting for promotion (status ${r?.status ?? "IDLE"})`)
      const ref = { group: command.group, jobId: r.jobId }
      return accept(
        [{ _tag: "RolloutPromoted", ...ref }, { _tag: "RolloutStepStarted", ...ref, step: r.nextStep, host: step.host, kind: step.kind }],
        [groupStream(command.group)],
        state,
      )
    }
    case "Rollback": {
      const record = state.groups.get(command.group)
      if (!record) return groupNotFound(command.group)
      const current = record.rollout
      let target
      if (command.toRollout !== undefined) {
        target = record.rollouts[command.toRollout - 1]
        if (!target) return reject("ROLLOUT_NOT_FOUND", `deployment group ${command.group} has no rollout ${command.toRollout}`, [{ field: "toRollout", message: `no rollout ${command.toRollout} (the group has ${record.rollouts.length})` }])
      } else {
        target = current && rollbackTarget(record, current)
        if (!target) return reject("NO_ROLLBACK_TARGET", `deployment group ${command.group} has no earlier successful rollout to go back to`)
      }
      const job = state.jobs.get(target.jobId)
      if (!job) return reject("JOB_NOT_FOUND", `job ${target.jobId} of rollout ${target.number} no longer exists`, [{ field: "toRollout", message: `job ${target.jobId} not found` }])
      const options = rollbackOptions(current?.options ?? target.options, mergeRolloutOptionsGiven(command.options))
      if (!tokenMatches(job, options.token))
        return reject("FORBIDDEN", "token mismatch", [{ field: "rolloutOptions.token", message: `does not match job ${job.id}'s token` }])
      const plan = planRollout(record.group, hostViews(state, command.labels), state, options)
      return accept(rolloutStartEvents(record.group.name, job.id, "ROLLBACK", options, plan, target.number), [groupStream(command.group)], state)
    }
    case "AdvanceRollout": {
      const advance = advanceRollout(command.group, state, {
        now: ctx.now,
        ...(ctx.master !== undefined ? { master: ctx.master } : {}),
        ...(ctx.previousStates !== undefined ? { previousStates: ctx.previousStates } : {}),
      })
      if (advance._tag !== "Advance") return nothing
      return Result.succeed<Decision>({
        events: advance.events,
        expected: Object.fromEntries(advance.streams.map((s) => [s, versionOf(state, s)])),
        unchanged: Object.fromEntries(advance.read.map((s) => [s, versionOf(state, s)])),
      })
    }
    case "ReportTaskState": {
      // A fact from the agent: no stream version guards it, so it never conflicts with commands.
      const { _tag, ...status } = command
      return Result.succeed({ events: [{ _tag: "TaskStateChanged", ...status }], expected: {} })
    }
  }
}

/**
 * The streams a command will read, known before deciding: a master runs commands on the same
 * streams one at a time, so its own commands never conflict with each other (deploying one job
 * to a thousand hosts is a queue, not a thousand-way race). Facts from agents read no stream.
 */
export const streamsOfCommand = (command: Command): ReadonlyArray<StreamId> => {
  switch (command._tag) {
    case "CreateJob":
      return [jobStream(command.job.id)]
    case "RemoveJob":
      return [jobStream(command.jobId)]
    case "DeployJob":
    case "UndeployJob":
      return [jobStream(command.jobId), hostStream(command.host)]
    case "SetGoal":
    case "RegisterHost":
    case "DeregisterHost":
      return [hostStream(command.host)]
    case "CreateDeploymentGroup":
      return [groupStream(command.group.name)]
    case "RemoveDeploymentGroup":
    case "StartRollout":
    case "RolloutOnHostsChange":
    case "StopRollout":
    case "PromoteRollout":
    case "Rollback":
    case "AdvanceRollout":
      return [groupStream(command.group)]
    case "MarkHostUp":
    case "MarkHostDown":
    case "ReportTaskState":
      return []
  }
}

/**
 * Whether `event`, the last event of a batch, is the last event deciding `command` writes: a
 * command id names one command, so a retry under the id of another command is not that command.
 */
export const isLastEventOf = (command: Command, event: DomainEvent): boolean => {
  const same = (jobId: string, host?: string) =>
    "jobId" in event ? event.jobId === jobId && (host === undefined || ("host" in event && event.host === host)) : false
  switch (command._tag) {
    case "CreateJob":
      return event._tag === "JobCreated" && event.job.id === command.job.id
    case "RemoveJob":
      return event._tag === "JobRemoved" && same(command.jobId)
    case "DeployJob":
      return event._tag === "JobDeployed" && event.job.id === command.jobId && event.host === command.host && event.goal === command.goal
    case "UndeployJob":
      return event._tag === "JobUndeployed" && same(command.jobId, command.host)
    case "SetGoal":
      return event._tag === "DeploymentGoalChanged" && same(command.jobId, command.host) && event.goal === command.goal
    case "RegisterHost":
      return event._tag === "HostRegistered" && event.host === command.host && event.agentId === command.agentId
    case "DeregisterHost":
      return event._tag === "HostDeregistered" && event.host === command.host
    case "MarkHostUp":
      return event._tag === "HostWentUp" && event.host === command.host
    case "MarkHostDown":
      return event._tag === "HostWentDown" && event.host === command.host
    case "CreateDeploymentGroup":
      return event._tag === "DeploymentGroupCreated" && event.group.name === command.group.name
    case "RemoveDeploymentGroup":
      return event._tag === "DeploymentGroupRemoved" && event.group === command.group
    case "StartRollout":
      return (event._tag === "RolloutStepStarted" || event._tag === "RolloutFinished") && event.group === command.group && event.jobId === command.jobId
    case "StopRollout":
      return event._tag === "RolloutStopped" && event.group === command.group
    case "PromoteRollout":
      return event._tag === "RolloutStepStarted" && event.group === command.group
    case "Rollback":
      return (event._tag === "RolloutStepStarted" || event._tag === "RolloutFinished") && event.group === command.group
    case "RolloutOnHostsChange":
    case "AdvanceRollout":
      // The leader's own commands carry fresh ids and are never retried under one.
      return false
    case "ReportTaskState":
      return event._tag === "TaskStateChanged" && same(command.jobId, command.host)
  }
}
