/**
 * The history routes' reads of the log (master/routes/history.ts, master/history-reader.ts) on a
 * real (SQLite) log: an undecodable event the masters were told to skip is left out as the
 * projection leaves it out, one they were not told to skip answers 503 (not 500), and a follower of
 * GET /events that stops reading costs the master a bounded queue, yet gets every event.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import Database from "better-sqlite3"
import { afterEach, describe, expect, it, vi } from "vitest"
import { generateWorkload } from "../bench/workload.ts"
import { encodeEvent } from "../core/codec.ts"
import type { EventLog } from "../core/event-log.ts"
import type { Position } from "../core/ids.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { Checkpoints } from "./checkpoints.ts"
import type { MasterDeps } from "./deps.ts"
import { LiveProjection } from "./live-projection.ts"
import { startMaster } from "./master.ts"
import { historyRoutes } from "./routes/history.ts"
import { readEventsAt } from "./history-reader.ts"
import { auditJson, heliosHistoryJson } from "./responses.ts"
import { entryOf } from "../projections/history.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "helios-history-routes-"))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const quietErrors = () => {
  const errors = vi.spyOn(console, "error").mockImplementation(() => {})
  cleanups.push(() => errors.mockRestore())
  return errors
}

/** Appends a workload's batches from event `from` (0-based) up to `to` (events only: streams are not checked here). */
const appendBatches = async (log: EventLog, w: ReturnType<typeof generateWorkload>, from: number, to: number) => {
  for (const [first, count] of w.batches)
    if (first - 1 >= from && first - 1 < to) await log.append(w.events.slice(first - 1, first - 1 + count).map((e) => e.envelope))
}

/** A SQLite log file of a fleet's history with, after about `bad - 1` events, a row this build cannot decode (a newer schema version). */
const logWithUndecodable = async (n: number, bad: number) => {
  const file = join(tempDir(), "log.db")
  const w = generateWorkload(n, { hosts: 4, deploymentsPerHost: 2, seed: 11 })
  const log = new SqliteEventLog(file)
  cleanups.push(() => log.close())
  await appendBatches(log, w, 0, bad - 1)
  const at = (await log.head()) + 1
  const raw = new Database(file)
  raw.prepare("INSERT INTO events (position, bumped, event) VALUES (?, NULL, ?)").run(at, Buffer.from(encodeEvent({ ...w.events[0]!.envelope, schemaVersion: 99 })))
  raw.close()
  await appendBatches(log, w, bad - 1, n)
  return { log, bad: at }
}

/** What GET /events and the projection need of a master, over `log`. */
const depsOver = async (log: EventLog, options: { skipUndecodable?: ReadonlyArray<number>; readLog?: EventLog } = {}) => {
  const projection = new LiveProjection(log, undefined, { checkIntervalMs: 0, ...(options.skipUndecodable ? { skipUndecodable: options.skipUndecodable } : {}) })
  projection.start()
  cleanups.push(() => projection.stop())
  expect(await projection.catchUp(10_000)).toBe(true)
  const checkpoints = new Checkpoints({ log, ...(options.skipUndecodable ? { skipUndecodable: options.skipUndecodable } : {}) })
  return { log: options.readLog ?? log, projection, checkpoints } as unknown as MasterDeps
}

const ndjsonPositions = (text: string): number[] =>
  text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => (JSON.parse(line) as { position: number }).position)

