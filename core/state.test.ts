/**
 * The fold's task statuses around an undeploy: an agent's reports of a task's end (goal UNDEPLOY,
 * or any report that lands after JobUndeployed, HostDeregistered or JobRemoved) stay in the
 * history and never make a task (re)appear in the fleet state.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { check } from "../properties/support.ts"
import { aJob } from "../test/fixtures.ts"
import { envelope, host } from "../test/event-fixtures.ts"
import { applyHistory, emptyHistory, type HistoryIndex } from "../projections/history.ts"
import type { DomainEvent, StoredEvent } from "./events.ts"
import { position, TaskGoal, TaskState, type HostName } from "./ids.ts"
import type { JobId } from "./job.ts"
import { applyEvent, emptyState } from "./state.ts"

const JOBS = [aJob({ id: "fold-a:v1" }), aJob({ id: "fold-b:v1" })]
const HOSTS: ReadonlyArray<HostName> = [host("fold-h1"), host("fold-h2")]

type Step =
  | { readonly t: "deploy" | "undeploy" | "remove"; readonly job: number; readonly host: number }
  | { readonly t: "deregister"; readonly host: number }
  | { readonly t: "report"; readonly job: number; readonly host: number; readonly state: TaskState; readonly goal: TaskGoal }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ t: fc.constantFrom("deploy" as const, "undeploy" as const, "remove" as const), job: fc.nat({ max: 1 }), host: fc.nat({ max: 1 }) }),
  fc.record({ t: fc.constant("deregister" as const), host: fc.nat({ max: 1 }) }),
  fc.record({
    t: fc.constant("report" as const),
    job: fc.nat({ max: 1 }),
    host: fc.nat({ max: 1 }),
    state: fc.constantFrom(...TaskState.literals),
    goal: fc.constantFrom(...TaskGoal.literals),
  }),
)

/** The events a master and agents would write for a step (reports are written whatever the state). */
const eventsOf = (step: Step, deployed: ReadonlySet<string>): DomainEvent[] => {
  const key = (j: number, h: number) => `${j}@${h}`
  switch (step.t) {
    case "deploy":
      return deployed.has(key(step.job, step.host)) ? [] : [{ _tag: "JobDeployed", job: JOBS[step.job]!, host: HOSTS[step.host]!, goal: "START" }]
    case "undeploy":
      return deployed.has(key(step.job, step.host)) ? [{ _tag: "JobUndeployed", jobId: JOBS[step.job]!.id as JobId, host: HOSTS[step.host]! }] : []
    case "remove":
      return [{ _tag: "JobRemoved", jobId: JOBS[step.job]!.id as JobId }]
    case "deregister":
      return [
        ...[0, 1].filter((j) => deployed.has(key(j, step.host))).map((j): DomainEvent => ({ _tag: "JobUndeployed", jobId: JOBS[j]!.id as JobId, host: HOSTS[step.host]! })),
        { _tag: "HostDeregistered", host: HOSTS[step.host]! },
      ]
    case "report":
      return [
        {
          _tag: "TaskStateChanged",
          jobId: JOBS[step.job]!.id as JobId,
          host: HOSTS[step.host]!,
          state: step.state,
          goal: step.goal,
          throttled: "NO",
          containerId: `c${step.job}${step.host}`,
        },
      ]
  }
}

/** A job's events as the history index names them (by position: events[p - 1] is at p). */
const historyOf = (history: HistoryIndex, jobId: string, events: ReadonlyArray<StoredEvent>) =>
  history.positionsOf(jobId).map((p) => events[p - 1]!.envelope)

