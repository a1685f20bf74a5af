/**
 * Checkpoints for temporal queries (projections/checkpoints.ts, projections/checkpoint-codec.ts):
 *
 * 1. checkpoint + tail == full replay: for generated logs (random commands through decide, with
 *    the writers' clocks jittered so times are not monotonic along the log), checkpoints every
 *    `every` events, and every position from 0 to past the head and every time around the log's
 *    times, the nearest checkpoint (planAsOf) plus its tail (foldTail) equals stateAsOf over the
 *    whole log; and the tail is never longer than `every` events.
 * 2. The same after thinning (checkpoints dropped to fit a budget): the tail is at most the new
 *    spacing, and the newest checkpoint survives, as does a pinned one.
 * 3. A checkpoint encoded and decoded in slices of any size is the state it was, in iteration order.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { StoredEvent } from "../core/events.ts"
import { applyEvent, cloneState, emptyState, type FleetState } from "../core/state.ts"
import { decodeCheckpoint, encodeCheckpoint, runToEnd } from "../projections/checkpoint-codec.ts"
import { checkpointDue, foldTail, laterOf, planAsOf, thinned, type AsOf, type CheckpointMark } from "../projections/checkpoints.ts"
import { stateAsOf } from "../projections/read-model.ts"
import { aJob } from "../test/fixtures.ts"
import { RolloutSim } from "../test/rollout-sim.ts"
import { generatedLogArb } from "./arbitraries.ts"
import { check } from "./support.ts"

/** Maps and Sets as arrays of entries in iteration order: equality that also sees ordering. */
const ordered = (x: unknown): unknown => {
  if (x instanceof Map) return ["Map", [...x].map(([k, v]) => [k, ordered(v)])]
  if (x instanceof Set) return ["Set", [...x].map(ordered)]
  if (Array.isArray(x)) return x.map(ordered)
  if (x !== null && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, ordered(v)]))
  return x
}

/** The log with each event's time moved by a jitter (writers' clocks disagree): times no longer follow the log's order. */
const jittered = (events: ReadonlyArray<StoredEvent>, jitter: ReadonlyArray<number>): StoredEvent[] =>
  events.map((e, i) => ({ ...e, envelope: { ...e.envelope, at: e.envelope.at + (jitter.length === 0 ? 0 : jitter[i % jitter.length]!) } }))

interface Kept {
  readonly marks: CheckpointMark[]
  readonly states: Map<number, FleetState>
}

/** What the master does as it folds: a copy of the state every `every` events, with the latest time so far. */
const checkpointsOf = (events: ReadonlyArray<StoredEvent>, every: number): Kept => {
  const state = emptyState()
  const marks: CheckpointMark[] = []
  const states = new Map<number, FleetState>()
  let maxAt = Number.NEGATIVE_INFINITY
  for (const e of events) {
    applyEvent(state, e)
    maxAt = laterOf(maxAt, e)
    if (checkpointDue(e.position, every)) {
      marks.push({ position: e.position, maxAt })
      states.set(e.position, cloneState(state))
    }
  }
  return { marks, states }
}

/** A query as the master answers it: the planned checkpoint (copied) plus the tail it reads. */
const fromCheckpoint = (events: ReadonlyArray<StoredEvent>, kept: Kept, at: AsOf): { state: FleetState; read: number } => {
  const plan = planAsOf(kept.marks, at)
  const start = plan.from === undefined ? emptyState() : cloneState(kept.states.get(plan.from.position)!)
  const from = plan.from?.position ?? 0
  const tail = events.filter((e) => e.position > from && (plan.through === undefined || e.position <= plan.through))
  foldTail(start, tail, at)
  return { state: start, read: tail.length }
}

/** Every position from 0 to past the head, and every time around the log's times. */
const boundsOf = (events: ReadonlyArray<StoredEvent>): AsOf[] => {
  const times = [...new Set(events.map((e) => e.envelope.at))]
  return [
    ...Array.from({ length: events.length + 2 }, (_, p) => ({ position: p })),
    ...[0, ...times.flatMap((t) => [t - 1, t, t + 1]), Number.MAX_SAFE_INTEGER].map((time) => ({ time })),
  ]
}

const sameAsReplay = (events: ReadonlyArray<StoredEvent>, kept: Kept, tailBound: number) => {
  for (const at of boundsOf(events)) {
    const { state, read } = fromCheckpoint(events, kept, at)
    expect(ordered(state), `as of ${JSON.stringify(at)}`).toEqual(ordered(stateAsOf(events, at)))
    expect(read, `tail read as of ${JSON.stringify(at)}`).toBeLessThanOrEqual(tailBound)
  }
}

