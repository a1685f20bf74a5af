/**
 * The master's checkpoints for temporal queries (master/checkpoints.ts), on a real (SQLite) log
 * and real files: `/state?at=` answers as a full replay does, folding at most one checkpoint
 * interval; checkpoints in a state dir survive a restart; those of another log are dropped; they
 * stay within their budget. (properties/checkpoints.test.ts checks the pure part on generated logs.)
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it, vi } from "vitest"
import Database from "better-sqlite3"
import { generateWorkload } from "../bench/workload.ts"
import { encodeEvent } from "../core/codec.ts"
import { EventsArchived, type EventLog } from "../core/event-log.ts"
import { hostStream, type StoredEvent, type StreamId } from "../core/events.ts"
import { position, type HostName, type Position } from "../core/ids.ts"
import { applyEvent, emptyState, type FleetState } from "../core/state.ts"
import { encodeCheckpoint, runToEnd } from "../projections/checkpoint-codec.ts"
import { isPast, passOver, type AsOf } from "../projections/checkpoints.ts"
import { foldReadModel, stateAsOf } from "../projections/read-model.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { Checkpoints, fingerprintOf, stateEntries } from "./checkpoints.ts"
import { startMaster, type MasterOptions, type RunningMaster } from "./master.ts"
import { hostStatusJson, jobStatusJson } from "./responses.ts"
import { saveSnapshot } from "./snapshots.ts"
import { flipBitIn } from "../test/disk-damage.ts"

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

/** The file of the checkpoint at `p` in `checkpointDir` (`<position>-<maxAt>.checkpoint`). */
const checkpointFile = (checkpointDir: string, p: number): string => {
  const name = readdirSync(checkpointDir).find((f) => f.startsWith(`${p}-`) && f.endsWith(".checkpoint"))
  expect(name, `the checkpoint file at ${p}`).toBeDefined()
  return join(checkpointDir, name!)
}

/**
 * A master restarted on `checkpointDir` (its snapshot ahead of position p) answers as of p from
 * the checkpoint at `from` (the one after it damaged on disk, said on stderr), as a full replay.
 */
