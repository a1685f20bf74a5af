import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { envelopeOf } from "../core/envelope.ts"
import type { DomainEvent, StoredEvent } from "../core/events.ts"
import type { AgentId, HostName, Position } from "../core/ids.ts"
import { applyEvent, cloneState, emptyState, type FleetState } from "../core/state.ts"
import { hostStatusJson, jobStatusJson, type HostDetails } from "../master/responses.ts"
import { gunzipSync } from "node:zlib"
import { gzipOf, segmentsOf, type Piece } from "../master/large-answer.ts"
import { captureHostStatus, captureJobStatuses, hostStatusBytes, jobStatusAnswer, jobStatusesAnswer } from "../master/status-json.ts"
import { StatusWarmer } from "../master/status-warmer.ts"
import { hostRoutes } from "../master/routes/hosts.ts"
import type { MasterDeps } from "../master/deps.ts"
import { aJob } from "../test/fixtures.ts"
import { GOALS, TASK_STATES, THROTTLES, UNKNOWN_JOB_ID } from "./arbitraries.ts"
import { checkAsync } from "./support.ts"

/*
 * The master answers job statuses from JSON fragments cached per state object, and a job's hosts in
 * runs of bytes kept from one answer to the next, each with its deflated form (master/status-json.ts,
 * master/large-answer.ts). Invariant: at every point of a rollout, an answer's text, and the gzip
 * answer decompressed, are exactly JSON.stringify of the status object built from scratch — no kept
 * fragment or run outlives the state it rendered, whatever changed it (a task report, a goal change,
 * an undeploy and redeploy, a job removed and created again), for any run length.
 */

const text = (bytes: ReadonlyArray<Buffer>) => Buffer.concat(bytes).toString("utf8")
/** An answer's text as sent plain, after checking that its gzip form decompresses to the same bytes. */
const answerText = async (pieces: Iterable<Piece>) => {
  // Every kept run deflated on its own, however small (the master joins small ones with the bytes around them).
  const { segments, size } = await segmentsOf(pieces, { minKeptBytes: 0 })
  const plain = Buffer.concat(segments.map((s) => s.plain), size)
  expect(gunzipSync(await gzipOf(segments)).equals(plain)).toBe(true)
  return plain.toString("utf8")
}
const jobStatusText = async (state: FleetState, id: string, hostsPerSegment: number) => {
  const parts = jobStatusAnswer(state, id, { hostsPerSegment })
  return parts === undefined ? undefined : answerText(parts)
}
const jobStatusesText = (state: FleetState, ids: ReadonlyArray<string>, hostsPerSegment: number, keep = true) =>
  answerText(jobStatusesAnswer(captureJobStatuses(state, ids), { hostsPerSegment, keep }))

const JOBS = [aJob({ id: "a:v1" }), aJob({ id: "b:v1", env: { X: "1" } }), aJob({ id: "c:v1", ports: null })]
// Names that look like integers too: JSON.stringify writes such keys first, in ascending order.
const HOSTS = ["h1", "10", "h3", "2", "h5", "0", "h7"] as HostName[]

type Op =
  | { readonly t: "report"; readonly job: number; readonly host: number; readonly state: number; readonly goal: number; readonly throttled: number; readonly container: boolean }
  | { readonly t: "goal"; readonly job: number; readonly host: number; readonly goal: number }
  | { readonly t: "undeploy" | "deploy"; readonly job: number; readonly host: number }
  | { readonly t: "recreate"; readonly job: number }
  | { readonly t: "deregister"; readonly host: number; readonly redeploy: number | undefined }
  | { readonly t: "down"; readonly host: number }

const jobArb = fc.nat({ max: JOBS.length - 1 })
const hostArb = fc.nat({ max: HOSTS.length - 1 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant("report" as const), job: jobArb, host: hostArb, state: fc.nat({ max: TASK_STATES.length - 1 }), goal: fc.nat({ max: 1 }), throttled: fc.nat({ max: THROTTLES.length - 1 }), container: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("goal" as const), job: jobArb, host: hostArb, goal: fc.nat({ max: 1 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constantFrom("undeploy" as const, "deploy" as const), job: jobArb, host: hostArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("recreate" as const), job: jobArb }) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.record({ t: fc.constant("deregister" as const), host: hostArb, redeploy: fc.option(jobArb, { nil: undefined }) }),
      fc.record({ t: fc.constant("down" as const), host: hostArb }),
    ),
  },
)

/** Which (job, host) deployments a scenario begins with (all but these undeployed): "deploy" ops then often deploy on a host anew. */
const initiallyArb = fc.array(fc.boolean(), { minLength: JOBS.length * HOSTS.length, maxLength: JOBS.length * HOSTS.length })

