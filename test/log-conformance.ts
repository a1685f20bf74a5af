import { describe, expect, it, afterEach } from "vitest"
import { AppendConflict, BatchTooLarge, wrapLog, type EventLog } from "../core/event-log.ts"
import { groupStream, type StoredEvent } from "../core/events.ts"
import { position } from "../core/ids.ts"
import { readEventsAt } from "../master/history-reader.ts"
import { envelope, fakeJobId, host, hostUp, jobRemoved, tagOf } from "./event-fixtures.ts"

/**
 * The behaviour every EventLog adapter owes (the README's "The event log on ZooKeeper"), one named test per invariant.
 * `open` gives a fresh, empty log; `openAnother` a second independent client of the same log
 * (a second master); `reopen` closes everything and opens the same log again (a crash/restart).
 */
export interface LogUnderTest {
  readonly log: EventLog
  openAnother(): Promise<EventLog>
  reopen(): Promise<EventLog>
  /** Positions per segment the adapter was opened with. */
  readonly segmentSize: number
}

/** Every event of the log, read a thousand at a time. */
export const readAll = async (log: EventLog): Promise<StoredEvent[]> => {
  const out: StoredEvent[] = []
  for (;;) {
    const batch = await log.read(position(out.at(-1)?.position ?? 0), 1000)
    if (batch.length === 0) return out
    out.push(...batch)
  }
}

const positions = (events: ReadonlyArray<{ position: number }>) => events.map((e) => e.position)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

