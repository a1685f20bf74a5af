import type { HostName } from "../core/ids.ts"
import type { Deployment, FleetState, HostRecord, TaskStatus } from "../core/state.ts"
import type { Job } from "../core/job.ts"
import { deploymentJson, publicJob, taskStatusJsonOf, type HostDetails } from "./responses.ts"

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

const ofTask = (state: FleetState, t: TaskStatus): string => taskFragment(state.jobs.get(t.jobId), t)

/** A task's fragment, with its job as it was when the answer was captured. */
const taskFragment = (job: Job | undefined, t: TaskStatus): string => {
  const cached = taskText.get(t)
  if (cached !== undefined && cached.job === job) return cached.text
  const text = JSON.stringify(taskStatusJsonOf(job, t))
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

/*
 * Large answers without blocking the master: an answer is captured at once (the objects it shows,
 * by reference: they are never changed, only replaced, so later events cannot alter them), then
 * rendered piece by piece; the route streams the pieces and gives the event loop a turn between
 * them (master/slices.ts pacer). The pieces joined are exactly the text of the answer in one go.
 */

/** A job's status as captured: its job and, per host, its deployment and task status. */
interface CapturedJob {
  readonly id: string
  readonly job: Job
  readonly hosts: ReadonlyArray<{ readonly key: string; readonly deployment: Deployment; readonly task: TaskStatus | undefined }>
}

/** The objects POST /jobs/statuses shows for `ids` (known ones, each once, in the order asked), taken now. */
export const captureJobStatuses = (state: FleetState, ids: ReadonlyArray<string>): ReadonlyArray<CapturedJob> => {
  const seen = new Set<string>()
  const out: CapturedJob[] = []
  for (const id of ids) {
    if (seen.has(id)) continue
    seen.add(id)
    const job = state.jobs.get(id)
    if (!job) continue
    const hosts = [...(state.jobHosts.get(id) ?? [])].map((host) => ({
      key: JSON.stringify(host),
      deployment: state.deployments.get(host)!.get(id)!,
      task: state.tasks.get(host)?.get(id),
    }))
    out.push({ id, job, hosts })
  }
  return out
}

/** POST /jobs/statuses's body in pieces of about `hostsPerPiece` hosts' fragments. */
export function* jobStatusesPieces(captured: ReadonlyArray<CapturedJob>, hostsPerPiece = 200): Generator<string> {
  let piece = "{"
  let size = 0
  for (let j = 0; j < captured.length; j++) {
    const { id, job, hosts } = captured[j]!
    piece += `${j > 0 ? "," : ""}${JSON.stringify(id)}:{"job":${ofJob(job)},"deployments":{`
    hosts.forEach((h, i) => (piece += `${i > 0 ? "," : ""}${h.key}:${ofDeployment(h.deployment)}`))
    piece += `},"taskStatuses":{`
    let first = true
    for (const h of hosts) {
      if (h.task === undefined) continue
      piece += `${first ? "" : ","}${h.key}:${taskFragment(job, h.task)}`
      first = false
    }
    piece += "}}"
    size += hosts.length
    if (size >= hostsPerPiece) {
      yield piece
      piece = ""
      size = 0
    }
  }
  yield piece + "}"
}

/** A host's status as captured. */
interface CapturedHost {
  readonly host: HostName
  readonly record: HostRecord
  readonly deployments: ReadonlyArray<readonly [string, Deployment]>
  readonly tasks: ReadonlyArray<readonly [string, TaskStatus, Job | undefined]>
}

/** The objects GET /hosts/{host}/status shows for a host, taken now (undefined for an unknown host). */
export const captureHostStatus = (state: FleetState, host: HostName): CapturedHost | undefined => {
  const record = state.hosts.get(host)
  if (!record) return undefined
  return {
    host,
    record,
    deployments: [...(state.deployments.get(host) ?? [])],
    tasks: [...(state.tasks.get(host) ?? [])].map(([jobId, t]) => [jobId, t, state.jobs.get(t.jobId)] as const),
  }
}

/** JSON.stringify(hostStatusJson(state, host, details)) for a captured host, from cached fragments. */
export const hostStatusText = (h: CapturedHost, details: HostDetails | undefined): string =>
  `{"status":${h.record.up ? '"UP"' : '"DOWN"'},"statusSince":${JSON.stringify(h.record.since)},"agentId":${JSON.stringify(h.record.agentId)},` +
  `"hostInfo":${JSON.stringify(details?.hostInfo ?? null)},"agentInfo":${JSON.stringify(details?.agentInfo ?? null)},` +
  `"jobs":{${h.deployments.map(([jobId, d]) => `${JSON.stringify(jobId)}:${ofDeployment(d)}`).join(",")}},` +
  `"statuses":{${h.tasks.map(([jobId, t, job]) => `${JSON.stringify(jobId)}:${taskFragment(job, t)}`).join(",")}},` +
  `"environment":${JSON.stringify(details?.environment ?? {})},"labels":${JSON.stringify(details?.labels ?? {})}}`

/** Keys in the order JSON.stringify writes an object's: integer-like ones first, ascending, then the rest as inserted. */
export const jsonKeyOrder = (keys: ReadonlyArray<string>): string[] => {
  const index = (k: string) => (/^(0|[1-9]\d*)$/.test(k) && Number(k) < 2 ** 32 - 1 ? Number(k) : -1)
  const integers = keys.filter((k) => index(k) >= 0).sort((a, b) => index(a) - index(b))
  return [...integers, ...keys.filter((k) => index(k) < 0)]
}