describe("an undecodable event in the log, seen by the history routes", () => {
  it("told to skip it (--skip-undecodable): GET /events and GET /history/jobs/{id} leave it out and answer everything else, as the projection does", async () => {
    quietErrors()
    const { log, bad } = await logWithUndecodable(600, 250)
    const deps = await depsOver(log, { skipUndecodable: [bad] })
    const head = await log.head()
    expect(deps.projection.position).toBe(head)
    const app = historyRoutes(deps)

    const events = await app.request("/events")
    expect(events.status).toBe(200)
    expect(ndjsonPositions(await events.text())).toEqual(Array.from({ length: head }, (_, i) => i + 1).filter((p) => p !== bad))

    // A job whose history runs across the skipped position.
    const history = deps.projection.model.history
    const id = [...deps.projection.model.state.jobs.keys()].find((j) => {
      const ps = history.positionsOf(j)
      return ps[0]! < bad && ps.at(-1)! > bad
    })
    expect(id).toBeDefined()
    const res = await app.request(`/history/jobs/${encodeURIComponent(id!)}`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { audit: Array<{ position: number }> }).audit.map((e) => e.position)).toEqual([...history.positionsOf(id!)])
  })

  it("not told to skip it: a read that needs it answers 503 UNDECODABLE_EVENT naming it and the flag, not 500", async () => {
    quietErrors()
    const { log, bad } = await logWithUndecodable(300, 120)
    const master = await startMaster({ log, name: "m1", port: 0, bindAddress: "127.0.0.1", housekeepingIntervalMs: 60_000, divergenceCheckIntervalMs: 0 })
    cleanups.push(() => master.stop())
    for (const path of [`/events?after=${bad - 1}`, `/state?at=${bad}`]) {
      const res = await fetch(master.url + path)
      expect(res.status, path).toBe(503)
      const body = (await res.json()) as { status: string; position: number; message: string }
      expect(body, path).toMatchObject({ status: "UNDECODABLE_EVENT", position: bad })
      expect(body.message, path).toContain(`--skip-undecodable ${bad}`)
    }
  })
})

describe("GET /history/jobs/{id}", () => {
  it("answers Helios's events and the audit trail, the bytes of the whole as one JSON; ?tail=N only the last N events; a bad tail is a 400 naming it", async () => {
    const log = new SqliteEventLog(":memory:")
    cleanups.push(() => log.close())
    const w = generateWorkload(3000, { hosts: 6, deploymentsPerHost: 3, seed: 3 })
    await appendBatches(log, w, 0, 3000)
    const deps = await depsOver(log)
    const app = historyRoutes(deps)
    const history = deps.projection.model.history
    const [id, positions] = [...deps.projection.model.state.jobs.keys()].map((j) => [j, history.positionsOf(j)] as const).reduce((a, b) => (b[1].length > a[1].length ? b : a))
    expect(positions.length).toBeGreaterThan(20)
    const expected = async (ps: ReadonlyArray<number>) => {
      const entries = (await readEventsAt(log, ps)).map(entryOf)
      return JSON.stringify({ status: "OK", events: heliosHistoryJson(deps.projection.model.state, id, entries), audit: entries.map(auditJson) })
    }
    const whole = await app.request(`/history/jobs/${encodeURIComponent(id)}`)
    expect(whole.status).toBe(200)
    expect(await whole.text()).toBe(await expected(positions))
    const last = await app.request(`/history/jobs/${encodeURIComponent(id)}?tail=5`)
    expect(await last.text()).toBe(await expected(positions.slice(-5)))
    const more = await app.request(`/history/jobs/${encodeURIComponent(id)}?tail=${positions.length + 10}`)
    expect(await more.text()).toBe(await expected(positions))
    for (const bad of ["0", "-1", "x", "1e3", ""]) {
      const res = await app.request(`/history/jobs/${encodeURIComponent(id)}?tail=${bad}`)
      expect(res.status, `tail=${bad}`).toBe(400)
      expect(await res.text()).toContain("tail")
    }
  })
})

describe("a master stopping while a client follows GET /events", () => {
  it("stops (the follow stream is cut after a short grace), where it waited for the client to hang up: a dashboard tab held helios solo's Ctrl-C", async () => {
    const log = new SqliteEventLog(":memory:")
    cleanups.push(() => log.close())
    const master = await startMaster({ log, name: "m1", port: 0, bindAddress: "127.0.0.1", housekeepingIntervalMs: 60_000, divergenceCheckIntervalMs: 0 })
    let stopped = false
    cleanups.push(() => (stopped ? undefined : master.stop()))
    const { request } = await import("node:http")
    let connected!: () => void
    const following = new Promise<void>((resolve) => (connected = resolve))
    const ended = new Promise<void>((resolve, reject) => {
      const req = request(`${master.url}/events?follow=true`, (res) => {
        connected()
        res.resume()
        res.on("close", () => resolve())
        res.on("error", () => resolve())
      })
      req.on("error", () => resolve())
      req.end()
      setTimeout(() => reject(new Error("the follow stream was never cut")), 20_000).unref()
    })
    // The follower is connected (its answer's headers are out) before the master is asked to stop.
    await following
    const stopping = master.stop().then(() => (stopped = true))
    const outcome = await Promise.race([stopping.then(() => "stopped"), new Promise((resolve) => setTimeout(() => resolve("still stopping after 15 s"), 15_000).unref())])
    expect(outcome).toBe("stopped")
    await ended
  })
})

