import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { DEFAULT_ROLLOUT_OPTIONS } from "../core/deployment-group.ts"
import { envelopeOf } from "../core/envelope.ts"
import type { DomainEvent, StoredEvent } from "../core/events.ts"
import type { HostName, Position } from "../core/ids.ts"
import type { JobId } from "../core/job.ts"
import { emptyState, evolve, foldEvents } from "../core/state.ts"
import { decodeSnapshot, encodeSnapshot } from "../projections/snapshot.ts"
import { foldReadModel } from "../projections/read-model.ts"
import { check } from "./support.ts"

/*
 * The fold of deployment-group and rollout events, in any order (including ones no decision would
 * write: steps out of turn, events of unknown groups): the state stays consistent.
 */

const GROUPS = ["g1", "g2"]
const JOB = `web:v1:${"a".repeat(40)}` as JobId
const H = "h1" as HostName

const eventArb: fc.Arbitrary<DomainEvent> = fc.oneof(
  fc.constantFrom(...GROUPS).map((name): DomainEvent => ({ _tag: "DeploymentGroupCreated", group: { name, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })),
  fc.constantFrom(...GROUPS).map((group): DomainEvent => ({ _tag: "DeploymentGroupRemoved", group })),
  fc.tuple(fc.constantFrom(...GROUPS), fc.integer({ min: 0, max: 3 })).map(
    ([group, n]): DomainEvent => ({
      _tag: "RolloutStarted",
      group,
      jobId: JOB,
      reason: "MANUAL",
      options: DEFAULT_ROLLOUT_OPTIONS,
      hosts: [H],
      steps: Array.from({ length: n }, () => ({ host: H, kind: "AWAIT_RUNNING" as const })),
    }),
  ),
  fc.tuple(fc.constantFrom(...GROUPS), fc.integer({ min: 0, max: 3 }), fc.constantFrom("RolloutStepStarted" as const, "RolloutStepSucceeded" as const)).map(
    ([group, step, _tag]): DomainEvent => ({ _tag, group, jobId: JOB, step, host: H, kind: "AWAIT_RUNNING" }),
  ),
  fc.tuple(fc.constantFrom(...GROUPS), fc.integer({ min: 0, max: 3 })).map(
    ([group, step]): DomainEvent => ({ _tag: "RolloutStepFailed", group, jobId: JOB, step, host: H, kind: "AWAIT_RUNNING", error: "IMAGE_MISSING", message: "no image" }),
  ),
  fc.tuple(fc.constantFrom(...GROUPS), fc.constantFrom("ACTIVE" as const, "FAILED" as const)).map(([group, status]): DomainEvent => ({ _tag: "RolloutFinished", group, jobId: JOB, status })),
  fc.constantFrom(...GROUPS).map((group): DomainEvent => ({ _tag: "RolloutStopped", group, jobId: JOB })),
)

const stored = (events: ReadonlyArray<DomainEvent>): StoredEvent[] =>
  events.map((event, i) => ({ position: (i + 1) as Position, envelope: envelopeOf(event, { at: 1000 * (i + 1), actor: { kind: "master", name: "m" } }), bumped: [] }))

describe("deployment-group fold", () => {
  it("keeps the state consistent: a group exists iff its last create/remove was a create; a rollout's next step never passes its plan; a finished or stopped rollout takes no more steps; evolve, fold and snapshot agree", () => {
    check(
      fc.property(fc.array(eventArb, { maxLength: 40 }), (events) => {
        const log = stored(events)
        const state = foldEvents(log)
        for (const name of GROUPS) {
          const last = events.filter((e) => (e._tag === "DeploymentGroupCreated" ? e.group.name : e._tag === "DeploymentGroupRemoved" ? e.group : undefined) === name).at(-1)
          expect(state.groups.has(name), name).toBe(last?._tag === "DeploymentGroupCreated")
          const r = state.groups.get(name)?.rollout
          if (r === undefined) continue
          expect(r.nextStep).toBeLessThanOrEqual(r.steps.length)
          expect(r.failures.length).toBeLessThanOrEqual(r.nextStep)
        }
        let s = emptyState()
        for (const e of log) s = evolve(s, e)
        expect(s).toEqual(state)
        expect(decodeSnapshot(encodeSnapshot(foldReadModel(log))).state).toEqual(state)
      }),
      { runs: 300, seed: 1201 },
    )
  })
})
