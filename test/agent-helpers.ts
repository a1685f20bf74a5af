/**
 * Helpers for the agent's tests: append what a master would, read back what the agent reported.
 */
import type { ContainerSpec } from "../core/container-runtime.ts"
import type { EventLog, HostStreamEvent } from "../core/event-log.ts"
import type { DomainEvent, EventOf } from "../core/events.ts"
import type { Goal, HostName } from "../core/ids.ts"
import type { Job, JobId } from "../core/job.ts"
import { envelope } from "./event-fixtures.ts"
import type { AgentOptions } from "../agent/agent.ts"

/** Agent settings for the in-memory runtime that keep tests quick without changing behaviour. */
export const FAST_IN_MEMORY = {
  reconcileIntervalMs: 200,
  restartDelays: { minimumMs: 20, normalMs: 20, flappingMs: 300, imageMissingMs: 300, imagePullFailedMs: 300 },
  tuning: { monitorIntervalMs: 100, healthCheckInitialBackoffMs: 20, defaultStopTimeoutSeconds: 1 },
  portProbe: async () => true,
  startupCatchUpMs: 500,
} satisfies Partial<AgentOptions>

export const deploy = (log: EventLog, job: Job, host: HostName, goal: Goal = "START") =>
  log.append([envelope({ _tag: "JobDeployed", job, host, goal }, "master")])

export const setGoal = (log: EventLog, job: Job, host: HostName, goal: Goal) =>
  log.append([envelope({ _tag: "DeploymentGoalChanged", jobId: job.id, host, goal }, "master")])

export const undeploy = (log: EventLog, job: Job, host: HostName) =>
  log.append([envelope({ _tag: "JobUndeployed", jobId: job.id as JobId, host }, "master")])

export const hostEvents = async (log: EventLog, host: HostName): Promise<HostStreamEvent[]> => {
  const out: HostStreamEvent[] = []
  for (;;) {
    const batch = await log.readHostStream(host, out.at(-1)?.hostPosition ?? 0)
    if (batch.length === 0) return out
    out.push(...batch)
  }
}

export type TaskEvent = EventOf<"TaskStateChanged">

/** The TaskStateChanged events of one job on one host, in log order. */
export const taskEvents = async (log: EventLog, host: HostName, jobId: string): Promise<TaskEvent[]> =>
  (await hostEvents(log, host))
    .map((e) => e.envelope.event)
    .filter((e: DomainEvent): e is TaskEvent => e._tag === "TaskStateChanged" && e.jobId === jobId)

export const lastTask = async (log: EventLog, host: HostName, jobId: string): Promise<TaskEvent | undefined> =>
  (await taskEvents(log, host, jobId)).at(-1)

/** A bare container spec with the given labels (for seeding a runtime with orphans and strangers). */
export const bareSpec = (name: string, labels: Record<string, string>, image = "helios-test/web:latest"): ContainerSpec => ({
  name,
  image,
  command: [],
  env: {},
  labels,
  ports: [],
  binds: [],
  anonymousVolumes: [],
  tmpfs: {},
  capAdd: [],
  capDrop: [],
  securityOpt: [],
  init: true,
})
