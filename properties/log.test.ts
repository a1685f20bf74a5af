import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { AppendConflict, type EventLog, type ExpectedVersion } from "../core/event-log.ts"
import { envelopeOf } from "../core/envelope.ts"
import { hostsOf, type EventEnvelope, type StoredEvent, type StreamId } from "../core/events.ts"
import type { AgentId, HostName } from "../core/ids.ts"
import type { JobId } from "../core/job.ts"
import { foldEvents } from "../core/state.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { readAll } from "../test/log-conformance.ts"
import { uniqueRoot, zkConnect } from "../test/services.ts"
import { describedAs } from "./arbitraries.ts"
import { checkAsync, timeoutFor } from "./support.ts"

/*
 * The event log under concurrent appends with expected versions, on the embedded SQLite adapter
 * (many runs, interleavings chosen by fast-check's scheduler) and on real ZooKeeper (few runs,
 * real concurrency, each run under its own root).
 *
 * Two writers (separate log instances / ZooKeeper sessions) each run a random list of appends,
 * concurrently. An append lists some streams with an expected version: one it just read from the
 * log ("fresh", which another writer may invalidate before the append lands) or a fixed guess.
 * Afterwards a third instance reads everything back and we check the laws of the README's "The event log on ZooKeeper".
 */

const STREAMS: ReadonlyArray<StreamId> = ["job:a:v1", "job:b:v1", "host:h1", "host:h2"]
const HOSTS = ["h1", "h2", "h3"] as const

type Expectation = "fresh" | ExpectedVersion

interface PlannedAppend {
  /** Per event: a host (HostWentUp, in that host's stream) or none (JobRemoved, in no host stream). */
  readonly events: ReadonlyArray<number | "none">
  readonly expected: ReadonlyArray<readonly [number, Expectation]>
  /** ZooKeeper only: ms to wait before reading and before appending (varies the interleaving). */
  readonly delayMs: number
}

interface Plan {
  readonly writers: readonly [ReadonlyArray<PlannedAppend>, ReadonlyArray<PlannedAppend>]
}

const appendArb: fc.Arbitrary<PlannedAppend> = fc.record({
  events: fc.array(fc.oneof(fc.nat({ max: HOSTS.length - 1 }), fc.constant("none" as const)), { minLength: 1, maxLength: 3 }),
  expected: fc.array(
    fc.tuple(
      fc.nat({ max: STREAMS.length - 1 }),
      fc.oneof(
        { weight: 6, arbitrary: fc.constant<Expectation>("fresh") },
        { weight: 2, arbitrary: fc.constant<Expectation>("none") },
        { weight: 2, arbitrary: fc.nat({ max: 3 }) as fc.Arbitrary<Expectation> },
      ),
    ),
    { maxLength: 3 },
  ),
  delayMs: fc.nat({ max: 4 }),
})

const planArb = (maxPerWriter: number): fc.Arbitrary<Plan> =>
  fc
    .tuple(fc.array(appendArb, { maxLength: maxPerWriter }), fc.array(appendArb, { maxLength: maxPerWriter }))
    .map(([a, b]) => {
      const plan: Plan = { writers: [a, b] }
      const show = (w: ReadonlyArray<PlannedAppend>) =>
        w
          .map(
            (x) =>
              `[${x.events.map((e) => (e === "none" ? "job" : HOSTS[e])).join(",")}]` +
              (x.expected.length ? `{${x.expected.map(([s, v]) => `${STREAMS[s]}=${v}`).join(",")}}` : ""),
          )
          .join(" ")
      return describedAs(plan, () => `Plan {\n  writer 0: ${show(a)}\n  writer 1: ${show(b)}\n}`)
    })

/** What happened to one append: where it landed, or the conflict that refused it. */
type Outcome =
  | { readonly kind: "appended"; readonly first: number; readonly last: number; readonly expected: Record<string, ExpectedVersion>; readonly envelopes: EventEnvelope[] }
  | { readonly kind: "conflict"; readonly expected: Record<string, ExpectedVersion>; readonly stream: string }

const envelopesFor = (writer: number, index: number, a: PlannedAppend): EventEnvelope[] =>
  a.events.map((e, k) => {
    const tag = `w${writer}.${index}.${k}`
    return envelopeOf(
      e === "none"
        ? { _tag: "JobRemoved", jobId: `${tag}:v1:${"0".repeat(40)}` as JobId }
        : { _tag: "HostWentUp", host: HOSTS[e] as HostName, agentId: tag as AgentId },
      { at: 1_700_000_000_000, actor: { kind: "user", name: `writer-${writer}` }, commandId: `w${writer}.${index}` },
    )
  })

