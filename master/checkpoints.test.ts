/**
 * The master's checkpoints for temporal queries (master/checkpoints.ts), on a real (SQLite) log
 * and real files: `/state?at=` answers as a full replay does, folding at most one checkpoint
 * interval; checkpoints in a state dir survive a restart; those of another log are dropped; they
 * stay within their budget. (properties/checkpoints.test.ts checks the pure part on generated logs.)
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it, vi } from "vitest"
import { generateWorkload } from "../bench/workload.ts"
import type { EventLog } from "../core/event-log.ts"
import type { StoredEvent } from "../core/events.ts"
import { position, type HostName } from "../core/ids.ts"
import type { FleetState } from "../core/state.ts"
import type { AsOf } from "../projections/checkpoints.ts"
import { stateAsOf } from "../projections/read-model.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { startMaster, type MasterOptions, type RunningMaster } from "./master.ts"
import { hostStatusJson, jobStatusJson } from "./responses.ts"

const dir = mkdtempSync(join(tmpdir(), "helios-checkpoints-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Maps and Sets as arrays of entries in iteration order: equality that also sees ordering. */
const ordered = (x: unknown): unknown => {
  if (x instanceof Map) return ["Map", [...x].map(([k, v]) => [k, ordered(v)])]
  if (x instanceof Set) return ["Set", [...x].map(ordered)]
  if (Array.isArray(x)) return x.map(ordered)
  if (x !== null && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, ordered(v)]))
  return x
}

/** A valid fleet history (bench/workload.ts) whose writers' clocks disagree: times go back now and then. */
const history = (n: number, seed: number) => {
  const w = generateWorkload(n, { hosts: 6, deploymentsPerHost: 2, seed })
  const jitter = [0, 400, -300, 120, -90, 0, 700]
  const events = w.events.map((e, i) => ({ ...e, envelope: { ...e.envelope, at: e.envelope.at + jitter[i % jitter.length]! } }))
  return { events, batches: w.batches }
}

/** Appends the history's batches (their events only: streams are not checked here). */
const appendAll = async (log: EventLog, h: ReturnType<typeof history>, from = 0, to = h.events.length) => {
  for (const [first, count] of h.batches) {
    if (first - 1 < from || first - 1 >= to) continue
    await log.append(h.events.slice(first - 1, first - 1 + count).map((e) => e.envelope))
  }
}

const allEvents = async (log: EventLog): Promise<StoredEvent[]> => [...(await log.read(position(0), 1_000_000))]

/** What /state answers for a state. */
const stateJson = (s: FleetState) => ({
  position: s.position,
  jobs: Object.fromEntries([...s.jobs.keys()].map((id) => [id, jobStatusJson(s, id)])),
  hosts: Object.fromEntries([...s.hosts.keys()].map((h) => [h, hostStatusJson(s, h as HostName, undefined)])),
})

const boundsOf = (events: ReadonlyArray<StoredEvent>): AsOf[] => {
  const times = [...new Set(events.map((e) => e.envelope.at))].filter((_, i) => i % 3 === 0)
  return [
    ...Array.from({ length: events.length + 2 }, (_, p) => ({ position: p })),
    ...[0, ...times.flatMap((t) => [t - 1, t]), Number.MAX_SAFE_INTEGER].map((time) => ({ time })),
  ]
}

const start = (log: EventLog, options: Partial<MasterOptions> = {}) =>
  startMaster({ log, name: "cp", port: 0, bindAddress: "127.0.0.1", housekeepingIntervalMs: 60_000, ...options })

/** Every answer of the checkpoints equals a full replay, and folds at most `every` events. */
const expectSameAsReplay = async (m: RunningMaster, log: EventLog, every: number) => {
  const events = await allEvents(log)
  for (const at of boundsOf(events)) {
    let folded = -1
    const state = await m.checkpoints.stateAsOf(at, (s) => (folded = s.folded))
    expect(ordered(state), `as of ${JSON.stringify(at)}`).toEqual(ordered(stateAsOf(events, at)))
    expect(folded, `events folded as of ${JSON.stringify(at)}`).toBeLessThanOrEqual(every)
  }
}