export const eventLogConformance = (name: string, open: () => Promise<LogUnderTest>) =>
  describe(`EventLog conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = []
    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c().catch(() => {})
    })
    const fresh = async () => {
      const t = await open()
      cleanups.push(() => t.log.close())
      return t
    }
    const another = async (t: LogUnderTest) => {
      const log = await t.openAnother()
      cleanups.push(() => log.close())
      return log
    }

    it("invariant 1 (total order): appends from several writers get one dense order that every reader sees", async () => {
      const t = await fresh()
      const writers = [t.log, await another(t), await another(t)]
      await Promise.all(
        writers.map((w, wi) => Promise.all(range(1, 15).map((i) => w.append([hostUp("h1", `w${wi}-${i}`)])))),
      )
      const readers = [t.log, await another(t)]
      const seen = await Promise.all(readers.map(readAll))
      expect(positions(seen[0]!)).toEqual(range(1, 45))
      expect(seen[1]!.map((e) => tagOf(e.envelope))).toEqual(seen[0]!.map((e) => tagOf(e.envelope)))
      expect(new Set(seen[0]!.map((e) => tagOf(e.envelope))).size).toBe(45)
    })

    it("invariant 2 (prefix reads): a reader racing writers only ever sees positions 1..k without holes", async () => {
      const t = await fresh()
      const writer2 = await another(t)
      const reader = await another(t)
      let done = false
      const writing = Promise.all(
        [t.log, writer2].map((w, wi) => Promise.all(range(1, 20).map((i) => w.append([hostUp("h1", `w${wi}-${i}`)])))),
      ).finally(() => (done = true))
      let reads = 0
      while (!done || reads < 3) {
        const seen = await reader.read(position(0), 10_000)
        expect(positions(seen)).toEqual(range(1, seen.length))
        reads++
      }
      await writing
      expect((await readAll(reader)).length).toBe(40)
    })

    it("invariant 3 (atomic batches): a command's events are contiguous and all-or-nothing", async () => {
      const t = await fresh()
      const w2 = await another(t)
      await Promise.all(
        range(1, 6).flatMap((b) => [
          t.log.append(range(1, 4).map((i) => hostUp("h1", `a${b}-${i}`))),
          w2.append(range(1, 3).map((i) => jobRemoved(`jb${b}-${i}`))),
        ]),
      )
      const all = await readAll(t.log)
      expect(positions(all)).toEqual(range(1, 42))
      for (const b of range(1, 6)) {
        const at = all.findIndex((e) => tagOf(e.envelope) === `a${b}-1`)
        expect(all.slice(at, at + 4).map((e) => tagOf(e.envelope))).toEqual(range(1, 4).map((i) => `a${b}-${i}`))
        const jt = all.findIndex((e) => tagOf(e.envelope) === `jb${b}-1`)
        expect(all.slice(jt, jt + 3).map((e) => tagOf(e.envelope))).toEqual(range(1, 3).map((i) => `jb${b}-${i}`))
      }
      // A failing batch writes none of its events.
      await expect(
        t.log.append([hostUp("h1", "x1"), hostUp("h1", "x2")], { expected: { "job:missing": 3 } }),
      ).rejects.toBeInstanceOf(AppendConflict)
      expect((await readAll(t.log)).length).toBe(42)
    })

    it("invariant 4 (optimistic concurrency): of concurrent appends expecting one stream version, exactly one wins", async () => {
      const t = await fresh()
      const others = [await another(t), await another(t), await another(t)]
      const writers = [t.log, ...others]
      const outcomes = await Promise.allSettled(
        writers.map((w, i) => w.append([jobRemoved(`contender-${i}`), hostUp("h1", `c${i}`)], { expected: { "job:j1": "none" } })),
      )
      const won = outcomes.filter((o) => o.status === "fulfilled")
      expect(won).toHaveLength(1)
      for (const o of outcomes) if (o.status === "rejected") expect(o.reason).toBeInstanceOf(AppendConflict)
      expect((await readAll(t.log)).length).toBe(2)
      // Version 0 now; the next append must name it, and a second one naming 0 again is stale.
      await t.log.append([hostUp("h1", "v0")], { expected: { "job:j1": 0 } })
      await expect(t.log.append([hostUp("h1", "stale")], { expected: { "job:j1": 0 } })).rejects.toBeInstanceOf(AppendConflict)
      await expect(t.log.append([hostUp("h1", "gone")], { expected: { "job:nope": 0 } })).rejects.toBeInstanceOf(AppendConflict)
      await t.log.append([hostUp("h1", "v1")], { expected: { "job:j1": 1, "host:h1": "none" } })
      const all = await readAll(t.log)
      expect(all.map((e) => tagOf(e.envelope))).not.toContain("stale")
      expect(all.at(-1)!.bumped).toEqual(["job:j1", "host:h1"])
    })

    it("invariant 4 (read-only guards): an `unchanged` stream is checked at its version and not bumped", async () => {
      const t = await fresh()
      await t.log.append([hostUp("h1", "create")], { expected: { "host:g1": "none" } })
      // Checked at version 0, twice: a guard does not bump it.
      await t.log.append([hostUp("h1", "guarded-1")], { unchanged: { "host:g1": 0 } })
      await t.log.append([hostUp("h1", "guarded-2")], { unchanged: { "host:g1": 0, "job:never": "none" } })
      await expect(t.log.append([hostUp("h1", "stale")], { unchanged: { "host:g1": 1 } })).rejects.toBeInstanceOf(AppendConflict)
      await expect(t.log.append([hostUp("h1", "absent")], { unchanged: { "host:g1": "none" } })).rejects.toBeInstanceOf(AppendConflict)
      // "none" stays none after a guard (the check created nothing).
      await t.log.append([hostUp("h1", "then-created")], { expected: { "job:never": "none" } })
      await t.log.append([hostUp("h1", "bump")], { expected: { "host:g1": 0 } })
      await expect(t.log.append([hostUp("h1", "stale-after-bump")], { unchanged: { "host:g1": 0 } })).rejects.toBeInstanceOf(AppendConflict)
      const all = await readAll(t.log)
      expect(all.map((e) => tagOf(e.envelope))).toEqual(["create", "guarded-1", "guarded-2", "then-created", "bump"])
      expect(all.map((e) => e.bumped)).toEqual([["host:g1"], [], [], ["job:never"], ["host:g1"]])
    })

    it("invariant 4 (version 0 is a real version): a stale check against a freshly created stream fails", async () => {
      // Guards node-zookeeper-client bug #67 (a version of 0 became 'any version' inside a multi).
      const t = await fresh()
      await t.log.append([hostUp("h1", "create")], { expected: { "host:h0": "none" } })
      await t.log.append([hostUp("h1", "bump")], { expected: { "host:h0": 0 } })
      await expect(t.log.append([hostUp("h1", "stale-0")], { expected: { "host:h0": 0 } })).rejects.toBeInstanceOf(AppendConflict)
    })

    it("invariant 5 (durability): acknowledged appends survive a restart", async () => {
      const t = await fresh()
      for (const i of range(1, 5)) await t.log.append([hostUp("h1", `d${i}`)])
      const reopened = await t.reopen()
      cleanups.push(() => reopened.close())
      expect((await readAll(reopened)).map((e) => tagOf(e.envelope))).toEqual(range(1, 5).map((i) => `d${i}`))
      await reopened.append([hostUp("h1", "after")])
      expect(await reopened.head()).toBe(6)
    })

    it("invariant 6 (host streams): a host's stream holds only its events, in log order, with their positions", async () => {
      const t = await fresh()
      const w2 = await another(t)
      await Promise.all([
        ...range(1, 5).map((i) => t.log.append([hostUp("alpha", `a${i}`)])),
        ...range(1, 5).map((i) => w2.append([hostUp("beta", `b${i}`), jobRemoved(`j${i}`)])),
        t.log.append([hostUp("alpha", "pair-a"), hostUp("beta", "pair-b")]),
      ])
      const all = await readAll(t.log)
      const alpha = await w2.readHostStream(host("alpha"), 0)
      expect(alpha.map((e) => e.hostPosition)).toEqual(range(1, 6))
      expect(alpha.every((e) => e.envelope.event._tag === "HostWentUp" && e.envelope.event.host === "alpha")).toBe(true)
      const byPosition = new Map(all.map((e) => [e.position, tagOf(e.envelope)]))
      for (const e of alpha) expect(byPosition.get(e.position)).toBe(tagOf(e.envelope))
      expect(positions(alpha)).toEqual([...positions(alpha)].sort((a, b) => a - b))
      const beta = await t.log.readHostStream(host("beta"), 3)
      expect(beta.map((e) => e.hostPosition)).toEqual([4, 5, 6])
      expect(await t.log.readHostStream(host("gamma"), 0)).toEqual([])
      // A host stream shows a batch's bumps on the last event of that host's slice of the batch.
      await t.log.append([hostUp("delta", "d1"), hostUp("delta", "d2"), jobRemoved("after-delta")], {
        expected: { "host:delta": "none" },
      })
      const delta = await t.log.readHostStream(host("delta"), 0)
      expect(delta.map((e) => e.bumped)).toEqual([[], ["host:delta"]])
    })

    it("invariant 7 (bounded segments): the log rolls over segments and reads across them, from any position", async () => {
      const t = await fresh()
      const total = t.segmentSize * 3 + 2
      let appended = 0
      for (let b = 1; appended < total; b++) {
        const n = Math.min(b % 3 + 1, total - appended)
        await t.log.append(range(1, n).map((i) => hostUp("h1", `s${appended + i}`)))
        appended += n
      }
      const all = await readAll(t.log)
      expect(all.map((e) => tagOf(e.envelope))).toEqual(range(1, total).map((i) => `s${i}`))
      for (const from of [0, t.segmentSize - 1, t.segmentSize, total - 1, total]) {
        const tail = await t.log.read(position(from))
        expect(positions(tail)).toEqual(range(from + 1, total))
      }
      const hostTail = await t.log.readHostStream(host("h1"), t.segmentSize + 1)
      expect(hostTail.map((e) => e.hostPosition)).toEqual(range(t.segmentSize + 2, total))
    })

    it("a job's history read back at its positions (master/history-reader.ts): the events at any set of positions, inside batches and across segments, are those a full read has there", async () => {
      const t = await fresh()
      const total = t.segmentSize * 4 + 3
      let appended = 0
      for (let b = 1; appended < total; b++) {
        const n = Math.min(b % 4 + 1, total - appended)
        // Every other batch bumps a stream, which its last event carries.
        await t.log.append(
          range(1, n).map((i) => hostUp("h1", `s${appended + i}`)),
          b % 2 === 0 ? { expected: { [groupStream(`bump-${b}`)]: "none" as const } } : undefined,
        )
        appended += n
      }
      const all = await readAll(t.log)
      expect(all.some((e) => e.bumped.length > 0)).toBe(true)
      // Subsets: every position, none, the first and last, every k-th, and seeded scatters (close
      // together and far apart: read as one range or several).
      let seed = 7
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
      const subsets = [range(1, total), [], [1, total], ...[2, 3, 5].map((k) => range(1, total).filter((p) => p % k === 0))]
      for (let i = 0; i < 10; i++) subsets.push(range(1, total).filter(() => random() < 0.3))
      // The log's own positional read (EventLog.readAt, decoding only those events) and the ranges
      // read around the positions (a log without it) answer the same, bumped streams included.
      const ranged = { ...wrapLog(t.log, {}), readAt: undefined } as unknown as EventLog
      for (const wanted of subsets)
        for (const [how, log] of [["readAt", t.log], ["ranges", ranged]] as const) {
          const read = await readEventsAt(log, wanted)
          expect(read.map((e) => e.position), `${how}: positions ${wanted.join(",")}`).toEqual(wanted)
          expect(read.map((e) => tagOf(e.envelope)), how).toEqual(wanted.map((p) => tagOf(all[p - 1]!.envelope)))
          expect(read.map((e) => e.bumped), how).toEqual(wanted.map((p) => all[p - 1]!.bumped))
        }
      // A position the log does not hold is an error, not a shorter answer.
      await expect(readEventsAt(t.log, [1, total + 1])).rejects.toThrow(/no event at position/)
    })

    it("events up to 900 KB round-trip; a larger batch is a clear error and writes nothing", async () => {
      const t = await fresh()
      const failed = (error: string) =>
        envelope({
          _tag: "TaskStateChanged",
          jobId: fakeJobId("big"),
          host: host("h1"),
          state: "FAILED",
          goal: "START",
          throttled: "NO",
          error,
        })
      const withPayload = failed("x".repeat(900_000))
      await t.log.append([withPayload])
      const [back] = await t.log.read(position(0))
      expect(back!.envelope).toEqual(withPayload)
      const huge = failed("y".repeat(1_100_000))
      await expect(t.log.append([huge])).rejects.toBeInstanceOf(BatchTooLarge)
      expect(await t.log.head()).toBe(1)
    })

    it("subscribe catches up, then follows live appends from other writers, in order, once each", async () => {
      const t = await fresh()
      await t.log.append([hostUp("h1", "before-1"), hostUp("h1", "before-2")])
      const w2 = await another(t)
      const seen: string[] = []
      const hostSeen: number[] = []
      const stop = t.log.subscribe(position(1), (events) => {
        seen.push(...events.map((e) => tagOf(e.envelope)))
      })
      const stopHost = t.log.subscribeHostStream(host("h1"), 0, (events) => {
        hostSeen.push(...events.map((e) => e.hostPosition))
      })
      cleanups.push(async () => {
        stop()
        stopHost()
      })
      for (const i of range(1, 5)) await w2.append([hostUp("h1", `live-${i}`)])
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(6)
      expect(seen).toEqual(["before-2", ...range(1, 5).map((i) => `live-${i}`)])
      await expect.poll(() => hostSeen.length, { timeout: 10_000 }).toBe(7)
      expect(hostSeen).toEqual(range(1, 7))
    })
  })
