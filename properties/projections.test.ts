import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { hostsOf, jobOf, type StoredEvent } from "../core/events.ts"
import { emptyState, evolve, foldEvents, type FleetState } from "../core/state.ts"
import { historySize, TASK_STATES_KEPT } from "../projections/history.ts"
import { applyToReadModel, emptyReadModel, foldReadModel, stateAsOf, type ReadModel } from "../projections/read-model.ts"
import { decodeSnapshot, encodeSnapshot, encodeSnapshotInSlices, packArrayInSlices, SNAPSHOT_FORMAT } from "../projections/snapshot.ts"
import { pack, unpack } from "msgpackr"
import { generatedLogArb, UNKNOWN_JOB_ID } from "./arbitraries.ts"
import { check } from "./support.ts"

/*
 * Projection laws over realistic logs: random commands run through decide, the accepted ones
 * appended with positions 1..n and the decision's expected streams as `bumped` on each batch's
 * last event (properties/arbitraries.ts, generatedLogArb).
 */

const logArb = generatedLogArb(60)

/** Maps and Sets as arrays of entries in iteration order: equality that also sees ordering. */
const ordered = (x: unknown): unknown => {
  if (x instanceof Map) return ["Map", [...x].map(([k, v]) => [k, ordered(v)])]
  if (x instanceof Set) return ["Set", [...x].map(ordered)]
  if (Array.isArray(x)) return x.map(ordered)
  if (x !== null && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, ordered(v)]))
  return x
}

const snapshotRoundTrip = (m: ReadModel): ReadModel => decodeSnapshot(encodeSnapshot(m))

/** A deep copy that keeps Maps and Sets, to see whether a state was changed behind our back. */
const copy = (s: FleetState): FleetState => structuredClone(s)