describe("master checkpoints", () => {
  it("GET /state?at= answers as a full replay at every position and at times around the events (clocks out of order), each query folding at most one interval", async () => {
    const log = new SqliteEventLog(":memory:")
    const m = await start(log, { checkpointEvery: 7 })
    try {
      const h = history(300, 1)
      await appendAll(log, h)
      expect(await m.projection.catchUp(10_000)).toBe(true)
      await m.checkpoints.ready()
      expect(m.checkpoints.stats()).toMatchObject({ count: 42, every: 7, persistent: false })
      await expectSameAsReplay(m, log, 7)
      const events = await allEvents(log)
      for (const at of ["0", "1", "7", "8", "150", "299", "300", "301", "99999", new Date(events[120]!.envelope.at).toISOString(), "2000-01-01T00:00:00Z"]) {
        const res = await fetch(`${m.url}/state?at=${encodeURIComponent(at)}`)
        expect(res.status).toBe(200)
        const bound = /^\d+$/.test(at) ? { position: Number(at) } : { time: Date.parse(at) }
        expect(await res.json(), `/state?at=${at}`).toEqual(JSON.parse(JSON.stringify(stateJson(stateAsOf(events, bound)))))
      }
      const bad = await fetch(`${m.url}/state?at=${"9".repeat(30)}`)
      expect(bad.status).toBe(400)
    } finally {
      await m.stop()
      await log.close()
    }
  })

  it("checkpoints in a state dir survive a restart; the restarted master builds those it missed up to its snapshot (after an upgrade: all of them) in the background", async () => {
    const file = join(dir, "events.db")
    const checkpointDir = join(dir, "restart", "checkpoints")
    const snapshotFile = join(dir, "restart", "snapshot.bin")
    const h = history(400, 2)
    const log = new SqliteEventLog(file)
    try {
      const first = await start(log, { checkpointDir, snapshotFile, checkpointEvery: 20 })
      await appendAll(log, h, 0, 200)
      expect(await first.projection.catchUp(10_000)).toBe(true)
      await first.stop() // writes the snapshot at ~200 and the checkpoints under way
      const written = readdirSync(checkpointDir).filter((f) => f.endsWith(".checkpoint"))
      expect(written.length).toBe(10)
      // Events appended while no master ran.
      await appendAll(log, h, 200, 400)

      const second = await start(log, { checkpointDir, snapshotFile, checkpointEvery: 20 })
      expect(second.projection.position).toBe(400)
      expect(second.checkpoints.stats().persistent).toBe(true)
      // The earlier ones are there at once, from the files.
      let folded = -1
      await second.checkpoints.stateAsOf({ position: 45 }, (s) => (folded = s.folded))
      expect(folded).toBe(5)
      await second.checkpoints.ready()
      expect(second.checkpoints.stats().count).toBe(20)
      await expectSameAsReplay(second, log, 20)
      await second.stop()

      // An upgrade from a build without checkpoints: a snapshot, no checkpoint files.
      rmSync(checkpointDir, { recursive: true })
      const third = await start(log, { checkpointDir, snapshotFile, checkpointEvery: 20 })
      await third.checkpoints.ready()
      expect(third.checkpoints.stats().count).toBe(20)
      expect(readdirSync(checkpointDir).filter((f) => f.endsWith(".checkpoint")).length).toBe(20)
      await expectSameAsReplay(third, log, 20)
      await third.stop()
    } finally {
      await log.close()
    }
  })

  it("checkpoints of another log (a reset store, here a longer one) are replaced or dropped, with a line on stderr: answers are still the replay of this log", async () => {
    const checkpointDir = join(dir, "other", "checkpoints")
    const errors = vi.spyOn(console, "error").mockImplementation(() => {})
    const logA = new SqliteEventLog(":memory:")
    const logB = new SqliteEventLog(":memory:")
    try {
      const a = await start(logA, { checkpointDir, checkpointEvery: 10 })
      await appendAll(logA, history(100, 3))
      expect(await a.projection.catchUp(10_000)).toBe(true)
      await a.stop()
      expect(existsSync(join(checkpointDir))).toBe(true)
      await appendAll(logB, history(50, 4))
      const b = await start(logB, { checkpointDir, checkpointEvery: 10 })
      await b.checkpoints.ready()
      await expectSameAsReplay(b, logB, 10)
      expect(errors.mock.calls.some((args) => String(args[0]).includes("does not match the event log"))).toBe(true)
      await b.stop()
    } finally {
      errors.mockRestore()
      await logA.close()
      await logB.close()
    }
  })

  it("kept within their budget: past it the spacing doubles and every other one is dropped, the answers still a full replay", async () => {
    const log = new SqliteEventLog(":memory:")
    // Three checkpoints of this small fleet's state fit (~50 entries of 40 bytes each).
    const m = await start(log, { checkpointEvery: 5, checkpointBudgetBytes: 3 * 60 * 40 })
    try {
      await appendAll(log, history(200, 5))
      expect(await m.projection.catchUp(10_000)).toBe(true)
      await m.checkpoints.ready()
      const { count, every } = m.checkpoints.stats()
      expect(every).toBeGreaterThan(5)
      expect(count).toBeLessThan(200 / 5)
      expect(m.checkpoints.marks().every((c, i, all) => c.position % every === 0 || i === all.length - 1)).toBe(true)
      await expectSameAsReplay(m, log, every)
    } finally {
      await m.stop()
      await log.close()
    }
  })
})
