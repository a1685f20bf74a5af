import fc from "fast-check"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { computeJobHash, parseJobId } from "../core/job-id.ts"
import { decodeJob, type Job, type JobInput } from "../core/job.ts"
import type { FleetState } from "../core/state.ts"
import {
  contextFor,
  FleetWorld,
  jobInputArb,
  jobPoolArb,
  setupStepsArb,
  showStep,
  toCommand,
  weightedStepArb,
  type PoolJob,
  type Step,
} from "./arbitraries.ts"
import { FleetModel, modelVersions, staticPortsOf, type ModelJobInfo } from "./model.ts"
import { check } from "./support.ts"

/*
 * Model-based test of the master's state machine: random command sequences run against the plain
 * model (properties/model.ts) and against decide + applyEvent (core/). After every step they must
 * agree (accept/refuse with the same Helios status, the same events, the same expected versions)
 * and the fleet invariants must hold.
 */

interface Real {
  readonly world: FleetWorld
}

const knowledgeOf = (pool: ReadonlyArray<PoolJob>) => (job: Job): ModelJobInfo => {
  // The model knows the definitions it generated: a pool id is the one decodeJob computed; any
  // other id (the generator tampered with its hash) does not match its definition.
  const known = pool.find((p) => p.job.id === job.id)
  return known === undefined
    ? { idMatchesDefinition: false }
    : known.expiresMs === undefined
      ? { idMatchesDefinition: true }
      : { idMatchesDefinition: true, expiresMs: known.expiresMs }
}

const deploymentsOf = (state: FleetState) =>
  [...state.deployments].flatMap(([, byJob]) =>
    [...byJob.values()].map(({ deployedAt, ...d }) => d),
  )

const tasksOf = (state: FleetState) =>
  [...state.tasks].flatMap(([, byJob]) =>
    [...byJob.values()].map(({ jobId, host, state, goal, throttled, containerId }) => ({
      jobId,
      host,
      state,
      goal,
      throttled,
      ...(containerId !== undefined ? { containerId } : {}),
    })),
  )

const byKey = <T extends { jobId: string; host: string }>(xs: T[]) =>
  [...xs].sort((a, b) => `${a.jobId} ${a.host}`.localeCompare(`${b.jobId} ${b.host}`))

/** The real state says what the model says. */
const expectAgreement = (model: FleetModel, state: FleetState) => {
  expect(state.jobs).toEqual(model.jobs)
  expect(new Map([...state.hosts].map(([h, r]) => [h, { agentId: r.agentId, up: r.up }]))).toEqual(model.hosts)
  expect(byKey(deploymentsOf(state))).toEqual(byKey([...model.deployments.values()]))
  expect(byKey(tasksOf(state))).toEqual(byKey([...model.tasks.values()].map((t) => ({ ...t }))))
  expect(state.position).toBe(model.eventCount)
}

/** Invariants of any reachable state, checked on the real state alone. */
const expectInvariants = (state: FleetState, model: FleetModel) => {
  // No deployment of a missing job or to a missing host.
  for (const [host, byJob] of state.deployments) {
    if (byJob.size > 0) expect(state.hosts.has(host), `deployment on missing host ${host}`).toBe(true)
    // No two deployments on one host share a static external port (per protocol).
    const owner = new Map<string, string>()
    for (const [jobId, d] of byJob) {
      expect(d.jobId).toBe(jobId)
      expect(d.host).toBe(host)
      const job = state.jobs.get(jobId)
      expect(job, `deployment of missing job ${jobId} on ${host}`).toBeDefined()
      for (const port of staticPortsOf(job!)) {
        expect(owner.get(port), `port ${port} on ${host} used by ${owner.get(port)} and ${jobId}`).toBeUndefined()
        owner.set(port, jobId)
      }
    }
  }
  // jobHosts is exactly the reverse index of deployments.
  const reverse = new Map<string, Set<string>>()
  for (const [host, byJob] of state.deployments)
    for (const jobId of byJob.keys()) reverse.set(jobId, (reverse.get(jobId) ?? new Set()).add(host))
  expect(state.jobHosts).toEqual(reverse)
  // Task statuses only for current deployments.
  for (const [host, byJob] of state.tasks)
    for (const jobId of byJob.keys()) expect(state.deployments.get(host)?.has(jobId)).toBe(true)
  // Ids are stable: a stored job is keyed by its id, and that id is name:version:hash where hash
  // is what Helios computes for the definition (created/creatingUser are not part of it).
  for (const [id, job] of state.jobs) {
    expect(job.id).toBe(id)
    expect(parseJobId(id)?.hash).toBe(computeJobHash(job))
  }
  // Stream versions = accepted appends that listed the stream - 1.
  expect(state.versions).toEqual(modelVersions(model))
}

class StepCommand implements fc.Command<FleetModel, Real> {
  /** The pool of the run, kept for toString (fast-check prints commands after running them). */
  private pool: ReadonlyArray<PoolJob> = []

  constructor(readonly step: Step) {}

  check(): boolean {
    return true
  }