describe("projection laws", () => {
  it("incremental fold == batch fold: applying events one by one (evolve, applyToReadModel) or in any delivery chunks gives the state of one foldEvents/foldReadModel, and evolve never changes the state it is given", () => {
    check(
      fc.property(logArb, fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 30 }), ({ events }, chunkSizes) => {
        const batch = foldReadModel(events)
        expect(foldEvents(events)).toEqual(batch.state)

        // evolve, keeping every intermediate state: none of them may change afterwards.
        let state = emptyState()
        const kept: Array<{ state: FleetState; copy: FleetState }> = []
        for (const e of events) {
          kept.push({ state, copy: copy(state) })
          state = evolve(state, e)
        }
        expect(state).toEqual(batch.state)
        for (const k of kept) expect(k.state).toEqual(k.copy)

        // applyToReadModel one by one, and in the chunks a subscriber would be handed.
        const oneByOne = emptyReadModel()
        for (const e of events) applyToReadModel(oneByOne, e)
        expect(oneByOne).toEqual(batch)
        const chunked = emptyReadModel()
        let i = 0
        for (const size of [...chunkSizes, events.length]) {
          foldReadModel(events.slice(i, i + size), chunked)
          i += size
        }
        expect(chunked).toEqual(batch)
      }),
      { runs: 150, seed: 2001 },
    )
  })

  it("snapshot + tail == full replay for every split point: decodeSnapshot(encodeSnapshot(fold(events[0..k]))) folded with events[k..] equals fold(events), history and command ids included; and re-encoding a decoded snapshot gives the same bytes", () => {
    check(
      fc.property(logArb, ({ events }) => {
        const full = foldReadModel(events)
        for (let k = 0; k <= events.length; k++) {
          const prefix = foldReadModel(events.slice(0, k))
          const bytes = encodeSnapshot(prefix)
          const restored = decodeSnapshot(bytes)
          expect(restored, `snapshot at ${k}`).toEqual(prefix)
          expect(Buffer.from(encodeSnapshot(restored)).equals(Buffer.from(bytes)), `re-encoded snapshot at ${k}`).toBe(true)
          const resumed = foldReadModel(events.slice(k), restored)
          expect(resumed, `snapshot at ${k} + tail of ${events.length - k}`).toEqual(full)
        }
      }),
      // Quadratic in the log's length (every split point): a modest count here, more with --runs.
      { runs: 30, seed: 2002 },
    )
  })

  // KNOWN BUG (reported): decodeSnapshot rebuilds jobHosts host by host, so a job's hosts (and the
  // jobs in jobHosts) come back in another order than the replay's deployment order; e.g. the key
  // order of `deployments` in GET /jobs/:id/status depends on whether the master started from a
  // snapshot. Flip to `it` once the snapshot keeps jobHosts' order.
  it("snapshot + tail iterates every map and set (jobs, hosts, deployments, each job's hosts, tasks, versions) in the same order as a full replay, so listings do not depend on how a master started", () => {
    check(
      fc.property(logArb, ({ events }) => {
        const full = ordered(foldReadModel(events))
        for (let k = 0; k <= events.length; k++) {
          const resumed = foldReadModel(events.slice(k), snapshotRoundTrip(foldReadModel(events.slice(0, k))))
          expect(ordered(resumed), `snapshot at ${k} + tail of ${events.length - k}`).toEqual(full)
        }
      }),
      { runs: 60, seed: 2003 },
    )
  })

  it("a snapshot encoded in slices (what a master writes while it serves) is byte for byte encodeSnapshot's, for any slice sizes, and captures the model as of its first step", () => {
    const sizeArb = fc.integer({ min: 1, max: 7 })
    check(
      fc.property(logArb, fc.record({ entries: sizeArb, numbers: sizeArb, strings: sizeArb }), fc.nat(), ({ events }, slices, split) => {
        const k = events.length === 0 ? 0 : split % (events.length + 1)
        const model = foldReadModel(events.slice(0, k))
        const expected = encodeSnapshot(model)
        const steps = encodeSnapshotInSlices(model, slices)
        steps.next() // captures the model
        // The projection goes on applying events meanwhile.
        foldReadModel(events.slice(k), model)
        let r = steps.next()
        while (!r.done) r = steps.next()
        expect(Buffer.from(Buffer.concat(r.value)).equals(Buffer.from(expected))).toBe(true)
      }),
      { runs: 60, seed: 2010 },
    )
    // Array headers at their size limits (fixarray, array16, array32).
    for (const n of [0, 1, 15, 16, 17, 65_535, 65_536, 70_000])
      for (const size of [1_000, 65_536, 100_000]) {
        const items = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? `s${i}` : i % 3 === 1 ? -i * 1000 : { i }))
        expect(Buffer.concat(packArrayInSlices(items, size)).equals(Buffer.from(pack(items))), `${n} items in slices of ${size}`).toBe(true)
      }
  })

  it("stateAsOf({position: p}) == fold of the events with position <= p, for every p from 0 to past the head; stateAsOf({time: t}) == fold of the events with at <= t", () => {
    check(
      fc.property(logArb, ({ events }) => {
        for (let p = 0; p <= events.length + 1; p++)
          expect(stateAsOf(events, { position: p }), `as of position ${p}`).toEqual(foldEvents(events.filter((e) => e.position <= p)))
        const times = [...new Set(events.map((e) => e.envelope.at))]
        for (const t of [0, ...times.flatMap((t) => [t - 1, t]), Number.MAX_SAFE_INTEGER])
          expect(stateAsOf(events, { time: t }), `as of time ${t}`).toEqual(foldEvents(events.filter((e) => e.envelope.at <= t)))
      }),
      { runs: 60, seed: 2004 },
    )
  })

  it("the history index names, for every job, exactly the positions of the events whose jobOf is that job, in log order (also after snapshot + tail); jobs never mentioned have none; and for every task on every host, its last 10 reported states that were not its undeploy's, with their positions", () => {
    const expectedPositions = (events: ReadonlyArray<StoredEvent>, jobId: string) => events.filter((e) => jobOf(e.envelope.event) === jobId).map((e) => e.position)
    const expectedStates = (events: ReadonlyArray<StoredEvent>, jobId: string, host: string) =>
      events
        .flatMap((e) => {
          const ev = e.envelope.event
          return ev._tag === "TaskStateChanged" && ev.jobId === jobId && ev.host === host && ev.goal !== "UNDEPLOY" ? [{ state: ev.state, position: e.position }] : []
        })
        .slice(-TASK_STATES_KEPT)
    check(
      fc.property(logArb, fc.nat(), ({ pool, events }, split) => {
        const model = foldReadModel(events)
        const k = events.length === 0 ? 0 : split % (events.length + 1)
        const resumed = foldReadModel(events.slice(k), snapshotRoundTrip(foldReadModel(events.slice(0, k))))
        const ids = new Set([...pool.map((p) => p.job.id), UNKNOWN_JOB_ID, ...events.flatMap((e) => jobOf(e.envelope.event) ?? [])])
        const hosts = new Set(events.flatMap((e) => hostsOf(e.envelope.event)))
        for (const id of ids) {
          const want = expectedPositions(events, id)
          expect(model.history.positionsOf(id), `history of ${id}`).toEqual(want)
          expect(resumed.history.positionsOf(id), `history of ${id} after a snapshot at ${k}`).toEqual(want)
          for (const host of hosts) {
            const states = expectedStates(events, id, host)
            expect(model.history.taskStatesOf(id, host), `states of ${id} on ${host}`).toEqual(states)
            expect(resumed.history.taskStatesOf(id, host), `states of ${id} on ${host} after a snapshot at ${k}`).toEqual(states)
          }
        }
        // Every event that concerns a job is in exactly one job's history.
        const total = historySize(model.history)
        expect(total).toBe(events.filter((e) => jobOf(e.envelope.event) !== undefined).length)
      }),
      { runs: 150, seed: 2005 },
    )
  })

  it("the command index finds, for every command id of a user's or master's event, the position of the last event carrying it (the batch's last) as its first candidate carrying that id, also after snapshot + tail; agents' ids and unknown ids are never found", () => {
    /** What the command bus does: the first candidate whose event carries the id. */
    const found = (m: ReadModel, events: ReadonlyArray<StoredEvent>, id: string) =>
      m.commands.candidates(id).find((p) => events[p - 1]?.envelope.commandId === id)
    check(
      fc.property(logArb, fc.nat(), ({ events }, split) => {
        const want = new Map<string, number>()
        const agents = new Set<string>()
        for (const e of events) {
          const id = e.envelope.commandId
          if (id === undefined) continue
          if (e.envelope.actor.kind === "agent") agents.add(id)
          else want.set(id, e.position)
        }
        const k = events.length === 0 ? 0 : split % (events.length + 1)
        for (const m of [foldReadModel(events), foldReadModel(events.slice(k), snapshotRoundTrip(foldReadModel(events.slice(0, k))))]) {
          for (const [id, p] of want) expect(found(m, events, id), `command ${id}`).toBe(p)
          for (const id of agents) if (!want.has(id)) expect(found(m, events, id), `agent's id ${id}`).toBeUndefined()
          expect(found(m, events, "never-sent")).toBeUndefined()
          expect(m.commands.size).toBe(events.filter((e) => e.envelope.commandId !== undefined && e.envelope.actor.kind !== "agent").length)
        }
      }),
      { runs: 100, seed: 2006 },
    )
  })

  it("decodeSnapshot refuses a snapshot of any other format (an older one, a newer one, not a snapshot), so the master starts from the log instead", () => {
    const m = foldReadModel([])
    const format2 = pack({ format: 2, position: 0, jobs: [], hosts: [], deployments: [], jobHosts: [], tasks: [], versions: [], history: [], commands: [] })
    expect(() => decodeSnapshot(format2)).toThrow("unknown snapshot format 2")
    // Format 5 held the job events themselves; this build keeps their positions only.
    const format5 = pack({ ...(unpack(encodeSnapshot(m)) as object), format: 5 })
    expect(() => decodeSnapshot(format5)).toThrow("unknown snapshot format 5")
    const newer = pack({ ...(unpack(encodeSnapshot(m)) as object), format: SNAPSHOT_FORMAT + 1 })
    expect(() => decodeSnapshot(newer)).toThrow(`unknown snapshot format ${SNAPSHOT_FORMAT + 1}`)
    expect(() => decodeSnapshot(pack([1, 2, 3]))).toThrow("unknown snapshot format")
  })
})