const expectDamagedPassedOver = async (log: EventLog, options: Partial<MasterOptions>, damaged: string, p: number, from: number) => {
  const errors = vi.spyOn(console, "error").mockImplementation(() => {})
  const m = await start(log, options)
  try {
    const events = await allEvents(log)
    let started = -1
    const state = await m.checkpoints.stateAsOf({ position: p }, (s) => (started = s.from))
    expect(ordered(state)).toEqual(ordered(stateAsOf(events, { position: p })))
    expect(started).toBe(from)
    const res = await fetch(`${m.url}/state?at=${p}`)
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(stateJson(stateAsOf(events, { position: p })))))
    expect(errors.mock.calls.map((args) => String(args[0]))).toContain(
      `helios-master: ignoring the checkpoint ${damaged}: its SHA-256 digest does not match its bytes (damaged on disk)`,
    )
  } finally {
    await m.stop()
    errors.mockRestore()
  }
}

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
      // Past the log's end there is no state as of it yet (not the head's): 404.
      for (const at of ["301", "99999"]) expect((await fetch(`${m.url}/state?at=${at}`)).status, `/state?at=${at}`).toBe(404)
      for (const at of ["0", "1", "7", "8", "150", "299", "300", new Date(events[120]!.envelope.at).toISOString(), "2000-01-01T00:00:00Z"]) {
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

  it("a checkpoint file damaged on disk (one bit flipped) is dropped with a line on stderr naming it: /state?at= answers from an earlier one, as a full replay", async () => {
    const checkpointDir = join(dir, "flipped", "checkpoints")
    const options = { checkpointDir, snapshotFile: join(dir, "flipped", "snapshot.bin"), checkpointEvery: 20 }
    const log = new SqliteEventLog(join(dir, "flipped.db"))
    try {
      const first = await start(log, options)
      await appendAll(log, history(200, 9))
      expect(await first.projection.catchUp(10_000)).toBe(true)
      await first.stop() // writes the snapshot at 200 and the checkpoints under way
      // A host's name changed in the checkpoint's fleet state: still a well-formed checkpoint.
      const damaged = checkpointFile(checkpointDir, 40)
      flipBitIn(damaged, "example.com")
      await expectDamagedPassedOver(log, options, damaged, 45, 20)
    } finally {
      await log.close()
    }
  })

  it("checkpoint files written before they carried a digest are still used after an upgrade; those written since carry one", async () => {
    const checkpointDir = join(dir, "undigested", "checkpoints")
    const options = { checkpointDir, snapshotFile: join(dir, "undigested", "snapshot.bin"), checkpointEvery: 20 }
    const h = history(200, 10)
    const log = new SqliteEventLog(join(dir, "undigested.db"))
    const errors = vi.spyOn(console, "error").mockImplementation(() => {})
    try {
      await appendAll(log, h, 0, 100)
      const events = await allEvents(log)
      // The state dir of the build before: checkpoint files in the previous format (the codec's
      // bytes alone), and a snapshot at 100.
      mkdirSync(checkpointDir, { recursive: true })
      let maxAt = Number.NEGATIVE_INFINITY
      for (const e of events) {
        maxAt = Math.max(maxAt, e.envelope.at)
        if (e.position % 20 !== 0) continue
        const record = { position: e.position, maxAt, fingerprint: fingerprintOf(e.envelope), state: stateAsOf(events, { position: e.position }) }
        writeFileSync(join(checkpointDir, `${e.position}-${maxAt}.checkpoint`), runToEnd(encodeCheckpoint(record)))
      }
      await saveSnapshot(options.snapshotFile, log, foldReadModel(events))

      const m = await start(log, options)
      expect(m.projection.position).toBe(100)
      let stats = { from: -1, folded: -1 }
      const state = await m.checkpoints.stateAsOf({ position: 45 }, (s) => (stats = s))
      expect(ordered(state)).toEqual(ordered(stateAsOf(events, { position: 45 })))
      expect(stats).toEqual({ from: 40, folded: 5 })
      await m.checkpoints.ready()
      expect(m.checkpoints.stats().count).toBe(5)
      // The master goes on, writing checkpoints of its own.
      await appendAll(log, h, 100, 200)
      expect(await m.projection.catchUp(10_000)).toBe(true)
      await m.stop()
      expect(errors).not.toHaveBeenCalled()
      errors.mockRestore()

      // Those carry a digest: damage on disk is noticed.
      const damaged = checkpointFile(checkpointDir, 140)
      flipBitIn(damaged, "example.com")
      await expectDamagedPassedOver(log, options, damaged, 145, 120)
    } finally {
      errors.mockRestore()
      await log.close()
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

/** The log with positions 1..through archived, as a master without --archive-dir reads it. */
const archivedThrough = (log: EventLog, through: number): EventLog =>
  new Proxy(log, {
    get(target, key) {
      if (key === "read")
        return async (after: Position, limit?: number) => {
          if (after < through) throw new EventsArchived({ through, message: `positions 1..${through} were archived` })
          return target.read(after, limit)
        }
      const value = Reflect.get(target, key) as unknown
      return typeof value === "function" ? value.bind(target) : value
    },
  })

/** An undecodable event the masters were told to skip (or not): what the log says of it. */
interface Skipped {
  readonly position: number
  readonly through: number
  readonly bumped: ReadonlyArray<StreamId>
}

/**
 * The state as of `at` by a fold of the whole log as the projection folds it: an undecodable event
 * it skips is stepped over once reached (stateAsOf's rule otherwise).
 */
const replayAsOf = (events: ReadonlyArray<StoredEvent>, at: AsOf, skipped?: Skipped): FleetState => {
  const s = emptyState()
  const reach = () => {
    if (skipped && s.position < skipped.through && ("time" in at || skipped.through <= at.position)) passOver(s, skipped)
  }
  for (const e of events) {
    if (skipped && e.position > skipped.through) reach()
    if (isPast(e, at)) return s
    applyEvent(s, e)
  }
  reach()
  return s
}

/**
 * Checkpoints as a master that starts at `start` from a snapshot (the replay up to there) builds
 * them: opened with the snapshot's state, told of every later event as the projection applies it,
 * then the background fold up to `start`.
 */
const startedAt = async (cp: Checkpoints, events: ReadonlyArray<StoredEvent>, start: number, skipped?: Skipped, beforeFold = async () => {}) => {
  const s = replayAsOf(events, { position: start }, skipped)
  await cp.open(start, s)
  for (const e of events) {
    if (e.position <= start) continue
    if (skipped && e.position > skipped.through && s.position < skipped.through) passOver(s, skipped)
    applyEvent(s, e)
    cp.applied(s, e)
  }
  await beforeFold()
  cp.startBackfill()
  await cp.ready()
}

/** What a query answers: the state, or the tag of the error it rejects with. */
const answer = (cp: Checkpoints, at: AsOf): Promise<unknown> =>
  cp.stateAsOf(at).then(ordered, (error: unknown) => (error as { _tag?: string })._tag ?? error)

describe("checkpoints of a master whose start the log before cannot be folded up to", () => {
  for (const where of ["in memory", "in a state dir"])
    it(`history archived (no --archive-dir), checkpoints ${where}: answers from the start position on, at once and after the background fold, as a full replay does (archived events counted older); before it 410`, async () => {
      const errors = vi.spyOn(console, "error").mockImplementation(() => {})
      const log = new SqliteEventLog(":memory:")
      try {
        const h = history(600, 6)
        const [A, S, every] = [200, 337, 50]
        // A writer's clock far ahead between the archive's end and the start: the start's latest
        // event time must count it, though the fold cannot reach it.
        const late = h.events[A + 10 - 1]!
        h.events[A + 10 - 1] = { ...late, envelope: { ...late.envelope, at: h.events[S + 60 - 1]!.envelope.at } }
        await appendAll(log, h)
        const events = await allEvents(log)
        const cp = new Checkpoints({ log: archivedThrough(log, A), every, ...(where === "in a state dir" ? { dir: join(dir, "archived", "checkpoints") } : {}) })
        // At once, as of a position: the start's own checkpoint (the snapshot's state).
        await startedAt(cp, events, S, undefined, async () => {
          for (let p = S; p <= S + every; p++) expect(await answer(cp, { position: p }), `as of ${p}, before the fold`).toEqual(ordered(stateAsOf(events, { position: p })))
        })
        // Archived events count as older than the rest: where a query as of a time ends.
        const older = events.map((e) => (e.position <= A ? { ...e, envelope: { ...e.envelope, at: Number.NEGATIVE_INFINITY } } : e))
        for (const at of boundsOf(events)) {
          const want = stateAsOf(events, { position: stateAsOf(older, at).position })
          let folded = -1
          const got = await cp.stateAsOf(at, (s) => (folded = s.folded)).then(ordered, (error: unknown) => (error as { _tag?: string })._tag)
          if (want.position > 0 && want.position < S) expect(got, `as of ${JSON.stringify(at)}`).toBe("EventsArchived")
          else {
            expect(got, `as of ${JSON.stringify(at)}`).toEqual(ordered(want))
            expect(folded, `events folded as of ${JSON.stringify(at)}`).toBeLessThanOrEqual(every)
          }
        }
        expect(cp.stats().pending).toBe(0)
        expect(errors.mock.calls.some((args) => String(args[0]).includes(`queries as of positions 1..${S - 1} cannot be answered`))).toBe(true)
        await cp.close()
      } finally {
        errors.mockRestore()
        await log.close()
      }
    })

  it("while the background fold has not reached the start, the checkpoints taken meanwhile stay within the memory budget", async () => {
    const log = new SqliteEventLog(":memory:")
    try {
      await appendAll(log, history(400, 7))
      const events = await allEvents(log)
      const S = 100
      const full = replayAsOf(events, { position: events.length })
      // About four copies of the final state.
      const cp = new Checkpoints({ log, every: 1, budgetBytes: 4 * stateEntries(full) * 40 })
      const s = replayAsOf(events, { position: S })
      await cp.open(S, s)
      for (const e of events.slice(S)) {
        applyEvent(s, e)
        cp.applied(s, e)
      }
      expect(cp.stats().pending).toBeLessThanOrEqual(10)
      expect(cp.stats().every).toBeGreaterThan(1)
      cp.startBackfill()
      await cp.ready()
      for (const at of boundsOf(events)) expect(await answer(cp, at), `as of ${JSON.stringify(at)}`).toEqual(ordered(stateAsOf(events, at)))
    } finally {
      await log.close()
    }
  })
})

describe("checkpoints over a log holding an undecodable event", () => {
  /** A log of `n` events with, after the first `bad - 1`, a row this build cannot decode (a newer schema version) that bumped a host's stream. */
  const withUndecodable = async (file: string, n: number, bad: number) => {
    const h = history(n, 8)
    const log = new SqliteEventLog(file)
    await appendAll(log, h, 0, bad - 1)
    const first = await allEvents(log)
    const skipped: Skipped = { position: first.length + 1, through: first.length + 1, bumped: [hostStream("h-new")] }
    const raw = new Database(file)
    raw
      .prepare("INSERT INTO events (position, bumped, event) VALUES (?, ?, ?)")
      .run(skipped.position, JSON.stringify(skipped.bumped), Buffer.from(encodeEvent({ ...h.events[0]!.envelope, schemaVersion: 99 })))
    raw.close()
    await appendAll(log, h, bad - 1)
    const events = [...first, ...(await log.read(position(skipped.through), 1_000_000))]
    return { log, events, skipped }
  }

  /**
   * Checkpoints (every 40) over withUndecodable's log of 500 events with the 180th undecodable,
   * told to skip it or not, checked by `check`; then the background fold has ended: nothing left
   * waiting, and it never said it was trying again.
   */
  const overUndecodable = async (
    file: string,
    skip: boolean,
    check: (cp: Checkpoints, events: ReadonlyArray<StoredEvent>, skipped: Skipped) => Promise<void>,
  ) => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {})
    const { log, events, skipped } = await withUndecodable(join(dir, file), 500, 180)
    try {
      const cp = new Checkpoints({ log, every: 40, ...(skip ? { skipUndecodable: [skipped.position] } : {}) })
      await check(cp, events, skipped)
      expect(cp.stats().pending).toBe(0)
      expect(errors.mock.calls.filter((args) => String(args[0]).includes("trying again"))).toEqual([])
      await cp.close()
    } finally {
      errors.mockRestore()
      await log.close()
    }
  }

  for (const start of ["0", "a snapshot after it"])
    it(`told to skip it (--skip-undecodable), started at ${start}: every position and time answers as the projection's fold, the background fold ends`, async () => {
      await overUndecodable(`skip-${start.length}.db`, true, async (cp, events, skipped) => {
        await startedAt(cp, events, start === "0" ? 0 : 301, skipped)
        const head = events.at(-1)!.position
        for (const at of [...boundsOf(events), ...Array.from({ length: head + 2 }, (_, p) => ({ position: p }))])
          expect(await answer(cp, at), `as of ${JSON.stringify(at)}`).toEqual(ordered(replayAsOf(events, at, skipped)))
      })
    })

  it("not told to skip it, started from a snapshot after it: queries that need it reject with UndecodableEvent (503), the others answer; the background fold ends", async () => {
    await overUndecodable("noskip.db", false, async (cp, events, skipped) => {
      const S = 301
      await startedAt(cp, events, S, skipped)
      for (const at of boundsOf(events)) {
        const want = replayAsOf(events, at, skipped)
        const got = await answer(cp, at)
        if (want.position >= skipped.position && want.position < S) expect(got, `as of ${JSON.stringify(at)}`).toBe("UndecodableEvent")
        else expect(got, `as of ${JSON.stringify(at)}`).toEqual(ordered(want))
      }
    })
  })
})
