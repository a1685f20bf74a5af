import type { HostName } from "../core/ids.ts"
import type { Deployment, FleetState, HostRecord, TaskStatus } from "../core/state.ts"
import type { Job } from "../core/job.ts"
import { deploymentJson, publicJob, taskStatusJsonOf, type HostDetails } from "./responses.ts"
import { AnswerSegment } from "./large-answer.ts"

/*
 * Job and host statuses as JSON bytes, built from fragments cached per state object. A rollout's
 * status answers are large (10 jobs × 1,000 hosts is 3 to 8 MB, mostly the job repeated in every
 * task status), and JSON.stringify of the whole, then encoding it as UTF-8, blocked the master for
 * tens of milliseconds each time. But between two requests only the tasks that changed have new
 * TaskStatus objects (applyEvent replaces a task's status, never edits it), so caching each
 * fragment's bytes by the object it renders leaves only the changes to serialize; a job is encoded
 * once and its bytes shared by every task status that shows it; and a job status is kept in runs
 * of hosts whose bytes (and deflated bytes) the next answer reuses when they are unchanged, copied
 * once into the one buffer its writer sends (master/large-answer.ts). The bytes are exactly those
 * of JSON.stringify(jobStatusJson(...)) (properties/status-json.test.ts holds them to that).
 */

const utf8 = (text: string): Buffer => Buffer.from(text, "utf8")
export const COMMA = utf8(",")
const NULL = utf8("null")

/** Bytes as buffers one after another: the writer of an answer copies them into one, once. */
export type Bytes = ReadonlyArray<Buffer>

/** Buffers appended one after another, taken as they are (not copied). */
export class ByteList {
  private parts: Buffer[] = []
  private length = 0
  add(bytes: Buffer): void {
    this.parts.push(bytes)
    this.length += bytes.length
  }
  text(text: string): void {
    this.add(utf8(text))
  }
  get size(): number {
    return this.length
  }
  take(): Bytes {
    const out = this.parts
    this.parts = []
    this.length = 0
    return out
  }
}

const jobBytes = new WeakMap<Job, Buffer>()
/** A job as answers show it (without its token); `null` for a job the state no longer holds. */
const ofJob = (job: Job | undefined): Buffer => {
  if (job === undefined) return NULL
  let bytes = jobBytes.get(job)
  if (bytes === undefined) jobBytes.set(job, (bytes = utf8(JSON.stringify(publicJob(job)))))
  return bytes
}

/** `"key":` for the keys of a status map (host names, job ids): few distinct ones, asked for again and again. */
const keyBytes = new Map<string, Buffer>()
const KEYS_KEPT = 100_000
export const ofKey = (key: string): Buffer => {
  let bytes = keyBytes.get(key)
  if (bytes === undefined) {
    if (keyBytes.size >= KEYS_KEPT) keyBytes.clear()
    keyBytes.set(key, (bytes = utf8(`${JSON.stringify(key)}:`)))
  }
  return bytes
}

const deploymentBytes = new WeakMap<Deployment, Buffer>()
export const ofDeployment = (d: Deployment): Buffer => {
  let bytes = deploymentBytes.get(d)
  if (bytes === undefined) deploymentBytes.set(d, (bytes = utf8(JSON.stringify(deploymentJson(d)))))
  return bytes
}

/** A task status without its job: `,"goal":…}` (the job comes first, from ofJob). */
const taskRestBytes = new WeakMap<TaskStatus, Buffer>()
/** `{"job":`, how a task status and a job status begin. */
const JOB_HEAD = utf8('{"job":')
export const addTask = (out: ByteList, job: Job | undefined, t: TaskStatus): void => {
  let rest = taskRestBytes.get(t)
  if (rest === undefined) {
    const { job: _job, ...withoutJob } = taskStatusJsonOf(undefined, t)
    taskRestBytes.set(t, (rest = utf8(`,${JSON.stringify(withoutJob).slice(1)}`)))
  }
  out.add(JOB_HEAD)
  out.add(ofJob(job))
  out.add(rest)
}

/**
 * A job's status as captured: its job, its hosts (in the order JSON.stringify writes them) with
 * their deployments, and the hosts that have a task status with those statuses. Arrays side by side
 * rather than an object per host: a rollout's answer is captured a few times a second, 10,000 hosts
 * at a time.
 */
interface CapturedJob {
  readonly id: string
  readonly job: Job
  readonly hosts: ReadonlyArray<string>
  readonly deployments: ReadonlyArray<Deployment>
  readonly taskHosts: ReadonlyArray<string>
  readonly tasks: ReadonlyArray<TaskStatus>
}

