/**
 * Rollout replays (projections/rollout-replay.ts), for generated histories of rollouts made by the
 * real decisions on a fleet in memory (test/rollout-sim.ts): rolling updates with random options,
 * agents reporting random task states (or all RUNNING at once, or until the rollout ends), time passing past step
 * timeouts or not, hand-made undeploys, stops (of rollouts in progress or ended), promotes and rollbacks.
 *
 * Invariants:
 * 1. A replay built from one rollout's log range alone (what the master serves, starting at the
 *    rollout's RolloutStarted with its number) equals that rollout in the replay of the whole log
 *    folded event by event.
 * 2. Every step the replay shows ended agrees with the fleet state as of its end position
 *    (`stateAsOf`): a succeeded DEPLOY_NEW_JOB has the rollout's job deployed on the host by the
 *    group; a succeeded UNDEPLOY_OLD_JOBS or FORCE_UNDEPLOY_JOBS leaves no other job of the group
 *    there; a succeeded AWAIT_RUNNING has the job RUNNING there.
 * 3. A step's transitions are exactly the task reports on its host after its start and up to its end.
 * 4. Steps start and end in order: a step ends only after it starts, and no step of a rollout
 *    starts before the previous one ended.
 * 5. A replay ends as the group's history says its rollout ended (STOPPED is FAILED there), and one
 *    still in progress is still in progress there: a stop after a rollout ended changes neither.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { RolloutStep } from "../core/deployment-group.ts"
import type { HostName, TaskState, ThrottleState } from "../core/ids.ts"
import type { JobId } from "../core/job.ts"
import { stateAsOf } from "../projections/read-model.ts"
import { emptyReplay, foldReplay, type ReplayRollout } from "../projections/rollout-replay.ts"
import { aJob } from "../test/fixtures.ts"
import { RolloutSim } from "../test/rollout-sim.ts"
import { check } from "./support.ts"

const HOSTS = ["r1", "r2", "r3", "r4"]
type Action =
  | { t: "update"; job: number; parallelism: number; overlap: boolean; migrate: boolean; canary?: number | undefined; autoRevert: boolean; maxFailures?: number | undefined }
  | { t: "advance" }
  | { t: "report"; host: number; state: TaskState; throttled: ThrottleState }
  | { t: "time"; ms: number }
  /** Every deployed task reports RUNNING (a healthy fleet catching up). */
  | { t: "heal" }
  /** Heal and advance until the rollout waits for something else (a healthy fleet: it ends, or awaits promotion). */
  | { t: "settle" }
  | { t: "undeploy"; host: number }
  | { t: "stop" }
  | { t: "promote" }
  | { t: "rollback" }

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ t: fc.constant("update" as const), job: fc.nat({ max: 2 }), parallelism: fc.integer({ min: 1, max: 3 }), overlap: fc.boolean(), migrate: fc.boolean(), canary: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }), autoRevert: fc.boolean(), maxFailures: fc.option(fc.nat({ max: 2 }), { nil: undefined }) }, { requiredKeys: ["t", "job", "parallelism", "overlap", "migrate", "autoRevert"] }) },
  { weight: 5, arbitrary: fc.constant({ t: "advance" as const }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("report" as const), host: fc.nat({ max: 3 }), state: fc.constantFrom<TaskState>("RUNNING", "RUNNING", "PULLING_IMAGE", "FAILED", "EXITED"), throttled: fc.constantFrom<ThrottleState>("NO", "NO", "IMAGE_MISSING") }) },
  { weight: 2, arbitrary: fc.constant({ t: "heal" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "settle" as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("time" as const), ms: fc.constantFrom(500, 5_000, 11_000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("undeploy" as const), host: fc.nat({ max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: "stop" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "promote" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "rollback" as const }) },
)

/** Runs the actions on a fresh fleet of four web hosts; the simulation. */
const play = (actions: ReadonlyArray<Action>): RolloutSim => {
  const sim = new RolloutSim()
  for (const h of HOSTS) sim.addHost(h, { role: "web" })
  const jobs = [1, 2, 3].map((v) => sim.createJob(aJob({ id: `rp:v${v}` })))
  sim.ok({ _tag: "CreateDeploymentGroup", group: { name: "g", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
  for (const a of actions) {
    switch (a.t) {
      case "update":
        sim.exec({
          _tag: "StartRollout",
          group: "g",
          jobId: jobs[a.job]!,
          options: {
            timeout: 10,
            parallelism: a.parallelism,
            overlap: a.overlap,
            migrate: a.migrate,
            autoRevert: a.autoRevert,
            ...(a.canary !== undefined ? { canary: a.canary } : {}),
            ...(a.maxFailures !== undefined ? { maxFailures: a.maxFailures } : {}),
          },
          labels: sim.hostLabels,
        })
        break
      case "advance":
        sim.advance("g")
        break
      case "report": {
        const host = HOSTS[a.host]! as HostName
        const deployed = [...(sim.state.deployments.get(host)?.keys() ?? [])]
        if (deployed.length > 0) sim.report(host, deployed[deployed.length - 1]!, a.state, a.throttled)
        break
      }
      case "time":
        sim.now += a.ms
        break
      case "heal":
        sim.runEverything()
        break
      case "settle":
        for (let i = 0; i < HOSTS.length + 1; i++) {
          sim.runEverything()
          sim.advance("g")
        }
        break
      case "undeploy": {
        const host = HOSTS[a.host]! as HostName
        const d = [...(sim.state.deployments.get(host)?.values() ?? [])][0]
        if (d) sim.exec({ _tag: "UndeployJob", jobId: d.jobId as JobId, host })
        break
      }
      case "stop":
        sim.exec({ _tag: "StopRollout", group: "g" })
        break
      case "promote":
        sim.exec({ _tag: "PromoteRollout", group: "g" })
        break
      case "rollback":
        sim.exec({ _tag: "Rollback", group: "g", labels: sim.hostLabels })
        break
    }
  }
  return sim
}

const wholeLogReplay = (sim: RolloutSim): ReplayRollout[] => {
  const replay = emptyReplay()
  for (const e of sim.log) foldReplay([e], replay)
  return replay.groups.get("g") ?? []
}

const stepHolds = (sim: RolloutSim, r: ReplayRollout, step: Pick<RolloutStep, "kind"> & { readonly host: string }, at: number): boolean => {
  const state = stateAsOf(sim.log, { position: at })
  const onHost = [...(state.deployments.get(step.host as HostName)?.values() ?? [])]
  switch (step.kind) {
    case "DEPLOY_NEW_JOB":
      return onHost.some((d) => d.jobId === r.jobId)
    case "UNDEPLOY_OLD_JOBS":
      return onHost.every((d) => d.deploymentGroup !== "g" || d.jobId === r.jobId)
    case "FORCE_UNDEPLOY_JOBS":
      return onHost.every((d) => d.deploymentGroup !== "g")
    case "AWAIT_RUNNING":
      return state.tasks.get(step.host as HostName)?.get(r.jobId)?.state === "RUNNING"
  }
}

describe("rollout replay", () => {
  it("from a rollout's log range equals the whole log's replay; its steps agree with the state as of their positions", () => {
    const outcomes = new Map<string, number>()
    check(
      fc.property(fc.array(actionArb, { minLength: 5, maxLength: 60, size: "max" }), (actions) => {
        const sim = play(actions)
        const whole = wholeLogReplay(sim)
        for (const r of whole) outcomes.set(r.outcome ?? "IN PROGRESS", (outcomes.get(r.outcome ?? "IN PROGRESS") ?? 0) + 1)
        const summaries = sim.state.groups.get("g")!.rollouts
        expect(whole.map((r) => r.number)).toEqual(summaries.map((s) => s.number))
        for (const r of whole) {
          const summary = summaries[r.number - 1]!
          // 1. The master's replay: the log range of the rollout, numbered from it.
          const until = summary.endedAt ?? sim.state.position
          const range = sim.log.filter((e) => e.position >= summary.startedAt && e.position <= until)
          expect(foldReplay(range, emptyReplay(new Map([["g", r.number]]))).groups.get("g")![0]).toEqual(r)
          // 5. The history agrees.
          const ended = r.outcome === "STOPPED" ? "FAILED" : r.outcome
          if (ended === undefined) expect(["ROLLING_OUT", "AWAITING_PROMOTION"]).toContain(summary.status)
          else expect(summary.status, `rollout ${r.number}`).toBe(ended)
          let previousEnd = r.started.position
          for (const step of r.steps) {
            if (step.started === undefined) continue
            // 4. In order.
            expect(step.started.position).toBeGreaterThanOrEqual(previousEnd)
            if (step.ended === undefined) continue
            expect(step.ended.position).toBeGreaterThanOrEqual(step.started.position)
            previousEnd = step.ended.position
            // 2. The state as of the step's end agrees with a step that succeeded.
            if (step.outcome === "SUCCEEDED") expect(stepHolds(sim, r, step, step.ended.position), `${step.kind} ${step.host} at ${step.ended.position}`).toBe(true)
            // 3. Its transitions are the host's task reports while it ran.
            const reports = sim.log
              .filter((e) => e.position > step.started!.position && e.position <= step.ended!.position)
              .filter((e) => e.envelope.event._tag === "TaskStateChanged" && e.envelope.event.host === step.host)
              .map((e) => e.position)
            expect(step.transitions.map((t) => t.position)).toEqual(reports)
          }
        }
      }),
      { runs: 150, seed: 120_512 },
    )
    // The generated histories reach every ending (a property over rollouts that never end would prove little).
    expect([...outcomes.keys()].sort()).toEqual(["ACTIVE", "FAILED", "IN PROGRESS", "STOPPED", "SUPERSEDED"])
  }, 60_000)
})