const tagOf = (e: StoredEvent): string =>
  e.envelope.event._tag === "HostWentUp" ? e.envelope.event.agentId : e.envelope.event._tag === "JobRemoved" ? e.envelope.event.jobId.split(":")[0]! : "?"

const summary = (events: ReadonlyArray<StoredEvent>) =>
  events.map((e) => `${e.position} ${e.envelope.commandId} ${tagOf(e)} [${e.bumped.join(",")}]`)

/** Runs both writers concurrently; `pause` is where another writer may get ahead. */
const runPlan = async (
  plan: Plan,
  writers: readonly [EventLog, EventLog],
  pause: (writer: number, a: PlannedAppend) => Promise<void>,
): Promise<Map<string, Outcome>> => {
  const outcomes = new Map<string, Outcome>()
  const run = async (w: number) => {
    for (const [i, a] of plan.writers[w]!.entries()) {
      await pause(w, a)
      const fresh = a.expected.some(([, v]) => v === "fresh") ? foldEvents(await readAll(writers[w]!)).versions : undefined
      await pause(w, a)
      const expected: Record<string, ExpectedVersion> = {}
      for (const [s, v] of a.expected) expected[STREAMS[s]!] = v === "fresh" ? (fresh!.get(STREAMS[s]!) ?? "none") : v
      const envelopes = envelopesFor(w, i, a)
      try {
        const r = await writers[w]!.append(envelopes, { expected: expected as Record<StreamId, ExpectedVersion> })
        outcomes.set(`w${w}.${i}`, { kind: "appended", first: r.firstPosition, last: r.lastPosition, expected, envelopes })
      } catch (error) {
        if (!(error instanceof AppendConflict)) throw error
        expect(Object.keys(expected), "a conflict names a stream the append listed").toContain(error.stream)
        outcomes.set(`w${w}.${i}`, { kind: "conflict", expected, stream: error.stream })
      }
    }
  }
  await Promise.all([run(0), run(1)])
  return outcomes
}

/** The laws of the README's "The event log on ZooKeeper" that concurrent appends must keep. */
const verify = async (outcomes: Map<string, Outcome>, logs: { readonly writer: EventLog; readonly reader: EventLog }) => {
  const seen = await readAll(logs.writer)
  const seenByOther = await readAll(logs.reader)
  // Total order: every reader sees the same sequence.
  expect(summary(seenByOther)).toEqual(summary(seen))
  // Positions are dense: 1..n.
  expect(seen.map((e) => e.position)).toEqual(seen.map((_, i) => i + 1))

  const accepted = [...outcomes].filter((o): o is [string, Outcome & { kind: "appended" }] => o[1].kind === "appended")
  expect(seen.length).toBe(accepted.reduce((n, [, o]) => n + o.envelopes.length, 0))
  for (const [id, o] of accepted) {
    // Atomic and contiguous: exactly its events, in order, at first..last; the bumped streams on the last.
    const at = seen.slice(o.first - 1, o.last)
    expect(at.map((e) => e.envelope), `append ${id} at ${o.first}..${o.last}`).toEqual(o.envelopes)
    expect(seen.filter((e) => e.envelope.commandId === id).length).toBe(o.envelopes.length)
    at.forEach((e, i) =>
      expect([...e.bumped].sort(), `bumped of ${id} event ${i}`).toEqual(i === at.length - 1 ? Object.keys(o.expected).sort() : []),
    )
  }
  // Rejected appends leave no trace.
  for (const [id, o] of outcomes) if (o.kind === "conflict") expect(seen.some((e) => e.envelope.commandId === id), `refused ${id} is in the log`).toBe(false)

  // Optimistic concurrency, serialised: in log order, every accepted append expected the versions its streams had.
  const versions = new Map<string, number>()
  for (const [id, o] of [...accepted].sort((a, b) => a[1].first - b[1].first)) {
    for (const [s, v] of Object.entries(o.expected)) expect(v, `append ${id} expected ${s}`).toBe(versions.get(s) ?? "none")
    for (const s of Object.keys(o.expected)) versions.set(s, (versions.get(s) ?? -1) + 1)
  }
  // Final versions = accepted appends listing the stream - 1 (as the log reports them through `bumped`).
  const counts = new Map<string, number>()
  for (const [, o] of accepted) for (const s of Object.keys(o.expected)) counts.set(s, (counts.get(s) ?? 0) + 1)
  expect(foldEvents(seen).versions).toEqual(new Map([...counts].map(([s, n]) => [s, n - 1])))

  // Host streams hold exactly the host's events, in global order, host positions dense.
  for (const h of HOSTS) {
    const stream = await logs.reader.readHostStream(h as HostName, 0)
    expect(stream.map((e) => e.position), `host stream ${h}`).toEqual(seen.filter((e) => hostsOf(e.envelope.event).includes(h as HostName)).map((e) => e.position))
    expect(stream.map((e) => e.hostPosition)).toEqual(stream.map((_, i) => i + 1))
  }

  // The log itself holds those versions: a wrong expectation is refused (and writes nothing), the right one accepted.
  for (const s of STREAMS) {
    const v = versions.get(s)
    const head = await logs.reader.head()
    const probe = (tag: string): EventEnvelope[] => [
      envelopeOf({ _tag: "HostWentDown", host: "h3" as HostName }, { at: 0, actor: { kind: "user", name: tag } }),
    ]
    await expect(logs.reader.append(probe("wrong"), { expected: { [s]: v === undefined ? 0 : v + 1 } as Record<StreamId, ExpectedVersion> })).rejects.toBeInstanceOf(AppendConflict)
    expect(await logs.reader.head()).toBe(head)
    if (v !== undefined) await expect(logs.reader.append(probe("stale"), { expected: { [s]: "none" } as Record<StreamId, ExpectedVersion> })).rejects.toBeInstanceOf(AppendConflict)
    const ok = await logs.reader.append(probe("right"), { expected: { [s]: v ?? "none" } as Record<StreamId, ExpectedVersion> })
    expect(ok.firstPosition).toBe(head + 1)
  }
}