/** The events of an op (undeploying everywhere before a job is removed, as decide would require). */
const eventsOf = (op: Op): DomainEvent[] => {
  // Deregistered, registered again, and (redeploy) given one of its jobs again in the same batch.
  if (op.t === "deregister")
    return [
      { _tag: "HostDeregistered", host: HOSTS[op.host]! },
      { _tag: "HostRegistered", host: HOSTS[op.host]!, agentId: "agent-1" as never },
      ...(op.redeploy === undefined ? [] : [{ _tag: "JobDeployed" as const, job: JOBS[op.redeploy]!, host: HOSTS[op.host]!, goal: "START" as const }]),
    ]
  if (op.t === "down") return [{ _tag: "HostWentDown", host: HOSTS[op.host]! }]
  const job = JOBS[op.job]!
  switch (op.t) {
    case "report":
      return [
        {
          _tag: "TaskStateChanged",
          jobId: job.id,
          host: HOSTS[op.host]!,
          state: TASK_STATES[op.state]!,
          goal: GOALS[op.goal]!,
          throttled: THROTTLES[op.throttled]!,
          ...(op.container ? { containerId: `c-${op.job}-${op.host}` } : {}),
        },
      ]
    case "goal":
      return [{ _tag: "DeploymentGoalChanged", jobId: job.id, host: HOSTS[op.host]!, goal: GOALS[op.goal]! }]
    case "undeploy":
      return [{ _tag: "JobUndeployed", jobId: job.id, host: HOSTS[op.host]! }]
    case "deploy":
      return [{ _tag: "JobDeployed", job, host: HOSTS[op.host]!, goal: "START" }]
    case "recreate":
      return [
        ...HOSTS.map((host): DomainEvent => ({ _tag: "JobUndeployed", jobId: job.id, host })),
        { _tag: "JobRemoved", jobId: job.id },
        { _tag: "JobCreated", job },
        ...HOSTS.map((host): DomainEvent => ({ _tag: "JobDeployed", job, host, goal: "START" })),
      ]
  }
}

/** A state with every job deployed on every host, and how to apply an event to it (positions counted). */
const deployedEverywhere = () => {
  const state = emptyState()
  let position = 0
  const apply = (event: DomainEvent): StoredEvent => {
    position++
    const stored: StoredEvent = { position: position as Position, envelope: envelopeOf(event, { at: 1_700_000_000_000 + position, actor: { kind: "agent", name: "x" } }), bumped: [] }
    applyEvent(state, stored)
    return stored
  }
  for (const host of HOSTS) apply({ _tag: "HostRegistered", host, agentId: "agent-1" as never })
  for (const job of JOBS) apply({ _tag: "JobCreated", job })
  for (const job of JOBS) for (const host of HOSTS) apply({ _tag: "JobDeployed", job, host, goal: "START" })
  return { state, apply }
}
/** The ids asked for: every job's, and one the state never holds. */
const ids = [...JOBS.map((j) => j.id), UNKNOWN_JOB_ID]

