import { Result } from "effect"
import { createHash } from "node:crypto"
import type { ExpectedVersion } from "./event-log.ts"
import { hostStream, jobStream, type DomainEvent, type StreamId } from "./events.ts"
import type { Command, CommandContext } from "./commands.ts"
import { Rejection } from "./commands.ts"
import type { HostName } from "./ids.ts"
import type { Job } from "./job.ts"
import { checkNewJob } from "./job-rules.ts"
import { deploymentsOfJob, type FleetState } from "./state.ts"

/** What a command decided: the events to append and the stream versions the decision read. */
export interface Decision {
  readonly events: ReadonlyArray<DomainEvent>
  readonly expected: Readonly<Record<StreamId, ExpectedVersion>>
}

const versionOf = (state: FleetState, stream: StreamId): ExpectedVersion => state.versions.get(stream) ?? "none"

const reject = (status: Rejection["status"], message: string, errors?: Rejection["errors"]) =>
  Result.fail(new Rejection({ status, message, ...(errors ? { errors } : {}) }))

const accept = (events: ReadonlyArray<DomainEvent>, streams: ReadonlyArray<StreamId>, state: FleetState) =>
  Result.succeed<Decision>({ events, expected: Object.fromEntries(streams.map((s) => [s, versionOf(state, s)])) })

const nothing = Result.succeed<Decision>({ events: [], expected: {} })

/**
 * Helios's "insecure access token" (protects against accidents, not attackers): the token given
 * must equal the job's, both empty when absent — so a token sent for a job that has none is
 * refused too, as Helios refuses it.
 */
const tokenMatches = (job: Job, token: string | undefined) => sameSecret(job.token ?? "", token ?? "")

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest()

/**
 * Whether two secrets are equal, in a time that does not depend on where they differ: their SHA-256
 * digests (fixed length) are compared in full, every byte XORed into one accumulator (what
 * crypto.timingSafeEqual does, which the domain may not import).
 */
export const sameSecret = (a: string, b: string): boolean => {
  const x = sha256(a)
  const y = sha256(b)
  let diff = 0
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!
  return diff === 0
}

/** Static external ports a job would take on a host, keyed by port/protocol. */
const staticPorts = (job: Job): string[] =>
  Object.values(job.ports ?? {}).flatMap((p) => (p.externalPort !== undefined ? [`${p.externalPort}/${p.protocol ?? "tcp"}`] : []))

const portConflict = (state: FleetState, job: Job, host: HostName): string | undefined => {
  const wanted = new Set(staticPorts(job))
  if (wanted.size === 0) return undefined
  for (const d of state.deployments.get(host)?.values() ?? []) {
    const other = state.jobs.get(d.jobId)
    if (!other) continue
    const clash = staticPorts(other).find((p) => wanted.has(p))
    if (clash) return `port ${clash} on ${host} is already used by ${d.jobId}`
  }
  return undefined
}

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
      const conflict = portConflict(state, job, command.host)
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
    case "ReportTaskState":
      return event._tag === "TaskStateChanged" && same(command.jobId, command.host)
  }
}