describe("fleet state: the end of a task is history only", () => {
  it("a task status exists only for a deployment, and is the last report with goal START/STOP since it was deployed; every report is in the job's history", () => {
    check(
      fc.property(fc.array(stepArb, { maxLength: 40 }), (steps) => {
        const state = emptyState()
        const history = emptyHistory()
        const deployed = new Set<string>()
        /** The expected status per deployment: the last START/STOP report since its JobDeployed. */
        const expected = new Map<string, string | undefined>()
        const reports = new Map<string, number>()
        const all: StoredEvent[] = []
        let pos = 0
        for (const step of steps) {
          for (const event of eventsOf(step, deployed)) {
            const stored: StoredEvent = { position: position(++pos), envelope: envelope(event), bumped: [] }
            all.push(stored)
            applyEvent(state, stored)
            applyHistory(history, stored)
            const k = (jobId: string, h: string) => `${JOBS.findIndex((j) => j.id === jobId)}@${HOSTS.indexOf(h as HostName)}`
            switch (event._tag) {
              case "JobDeployed":
                deployed.add(k(event.job.id, event.host))
                expected.set(k(event.job.id, event.host), undefined)
                break
              case "JobUndeployed":
                deployed.delete(k(event.jobId, event.host))
                expected.delete(k(event.jobId, event.host))
                break
              case "TaskStateChanged": {
                const key = k(event.jobId, event.host)
                reports.set(event.jobId, (reports.get(event.jobId) ?? 0) + 1)
                if (deployed.has(key) && event.goal !== "UNDEPLOY") expected.set(key, `${event.state}/${event.goal}`)
                break
              }
              default:
                break
            }
          }
          const actual = new Map<string, string | undefined>()
          for (const [h, byJob] of state.deployments)
            for (const jobId of byJob.keys()) {
              const t = state.tasks.get(h)?.get(jobId)
              actual.set(`${JOBS.findIndex((j) => j.id === jobId)}@${HOSTS.indexOf(h)}`, t === undefined ? undefined : `${t.state}/${t.goal}`)
            }
          for (const [h, byJob] of state.tasks)
            for (const jobId of byJob.keys()) expect(state.deployments.get(h)?.has(jobId), `task of ${jobId} on ${h} without a deployment`).toBe(true)
          expect(actual).toEqual(expected)
          for (const job of JOBS)
            expect(historyOf(history, job.id, all).filter((e) => e.event._tag === "TaskStateChanged")).toHaveLength(reports.get(job.id) ?? 0)
        }
      }),
      { runs: 300, seed: 1601 },
    )
  })

  it("undeployed, then the agent's STOPPING and STOPPED: no task in the state, both in the history after `undeployed`", () => {
    const [job, h] = [JOBS[0]!, HOSTS[0]!]
    const jobId = job.id as JobId
    const report = (state: TaskState, goal: TaskGoal): DomainEvent => ({ _tag: "TaskStateChanged", jobId, host: h, state, goal, throttled: "NO", containerId: "c1" })
    const events: DomainEvent[] = [
      { _tag: "JobCreated", job },
      { _tag: "JobDeployed", job, host: h, goal: "START" },
      report("RUNNING", "START"),
      { _tag: "JobUndeployed", jobId, host: h },
      report("STOPPING", "UNDEPLOY"),
      { _tag: "JobRemoved", jobId },
      report("STOPPED", "UNDEPLOY"),
    ]
    const state = emptyState()
    const history = emptyHistory()
    const all: StoredEvent[] = []
    events.forEach((event, i) => {
      const stored: StoredEvent = { position: position(i + 1), envelope: envelope(event), bumped: [] }
      all.push(stored)
      applyEvent(state, stored)
      applyHistory(history, stored)
    })
    expect(state.tasks.get(h)?.has(jobId) ?? false).toBe(false)
    expect(state.deployments.get(h)?.has(jobId) ?? false).toBe(false)
    expect(historyOf(history, jobId, all).map((e) => (e.event._tag === "TaskStateChanged" ? `${e.event.state}/${e.event.goal}` : e.event._tag))).toEqual([
      "JobCreated",
      "JobDeployed",
      "RUNNING/START",
      "JobUndeployed",
      "STOPPING/UNDEPLOY",
      "JobRemoved",
      "STOPPED/UNDEPLOY",
    ])
  })
})