describe("cached status JSON", () => {
  it("after every event of a rollout, GET /jobs/{id}/status and POST /jobs/statuses text == JSON.stringify of the fresh answer, plain and gzip-compressed, for any run length", async () => {
    await checkAsync(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 80 }), fc.integer({ min: 1, max: 4 }), async (ops, hostsPerSegment) => {
        const { state, apply } = deployedEverywhere()
        for (const op of ops)
          for (const event of eventsOf(op)) {
            apply(event)
            const fresh: Record<string, unknown> = {}
            for (const id of ids) {
              const object = jobStatusJson(state, id)
              expect(await jobStatusText(state, id, hostsPerSegment)).toBe(object === undefined ? undefined : JSON.stringify(object))
              if (object !== undefined) fresh[id] = object
            }
            expect(await jobStatusesText(state, [...ids, ...ids], hostsPerSegment)).toBe(JSON.stringify(fresh))
          }
      }),
      { runs: 100, seed: 2101 },
    )
  })

  it("answers of an earlier state (GET /state?at=) and of now, asked in turns: each is its own state's answer, though they share jobs and the runs kept for them", async () => {
    await checkAsync(
      // keepEarlier: the earlier state's answers keep their runs too (as a live one's do), or keep none (as GET /state?at= does).
      fc.asyncProperty(fc.array(opArb, { minLength: 2, maxLength: 60 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), async (ops, hostsPerSegment, keepEarlier) => {
        const { state, apply } = deployedEverywhere()
        const half = Math.floor(ops.length / 2)
        for (const op of ops.slice(0, half)) for (const event of eventsOf(op)) apply(event)
        // A checkpoint's copy shares the job, deployment and task objects of the state it was taken from.
        const earlier = cloneState(state)
        const earlierText = JSON.stringify(Object.fromEntries(ids.flatMap((id) => (earlier.jobs.has(id) ? [[id, jobStatusJson(earlier, id)]] : []))))
        for (const op of ops.slice(half))
          for (const event of eventsOf(op)) {
            apply(event)
            const now = JSON.stringify(Object.fromEntries(ids.flatMap((id) => (state.jobs.has(id) ? [[id, jobStatusJson(state, id)]] : []))))
            expect(await jobStatusesText(earlier, ids, hostsPerSegment, keepEarlier)).toBe(earlierText)
            expect(await jobStatusesText(state, ids, hostsPerSegment)).toBe(now)
          }
      }),
      { runs: 100, seed: 2103 },
    )
  })

  it("answers rendered in slices (POST /jobs/statuses, POST /hosts/statuses): captured at one point, their pieces joined are the answer of that point, whatever events come while they are rendered", async () => {
    await checkAsync(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), async (ops, hostsPerSegment, withDetails) => {
        const { state, apply } = deployedEverywhere()
        const details = withDetails ? ({ hostInfo: { cpus: 2 }, labels: { role: "web" }, environment: { A: "1" } } as unknown as HostDetails) : undefined
        const half = Math.floor(ops.length / 2)
        for (const op of ops.slice(0, half)) for (const event of eventsOf(op)) apply(event)
        const jobsNow = await jobStatusesText(state, [...ids, ...ids], hostsPerSegment)
        const hostsNow = HOSTS.map((h) => JSON.stringify(hostStatusJson(state, h, details)))
        const jobs = captureJobStatuses(state, [...ids, ...ids])
        const hosts = HOSTS.map((h) => captureHostStatus(state, h)!)
        // Events applied while the answers are written.
        for (const op of ops.slice(half)) for (const event of eventsOf(op)) apply(event)
        expect(await answerText(jobStatusesAnswer(jobs, { hostsPerSegment }))).toBe(jobsNow)
        expect(hosts.map((h) => text(hostStatusBytes(h, details)))).toEqual(hostsNow)
      }),
      { runs: 100, seed: 2102 },
    )
  })
  it("polled statuses, answered from views that the events mark for rendering again (master/job-status-views.ts) and kept ready in the background (master/status-warmer.ts): after every event, each answer is exactly the fresh one, plain and gzip-compressed", async () => {
    await checkAsync(
      // Per step: an op, then whether a round of the warmer runs.
      fc.asyncProperty(fc.array(fc.tuple(opArb, fc.boolean()), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 4 }), initiallyArb, async (steps, hostsPerRun, deployed) => {
        const { state, apply } = deployedEverywhere()
        JOBS.forEach((job, j) => HOSTS.forEach((host, h) => deployed[j * HOSTS.length + h] || apply({ _tag: "JobUndeployed", jobId: job.id, host })))
        const warmer = new StatusWarmer(() => state, () => 0, { hostsPerRun })
        warmer.noteAsked(ids)
        warmer.noteAsked(ids)
        for (const [op, warm] of steps) {
          warmer.onEvents(eventsOf(op).map(apply))
          if (warm) await warmer.round()
          const fresh = Object.fromEntries(ids.flatMap((id) => (state.jobs.has(id) ? [[id, jobStatusJson(state, id)]] : [])))
          for (const id of ids) {
            const parts = jobStatusAnswer(state, id, {}, warmer.partsOf)
            expect(parts === undefined ? undefined : await answerText(parts)).toBe(id in fresh ? JSON.stringify(fresh[id]) : undefined)
          }
          // As the master joins them: a small run with the bytes around it, unless it was deflated ahead.
          const { segments, size } = await segmentsOf(jobStatusesAnswer(captureJobStatuses(state, [...ids, ...ids], warmer.partsOf)))
          const plain = Buffer.concat(segments.map((s) => s.plain), size)
          expect(plain.toString("utf8")).toBe(JSON.stringify(fresh))
          expect(gunzipSync(await gzipOf(segments)).equals(plain)).toBe(true)
        }
      }),
      { runs: 150, seed: 2105 },
    )
  })

  it("POST /hosts/statuses shows every host as of the request, though events are applied while each host's details are read", async () => {
    await checkAsync(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.array(fc.boolean(), { minLength: HOSTS.length, maxLength: HOSTS.length }), fc.boolean(), async (ops, down, onlyUp) => {
        const { state, apply } = deployedEverywhere()
        HOSTS.forEach((host, i) => apply(down[i] ? { _tag: "HostWentDown", host } : { _tag: "HostWentUp", host, agentId: "agent-1" as AgentId }))
        const shown = HOSTS.filter((h) => !onlyUp || state.hosts.get(h)!.up)
        const expected = JSON.stringify(Object.fromEntries(shown.map((h) => [h, hostStatusJson(state, h, undefined)])))
        // Each host's details are read from ZooKeeper in the master: the log moves on meanwhile
        // (here: the next op, and the host going down and up again).
        let next = 0
        const hostDetails = async (host: HostName) => {
          await Promise.resolve()
          for (const event of eventsOf(ops[next++ % ops.length]!)) apply(event)
          apply({ _tag: "HostWentDown", host })
          apply({ _tag: "HostWentUp", host, agentId: "agent-1" as AgentId })
          return undefined
        }
        const app = hostRoutes({ projection: { model: { state } }, hostDetails, compressFromBytes: Number.POSITIVE_INFINITY } as unknown as MasterDeps)
        const answer = await app.request(`/hosts/statuses${onlyUp ? "?status=UP" : ""}`, {
          method: "POST",
          body: JSON.stringify([...HOSTS, "unknown-host"]),
          headers: { "content-type": "application/json" },
        })
        expect(await answer.text()).toBe(expected)
      }),
      { runs: 60, seed: 2104 },
    )
  })
})