/*
 * Large answers without blocking the master: an answer is captured at once (the objects it shows,
 * by reference: they are never changed, only replaced, so later events cannot alter them), then
 * rendered piece by piece, with a turn of the event loop between pieces when one is due
 * (master/large-answer.ts). The pieces joined are exactly the bytes of the answer in one go.
 */

const captureJob = (state: FleetState, id: string): CapturedJob | undefined => {
  const job = state.jobs.get(id)
  if (!job) return undefined
  // In the order JSON.stringify writes the status object's keys (a host named "10" comes first).
  const hosts = jsonKeyOrder([...(state.jobHosts.get(id) ?? [])])
  const deployments = new Array<Deployment>(hosts.length)
  const taskHosts: string[] = []
  const tasks: TaskStatus[] = []
  for (let i = 0; i < hosts.length; i++) {
    const host = hosts[i]!
    deployments[i] = state.deployments.get(host)!.get(id)!
    const task = state.tasks.get(host)?.get(id)
    if (task !== undefined) {
      taskHosts.push(host)
      tasks.push(task)
    }
  }
  return { id, job, hosts, deployments, taskHosts, tasks }
}

/** A job's status as an answer takes it: the objects it shows, rendered later, or its parts rendered already (a polled job's view, master/job-status-views.ts). */
export type JobStatusSource = CapturedJob | { readonly id: string; readonly parts: ReadonlyArray<Buffer | AnswerSegment> }

/**
 * A polled job's status rendered now from its view, or undefined (not polled, or not a job of the
 * state): master/status-warmer.ts's StatusWarmer.partsOf.
 */
export type ReadyParts = (id: string) => Array<Buffer | AnswerSegment> | undefined

/** The objects POST /jobs/statuses shows for `ids` (known ones, each once, in the order asked), taken now; a polled job's parts rendered now. */
export const captureJobStatuses = (state: FleetState, ids: ReadonlyArray<string>, ready?: ReadyParts): ReadonlyArray<JobStatusSource> => {
  const seen = new Set<string>()
  const out: JobStatusSource[] = []
  for (const id of ids) {
    if (seen.has(id)) continue
    seen.add(id)
    const parts = ready?.(id)
    const captured = parts !== undefined ? { id, parts } : captureJob(state, id)
    if (captured) out.push(captured)
  }
  return out
}

const DEPLOYMENTS = utf8(',"deployments":{')
export const TASK_STATUSES = utf8('},"taskStatuses":{')
export const JOB_STATUS_END = utf8("}}")

/*
 * A job's deployments and task statuses in runs of HOSTS_PER_SEGMENT hosts, each run's bytes kept
 * (with their deflated form, master/large-answer.ts) while it shows the same hosts and the same
 * objects. A rollout changes a few hosts at a time, so an answer polled during one renders and
 * compresses only the runs holding a change; the rest are the last answer's bytes again.
 */
export const HOSTS_PER_SEGMENT = 32

/** A run of a status map: its keys, the objects it showed for them, and their bytes. */
interface SegmentRun {
  readonly keys: ReadonlyArray<string>
  readonly values: ReadonlyArray<object>
  readonly segment: AnswerSegment
}

/**
 * The runs a job's last answer of the live state showed, kept by its Job object (a job created again
 * is a new object). An answer of an earlier state (GET /state?at=) reuses them where they match but
 * keeps none of its own: a checkpoint shares Job objects with the live state, and the two would
 * make each other rebuild every run.
 */
const jobRuns = new WeakMap<Job, { deployments: ReadonlyArray<SegmentRun>; tasks: ReadonlyArray<SegmentRun> }>()

/**
 * `"key":value,…` of a map in runs (each after the first beginning with a comma): a kept run whose
 * keys and objects are those of now is reused as it is.
 */
const mapSegments = <V extends object>(
  kept: ReadonlyArray<SegmentRun>,
  keys: ReadonlyArray<string>,
  values: ReadonlyArray<V>,
  hostsPerSegment: number,
  render: (out: ByteList, value: V) => void,
): SegmentRun[] => {
  const runs: SegmentRun[] = []
  for (let from = 0, i = 0; from < keys.length; from += hostsPerSegment, i++) {
    const to = Math.min(from + hostsPerSegment, keys.length)
    const old = kept[i]
    if (old !== undefined && old.keys.length === to - from && old.keys.every((k, j) => k === keys[from + j] && old.values[j] === values[from + j])) {
      runs.push(old)
      continue
    }
    const out = new ByteList()
    for (let j = from; j < to; j++) {
      if (j > 0) out.add(COMMA)
      out.add(ofKey(keys[j]!))
      render(out, values[j]!)
    }
    const size = out.size
    runs.push({ keys: keys.slice(from, to), values: values.slice(from, to), segment: new AnswerSegment(Buffer.concat(out.take(), size)) })
  }
  return runs
}