describe("event log under concurrent appends", () => {
  it(
    "embedded SQLite: for any interleaving of two writers' appends with expected versions, every reader sees one dense order 1..n, each accepted batch is contiguous and whole with its bumped streams on its last event, refused appends (AppendConflict) leave no trace, accepted appends expected exactly the versions their streams had in log order, and each stream's final version = accepted appends listing it - 1",
    async () => {
      const dirs: string[] = []
      try {
        await checkAsync(
          fc.asyncProperty(planArb(8), fc.scheduler(), async (plan, s) => {
            const dir = mkdtempSync(join(tmpdir(), "helios-prop-log-"))
            dirs.push(dir)
            const file = join(dir, "events.db")
            const logs = [new SqliteEventLog(file), new SqliteEventLog(file), new SqliteEventLog(file)] as const
            try {
              // Every read and append is synchronous inside: the scheduler alone decides who goes first.
              const outcomes = await s.waitFor(runPlan(plan, [logs[0], logs[1]], () => s.schedule(Promise.resolve())))
              await verify(outcomes, { writer: logs[0], reader: logs[2] })
            } finally {
              for (const l of logs) await l.close()
              rmSync(dir, { recursive: true, force: true })
            }
          }),
          { runs: 100, seed: 4001 },
        )
      } finally {
        for (const d of dirs) rmSync(d, { recursive: true, force: true })
      }
    },
    timeoutFor(60_000),
  )

  it(
    "real ZooKeeper: two writers on separate sessions appending concurrently (tiny segments), then a third session reads: one dense order 1..n for every reader, accepted batches contiguous and whole, refused appends leave no trace (not in the log, not in host streams), accepted appends expected exactly the versions their streams had in log order, and each stream's final version = accepted appends listing it - 1",
    async () => {
      await checkAsync(
        fc.asyncProperty(planArb(6), async (plan) => {
          const root = uniqueRoot("prop-log")
          const clients = await Promise.all([0, 1, 2].map(() => ZkClient.connect(zkConnect())))
          const logs = await Promise.all(clients.map((zk) => ZooKeeperEventLog.open(zk, { root, segmentSize: 3 })))
          try {
            const outcomes = await runPlan(plan, [logs[0]!, logs[1]!], (_w, a) => new Promise((r) => setTimeout(r, a.delayMs)))
            await verify(outcomes, { writer: logs[0]!, reader: logs[2]! })
          } finally {
            for (const l of logs) await l.close()
            for (const zk of clients) await zk.close()
          }
        }),
        { runs: 8, seed: 4002, scale: 0.1 },
      )
    },
    timeoutFor(60_000),
  )
})