  run(model: FleetModel, real: Real): void {
    const pool = real.world.pool
    this.pool = pool
    const command = toCommand(pool, this.step)
    const ctx = contextFor(this.step, real.world.nextNow)
    const expected = model.outcome(command, ctx, knowledgeOf(pool))
    const idsBefore = new Map([...real.world.state.jobs].map(([id, j]) => [id, j.id]))
    const { result, stored } = real.world.step(this.step)

    if (expected.kind === "rejected") {
      expect(Result.isFailure(result) ? result.failure.status : "accepted").toBe(expected.status)
      expect(stored).toEqual([])
    } else {
      if (Result.isFailure(result)) expect.fail(`refused with ${result.failure.status}: ${result.failure.message}`)
      const decision = result.success
      if (command._tag === "DeregisterHost") {
        // The undeploys may come in any order; the deregistration last.
        const sortEvents = (es: ReadonlyArray<{ _tag: string; jobId?: string }>) =>
          [...es].sort((a, b) => `${a._tag}${a.jobId ?? ""}`.localeCompare(`${b._tag}${b.jobId ?? ""}`))
        expect(sortEvents(decision.events as never)).toEqual(sortEvents(expected.events as never))
        expect(decision.events.at(-1)?._tag).toBe("HostDeregistered")
      } else {
        expect(decision.events).toEqual(expected.events)
      }
      // The decision expects the versions of exactly the streams it read, as they are now.
      expect(decision.expected).toEqual(expected.expected)
      // A job is never removed while deployed.
      for (const e of decision.events)
        if (e._tag === "JobRemoved") expect(model.deploymentsOf(e.jobId), `removed ${e.jobId} while deployed`).toEqual([])
      // Creating a job keeps the id it was submitted with.
      if (command._tag === "CreateJob") expect(decision.events[0]?._tag === "JobCreated" && decision.events[0].job.id).toBe(command.job.id)
      model.accept(expected)
    }
    // An existing job's id never changes.
    for (const [id, was] of idsBefore) if (real.world.state.jobs.has(id)) expect(real.world.state.jobs.get(id)!.id).toBe(was)

    expectAgreement(model, real.world.state)
    expectInvariants(real.world.state, model)
  }

  toString(): string {
    return showStep(this.pool, this.step)
  }
}

/** A pool, a few setup steps (create jobs, register hosts), then random commands. */
const scenarioArb = fc.tuple(
  jobPoolArb,
  setupStepsArb.map((steps) => steps.map((s) => new StepCommand(s))),
  fc.commands([weightedStepArb.map((s) => new StepCommand(s))], { maxCommands: 80, size: "max" }),
)

const shuffleKeys = (value: unknown, seed: number): unknown => {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, seed))
  if (value === null || typeof value !== "object") return value
  const entries = Object.entries(value)
  const rotated = entries.length === 0 ? entries : [...entries.slice(seed % entries.length), ...entries.slice(0, seed % entries.length)]
  return Object.fromEntries(rotated.reverse().map(([k, v]) => [k, shuffleKeys(v, seed)]))
}

describe("master state machine (model-based)", () => {
  it(
    "decide + applyEvent agree with the plain model after every step (same accept/refuse and Helios status, same events, " +
      "same expected versions), and the invariants hold: no deployment of a missing job or to a missing host, no job " +
      "removed while deployed, no two deployments on a host share a static external port per protocol, ids are stable and " +
      "equal the definition's hash, every stream's version = accepted appends listing it - 1",
    () => {
      check(
        fc.property(scenarioArb, ([pool, setup, cmds]) => {
          fc.modelRun(() => ({ model: new FleetModel(), real: { world: new FleetWorld(pool) } }), [...setup, ...cmds])
        }),
        { runs: 300, seed: 1001 },
      )
    },
  )

  it("the same job definition always hashes to the same id: whatever the key order, with or without created/creatingUser, and when resubmitted with its full id", () => {
    check(
      fc.property(jobInputArb, fc.nat(), (input, seed) => {
        const a = decodeJob(input)
        const b = decodeJob(shuffleKeys(input, seed))
        const c = decodeJob({ ...input, created: 12345, creatingUser: "someone-else" } as JobInput)
        if (Result.isFailure(a) || Result.isFailure(b) || Result.isFailure(c)) return expect.fail("decodeJob refused a valid job")
        expect(b.success.id).toBe(a.success.id)
        expect(c.success.id).toBe(a.success.id)
        expect(computeJobHash(a.success)).toBe(parseJobId(a.success.id)!.hash)
        // A stored job, sent back as JSON (e.g. `helios inspect --json | helios create`), keeps its id.
        const again = decodeJob(JSON.parse(JSON.stringify(c.success)))
        if (Result.isFailure(again)) return expect.fail(`resubmitted job refused: ${JSON.stringify(again.failure)}`)
        expect(again.success.id).toBe(a.success.id)
        expect(again.success).toEqual(c.success)
      }),
      { runs: 300, seed: 1002 },
    )
  })
})