/** How an answer is built from runs: their length, and whether its runs are kept for the next answer. */
export interface RunOptions {
  readonly hostsPerSegment?: number
  readonly keep?: boolean
}

/** `{"job":…,"deployments":{`, how a job's status begins: the same bytes for as long as the job exists. */
const jobHeads = new WeakMap<Job, AnswerSegment>()
export const jobHead = (job: Job): AnswerSegment => {
  let head = jobHeads.get(job)
  if (head === undefined) jobHeads.set(job, (head = new AnswerSegment(Buffer.concat([JOB_HEAD, ofJob(job), DEPLOYMENTS]))))
  return head
}

/** `{"job":…,"deployments":{…},"taskStatuses":{…}}` of a captured job, as kept segments. */
const jobStatusParts = ({ job, hosts, deployments, taskHosts, tasks }: CapturedJob, { hostsPerSegment = HOSTS_PER_SEGMENT, keep = true }: RunOptions): Array<Buffer | AnswerSegment> => {
  const kept = jobRuns.get(job)
  const runs = {
    deployments: mapSegments(kept?.deployments ?? [], hosts, deployments, hostsPerSegment, (out, d) => out.add(ofDeployment(d))),
    tasks: mapSegments(kept?.tasks ?? [], taskHosts, tasks, hostsPerSegment, (out, t) => addTask(out, job, t)),
  }
  if (keep) jobRuns.set(job, runs)
  return [jobHead(job), ...runs.deployments.map((r) => r.segment), TASK_STATUSES, ...runs.tasks.map((r) => r.segment), JOB_STATUS_END]
}

/** GET /jobs/{id}/status's body, or undefined for an unknown job. */
export const jobStatusAnswer = (state: FleetState, jobId: string, options: RunOptions = {}, ready?: ReadyParts): Array<Buffer | AnswerSegment> | undefined => {
  const parts = ready?.(jobId)
  if (parts !== undefined) return parts
  const captured = captureJob(state, jobId)
  return captured && jobStatusParts(captured, options)
}

/** POST /jobs/statuses's body, a job at a time. */
export function* jobStatusesAnswer(captured: ReadonlyArray<JobStatusSource>, options: RunOptions = {}): Generator<Buffer | AnswerSegment> {
  yield utf8("{")
  for (let j = 0; j < captured.length; j++) {
    const source = captured[j]!
    if (j > 0) yield COMMA
    yield ofKey(source.id)
    yield* "parts" in source ? source.parts : jobStatusParts(source, options)
  }
  yield utf8("}")
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

/** JSON.stringify(hostStatusJson(state, host, details)) for a captured host, from cached fragments, after `prefix` (an answer's `,"host":`). */
export const hostStatusBytes = (h: CapturedHost, details: HostDetails | undefined, prefix = ""): Bytes => {
  const out = new ByteList()
  out.text(
    `${prefix}{"status":${h.record.up ? '"UP"' : '"DOWN"'},"statusSince":${JSON.stringify(h.record.since)},"agentId":${JSON.stringify(h.record.agentId)},` +
      `"hostInfo":${JSON.stringify(details?.hostInfo ?? null)},"agentInfo":${JSON.stringify(details?.agentInfo ?? null)},"jobs":{`,
  )
  h.deployments.forEach(([jobId, d], i) => {
    if (i > 0) out.add(COMMA)
    out.add(ofKey(jobId))
    out.add(ofDeployment(d))
  })
  out.text('},"statuses":{')
  h.tasks.forEach(([jobId, t, job], i) => {
    if (i > 0) out.add(COMMA)
    out.add(ofKey(jobId))
    addTask(out, job, t)
  })
  out.text(`},"environment":${JSON.stringify(details?.environment ?? {})},"labels":${JSON.stringify(details?.labels ?? {})}}`)
  return out.take()
}

/** The array index a key is to JavaScript (JSON.stringify writes those keys first, ascending), or -1. */
export const arrayIndexOf = (k: string): number => (k.charCodeAt(0) <= 57 && /^(0|[1-9]\d*)$/.test(k) && Number(k) < 2 ** 32 - 1 ? Number(k) : -1)

/** Keys in the order JSON.stringify writes an object's: integer-like ones first, ascending, then the rest as inserted. */
export const jsonKeyOrder = <K extends string>(keys: ReadonlyArray<K>): K[] => {
  // Most names start with a letter: one cheap look at each, and they are in order already.
  if (!keys.some((k) => arrayIndexOf(k) >= 0)) return [...keys]
  const integers = keys.filter((k) => arrayIndexOf(k) >= 0).sort((a, b) => arrayIndexOf(a) - arrayIndexOf(b))
  return [...integers, ...keys.filter((k) => arrayIndexOf(k) < 0)]
}