describe("GET /state?at= a position this master has not applied", () => {
  it("one the log does not hold yet is 404 POSITION_NOT_FOUND naming the log's end; one another writer appended is answered once applied, as of that position (not as of the master's)", async () => {
    const file = join(tempDir(), "log.db")
    const w = generateWorkload(200, { hosts: 4, deploymentsPerHost: 2, seed: 5 })
    const log = new SqliteEventLog(file)
    cleanups.push(() => log.close())
    await appendBatches(log, w, 0, 100)
    const deps = await depsOver(log)
    const app = historyRoutes(deps)
    const head = await log.head()

    const beyond = await app.request(`/state?at=${head + 1}`)
    expect(beyond.status).toBe(404)
    expect(await beyond.json()).toMatchObject({ status: "POSITION_NOT_FOUND", position: head })

    // Another writer (as another master would) appends; this master's follower sees it at its next poll.
    const other = new SqliteEventLog(file)
    cleanups.push(() => other.close())
    await appendBatches(other, w, 100, 200)
    const newHead = await other.head()
    expect(newHead).toBeGreaterThan(head)
    expect(deps.projection.position).toBe(head)
    const res = await app.request(`/state?at=${newHead}`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { position: number }).position).toBe(newHead)
  })
})

describe("GET /events?follow=true", () => {
  it("a follower that stops reading costs the master at most its queue's bound (the rest is read back from the log when it reads again), and still gets every event once, in order", async () => {
    const log = new SqliteEventLog(":memory:")
    cleanups.push(() => log.close())
    // The reads the route makes of the log, by where they start.
    const reads: number[] = []
    const counted = new Proxy(log, {
      get(target, key) {
        if (key === "read")
          return (after: Position, limit?: number) => {
            reads.push(after)
            return target.read(after, limit)
          }
        const value = Reflect.get(target, key) as unknown
        return typeof value === "function" ? value.bind(target) : value
      },
    })
    const base = await depsOver(log, { readLog: counted })
    // Resolves once the route stops listening: its stream is over, it reads the log no more.
    let stopped!: () => void
    const over = new Promise<void>((resolve) => (stopped = resolve))
    const projection = base.projection
    const follows = {
      get diverged() {
        return projection.diverged
      },
      onDiverged: (listener: () => void) => projection.onDiverged(listener),
      onEvents: (listener: Parameters<typeof projection.onEvents>[0]) => {
        const stop = projection.onEvents(listener)
        return () => {
          stop()
          stopped()
        }
      },
    }
    const deps = { ...base, projection: follows } as unknown as MasterDeps
    const bound = 50
    const res = await historyRoutes(deps, { followQueueEvents: bound }).request("/events?follow=true")
    expect(res.status).toBe(200)

    // The follower reads nothing while 8 times the bound is appended and applied.
    const w = generateWorkload(8 * bound, { hosts: 4, deploymentsPerHost: 2, seed: 12 })
    await appendBatches(log, w, 0, w.events.length)
    const head = await log.head()
    expect(await projection.waitFor(head, 10_000)).toBe(true)
    const readsBefore = reads.length

    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let [text, got] = ["", [] as number[]]
    while (got.at(-1) !== head) {
      const { value, done } = await reader.read()
      expect(done).toBe(false)
      text += decoder.decode(value, { stream: true })
      got = ndjsonPositions(text.slice(0, text.lastIndexOf("\n") + 1))
    }
    await reader.cancel()
    await over
    expect(got).toEqual(Array.from({ length: head }, (_, i) => i + 1))
    // Those it was behind by past the bound were read back from the log, after where it was.
    expect(reads.slice(readsBefore).filter((after) => after > 0).length).toBeGreaterThan(0)
  })
})
