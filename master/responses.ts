import type { Deployment, FleetState, TaskStatus } from "../core/state.ts"
import type { Job } from "../core/job.ts"
import type { HistoryEntry } from "../projections/history.ts"
import { formatActor, type HostName } from "../core/ids.ts"
import type { AgentInfoJson, AuditJson, DeploymentJson, HostInfoJson, HostStatusJson, JobStatusJson, TaskStatusEventJson, TaskStatusJson } from "./api-schemas.ts"

/*
 * The master's answers in Helios's JSON shapes (its REST API's response types), plus our additions;
 * typed by their schemas in api-schemas.ts, which the OpenAPI document publishes.
 */

const publicJobs = new WeakMap<Job, Job>()

/**
 * A job as reads show it: without its token (nor its rollout options' token). Tokens are secrets a
 * write must present; a read never gives them away. The job id's hash still covers the token.
 */
export const publicJob = (job: Job): Job => {
  let shown = publicJobs.get(job)
  if (shown === undefined) {
    const { token: _token, ...rest } = job
    const rollout = rest.rolloutOptions
    if (rollout !== undefined && rollout.token !== undefined) {
      const { token: _rolloutToken, ...options } = rollout
      shown = { ...rest, rolloutOptions: options }
    } else shown = job.token === undefined ? job : rest
    publicJobs.set(job, shown)
  }
  return shown
}

/** Rollout options as reads show them: without the token a rolling update must present. */
export const publicOptions = <O extends { readonly token?: unknown }>(options: O): Omit<O, "token"> => {
  if (options.token === undefined) return options
  const { token: _token, ...rest } = options
  return rest
}

/** An event as reads show it: a job it carries is shown without its token, rollout options without theirs. */
export const publicEvent = <E extends object>(event: E): E => {
  let shown = event
  if ("job" in shown && typeof shown.job === "object" && shown.job !== null && "id" in shown.job) shown = { ...shown, job: publicJob(shown.job as Job) }
  if ("options" in shown && typeof shown.options === "object" && shown.options !== null && "token" in shown.options)
    shown = { ...shown, options: publicOptions(shown.options as { token?: unknown }) }
  return shown
}

const jobOrNull = (state: FleetState, jobId: string): Job | null => {
  const job = state.jobs.get(jobId)
  return job ? publicJob(job) : null
}

export const deploymentJson = (d: Deployment): DeploymentJson => ({
  jobId: d.jobId,
  goal: d.goal,
  deployerUser: d.deployerUser ?? null,
  deployerMaster: d.deployerMaster ?? null,
  deploymentGroupName: d.deploymentGroup ?? null,
  position: d.deployedAt,
})

export const taskStatusJson = (state: FleetState, t: TaskStatus): TaskStatusJson => taskStatusJsonOf(state.jobs.get(t.jobId), t)

/** A task's status with its job (as the state holds it, or as an answer captured it), the job shown without its token. */
export const taskStatusJsonOf = (job: Job | undefined, t: TaskStatus): TaskStatusJson => ({
  job: job ? publicJob(job) : null,
  goal: t.goal,
  state: t.state,
  containerId: t.containerId ?? null,
  throttled: t.throttled,
  ports: t.ports ?? {},
  env: t.env ?? {},
  containerError: t.error ?? null,
  timestamp: t.at,
  position: t.position,
})

export const jobStatusJson = (state: FleetState, jobId: string): JobStatusJson | undefined => {
  const job = state.jobs.get(jobId)
  if (!job) return undefined
  const deployments: Record<string, DeploymentJson> = {}
  const taskStatuses: Record<string, TaskStatusJson> = {}
  for (const host of state.jobHosts.get(jobId) ?? []) {
    deployments[host] = deploymentJson(state.deployments.get(host)!.get(jobId)!)
    const t = state.tasks.get(host)?.get(jobId)
    if (t) taskStatuses[host] = taskStatusJson(state, t)
  }
  return { job: publicJob(job), deployments, taskStatuses }
}

export interface HostDetails {
  readonly hostInfo?: typeof HostInfoJson.Type
  readonly agentInfo?: typeof AgentInfoJson.Type
  readonly environment?: Record<string, string>
  readonly labels?: Record<string, string>
}

export const hostStatusJson = (state: FleetState, host: HostName, details: HostDetails | undefined): HostStatusJson | undefined => {
  const h = state.hosts.get(host)
  if (!h) return undefined
  const jobs: Record<string, DeploymentJson> = {}
  const statuses: Record<string, TaskStatusJson> = {}
  for (const [jobId, d] of state.deployments.get(host) ?? []) jobs[jobId] = deploymentJson(d)
  for (const [jobId, t] of state.tasks.get(host) ?? []) statuses[jobId] = taskStatusJson(state, t)
  return {
    status: h.up ? "UP" : "DOWN",
    statusSince: h.since,
    agentId: h.agentId,
    hostInfo: details?.hostInfo ?? null,
    agentInfo: details?.agentInfo ?? null,
    jobs,
    statuses,
    environment: details?.environment ?? {},
    labels: details?.labels ?? {},
  }
}

/** One audit line: Helios's TaskStatusEvent fields for task transitions, and every other event too. */
export const auditJson = (e: HistoryEntry): AuditJson => {
  const { _tag, ...fields } = publicEvent(e.event)
  const host = "host" in fields ? fields.host : null
  const rest: Record<string, unknown> = { ...fields }
  delete rest.host
  if ("job" in rest) rest.job = (rest.job as { id: string }).id
  return { position: e.position, timestamp: e.at, actor: formatActor(e.actor), type: _tag, host, ...rest }
}

/** Helios's /history/jobs/{id} `events`: task status changes only, oldest first. */
export const heliosHistoryJson = (state: FleetState, jobId: string, entries: ReadonlyArray<HistoryEntry>): TaskStatusEventJson[] =>
  entries.flatMap((e): TaskStatusEventJson[] =>
    e.event._tag === "TaskStateChanged"
      ? [
          {
            host: e.event.host,
            timestamp: e.at,
            position: e.position,
            status: {
              job: jobOrNull(state, jobId) ?? { id: jobId },
              goal: e.event.goal,
              state: e.event.state,
              containerId: e.event.containerId ?? null,
              throttled: e.event.throttled,
              ports: e.event.ports ?? {},
              env: e.event.env ?? {},
              containerError: e.event.error ?? null,
            },
          },
        ]
      : [],
  )
