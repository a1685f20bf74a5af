import type { Deployment, FleetState, TaskStatus } from "../core/state.ts"
import type { Job } from "../core/job.ts"
import type { HistoryEntry } from "../projections/history.ts"
import { formatActor, type HostName } from "../core/ids.ts"

/* The master's answers in Helios's JSON shapes (its REST API's response types), plus our additions. */

export const deploymentJson = (d: Deployment) => ({
  jobId: d.jobId,
  goal: d.goal,
  deployerUser: d.deployerUser ?? null,
  deployerMaster: d.deployerMaster ?? null,
  deploymentGroupName: d.deploymentGroup ?? null,
  position: d.deployedAt,
})

export const taskStatusJson = (state: FleetState, t: TaskStatus) => taskStatusJsonOf(state.jobs.get(t.jobId), t)

/** A task's status with its job (as the state holds it, or as an answer captured it). */
export const taskStatusJsonOf = (job: Job | undefined, t: TaskStatus) => ({
  job: job ?? null,
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

export const jobStatusJson = (state: FleetState, jobId: string) => {
  const job = state.jobs.get(jobId)
  if (!job) return undefined
  const deployments: Record<string, ReturnType<typeof deploymentJson>> = {}
  const taskStatuses: Record<string, ReturnType<typeof taskStatusJson>> = {}
  for (const host of state.jobHosts.get(jobId) ?? []) {
    deployments[host] = deploymentJson(state.deployments.get(host)!.get(jobId)!)
    const t = state.tasks.get(host)?.get(jobId)
    if (t) taskStatuses[host] = taskStatusJson(state, t)
  }
  return { job, deployments, taskStatuses }
}

export interface HostDetails {
  readonly hostInfo?: unknown
  readonly agentInfo?: unknown
  readonly environment?: Record<string, string>
  readonly labels?: Record<string, string>
}

export const hostStatusJson = (state: FleetState, host: HostName, details: HostDetails | undefined) => {
  const h = state.hosts.get(host)
  if (!h) return undefined
  const jobs: Record<string, ReturnType<typeof deploymentJson>> = {}
  const statuses: Record<string, ReturnType<typeof taskStatusJson>> = {}
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
export const auditJson = (e: HistoryEntry) => {
  const { _tag, ...fields } = e.event
  const host = "host" in fields ? fields.host : null
  const rest: Record<string, unknown> = { ...fields }
  delete rest.host
  if ("job" in rest) rest.job = (rest.job as { id: string }).id
  return { position: e.position, timestamp: e.at, actor: formatActor(e.actor), type: _tag, host, ...rest }
}

/** Helios's /history/jobs/{id} `events`: task status changes only, oldest first. */
export const heliosHistoryJson = (state: FleetState, jobId: string, entries: ReadonlyArray<HistoryEntry>) =>
  entries.flatMap((e) =>
    e.event._tag === "TaskStateChanged"
      ? [
          {
            host: e.event.host,
            timestamp: e.at,
            position: e.position,
            status: {
              job: state.jobs.get(jobId) ?? { id: jobId },
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
