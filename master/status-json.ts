import type { Deployment, FleetState, TaskStatus } from "../core/state.ts"
import type { Job } from "../core/job.ts"
import { deploymentJson, publicJob, taskStatusJson } from "./responses.ts"

/*
 * Job statuses as JSON text, built from fragments cached per state object. A rollout's status
 * answers are large (10 jobs × 1,000 hosts is 3 MB) and JSON.stringify of the whole blocks the
 * master for tens of milliseconds each time; but between two requests only the tasks that changed
 * have new TaskStatus objects (applyEvent replaces a task's status, never edits it), so caching
 * each fragment by the object it renders leaves only the changes to serialize. The text is exactly
 * JSON.stringify(jobStatusJson(...)) (a test holds it to that).
 */

const jobText = new WeakMap<Job, string>()
const deploymentText = new WeakMap<Deployment, string>()
/** A task's fragment embeds its job, so it is valid only for the same job object. */
const taskText = new WeakMap<TaskStatus, { readonly job: Job | undefined; readonly text: string }>()

const ofJob = (job: Job): string => {
  let text = jobText.get(job)
  if (text === undefined) jobText.set(job, (text = JSON.stringify(publicJob(job))))
  return text
}

const ofDeployment = (d: Deployment): string => {
  let text = deploymentText.get(d)
  if (text === undefined) deploymentText.set(d, (text = JSON.stringify(deploymentJson(d))))
  return text
}

const ofTask = (state: FleetState, t: TaskStatus): string => {
  const job = state.jobs.get(t.jobId)
  const cached = taskText.get(t)
  if (cached !== undefined && cached.job === job) return cached.text
  const text = JSON.stringify(taskStatusJson(state, t))
  taskText.set(t, { job, text })
  return text
}

/** GET /jobs/{id}/status's body, or undefined for an unknown job. */
export const jobStatusText = (state: FleetState, jobId: string): string | undefined => {
  const job = state.jobs.get(jobId)
  if (!job) return undefined
  const deployments: string[] = []
  const tasks: string[] = []
  for (const host of state.jobHosts.get(jobId) ?? []) {
    const key = JSON.stringify(host)
    deployments.push(`${key}:${ofDeployment(state.deployments.get(host)!.get(jobId)!)}`)
    const t = state.tasks.get(host)?.get(jobId)
    if (t) tasks.push(`${key}:${ofTask(state, t)}`)
  }
  return `{"job":${ofJob(job)},"deployments":{${deployments.join(",")}},"taskStatuses":{${tasks.join(",")}}}`
}

/** POST /jobs/statuses's body: the known jobs among `ids`, each once, in the order asked. */
export const jobStatusesText = (state: FleetState, ids: ReadonlyArray<string>): string => {
  const parts = new Map<string, string>()
  for (const id of ids) {
    if (parts.has(id)) continue
    const text = jobStatusText(state, id)
    if (text !== undefined) parts.set(id, `${JSON.stringify(id)}:${text}`)
  }
  return `{${[...parts.values()].join(",")}}`
}