const jitterArb = fc.array(fc.integer({ min: -2_000, max: 2_000 }), { maxLength: 7 })

describe("checkpoints", () => {
  it("checkpoint + tail == full replay (stateAsOf) at every position and time of generated logs with jittered clocks; the tail is at most `every` events", () => {
    check(
      fc.property(generatedLogArb(60), jitterArb, fc.integer({ min: 1, max: 9 }), ({ events }, jitter, every) => {
        const log = jittered(events, jitter)
        sameAsReplay(log, checkpointsOf(log, every), every)
      }),
      { runs: 80, seed: 3101 },
    )
  })

  it("the same for rollouts (deployment groups in the state): logs of the rollout simulation, jittered", () => {
    check(
      fc.property(fc.array(fc.constantFrom("update", "advance", "advance", "heal", "time", "stop"), { maxLength: 25 }), jitterArb, fc.integer({ min: 1, max: 6 }), (actions, jitter, every) => {
        const sim = new RolloutSim()
        for (const h of ["r1", "r2", "r3"]) sim.addHost(h, { role: "web" })
        const jobs = [1, 2].map((v) => sim.createJob(aJob({ id: `cp:v${v}` })))
        sim.ok({ _tag: "CreateDeploymentGroup", group: { name: "g", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
        let n = 0
        for (const a of actions) {
          if (a === "update") sim.exec({ _tag: "StartRollout", group: "g", jobId: jobs[n++ % 2]!, options: { parallelism: 2, timeout: 10 }, labels: sim.hostLabels })
          else if (a === "advance") sim.advance("g")
          else if (a === "heal") sim.runEverything()
          else if (a === "time") sim.now += 5_000
          else sim.exec({ _tag: "StopRollout", group: "g" })
        }
        const log = jittered(sim.log, jitter)
        sameAsReplay(log, checkpointsOf(log, every), every)
      }),
      { runs: 40, seed: 3102 },
    )
  })

  it("after thinning to a budget, checkpoint + tail is still the full replay, the tail at most the new spacing, and the newest checkpoint is kept", () => {
    check(
      fc.property(generatedLogArb(60), jitterArb, fc.integer({ min: 1, max: 4 }), fc.nat({ max: 12 }), ({ events }, jitter, every, budget) => {
        const log = jittered(events, jitter)
        const all = checkpointsOf(log, every)
        const { every: spacing, drop } = thinned(all.marks, () => 1, every, budget)
        const gone = new Set(drop)
        const kept: Kept = { marks: all.marks.filter((m) => !gone.has(m.position)), states: all.states }
        if (all.marks.length > 0) expect(kept.marks.at(-1)).toEqual(all.marks.at(-1))
        if (all.marks.length > 1) expect(kept.marks.length).toBeLessThanOrEqual(Math.max(budget, 1) + 1)
        expect(kept.marks.every((m) => m.position % spacing === 0 || m === all.marks.at(-1))).toBe(true)
        sameAsReplay(log, kept, spacing + every)
      }),
      { runs: 60, seed: 3103 },
    )
  })

  it("thinning never drops the pinned checkpoint (a master's start, where nothing earlier folds up to it) and the others still end within the budget", () => {
    check(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 40 }), fc.nat(), fc.integer({ min: 1, max: 8 }), fc.nat({ max: 12 }), (positions, pick, every, budget) => {
        const marks = [...positions].sort((a, b) => a - b).map((position) => ({ position, maxAt: position }))
        const pinned = marks[pick % marks.length]!.position
        const { every: spacing, drop } = thinned(marks, () => 1, every, budget, pinned)
        const kept = marks.filter((m) => !drop.includes(m.position))
        expect(kept.map((m) => m.position)).toContain(pinned)
        expect(kept.at(-1)).toEqual(marks.at(-1))
        const others = kept.filter((m) => m.position !== pinned && m !== marks.at(-1))
        expect(others.every((m) => m.position % spacing === 0)).toBe(true)
        expect(kept.length <= budget || others.length === 0).toBe(true)
      }),
      { runs: 200, seed: 3105 },
    )
  })

  it("a checkpoint encoded and decoded in slices of any size is the state it was, maps in the same order", () => {
    check(
      fc.property(generatedLogArb(60), fc.integer({ min: 1, max: 50 }), ({ events }, slice) => {
        const state = emptyState()
        for (const e of events) applyEvent(state, e)
        const record = { position: state.position, maxAt: 1234, fingerprint: "f", state }
        const decoded = runToEnd(decodeCheckpoint(runToEnd(encodeCheckpoint(record, slice))))
        expect(ordered(decoded)).toEqual(ordered(record))
      }),
      { runs: 60, seed: 3104 },
    )
  })
})
