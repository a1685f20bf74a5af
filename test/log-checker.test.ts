import { describe, expect, it } from "vitest"
import type { EventEnvelope } from "../core/events.ts"
import { aJob } from "./fixtures.ts"
import { host, envelope } from "./event-fixtures.ts"
import { checkLog, replayDigests, storedEvents, type Acknowledgement, type LogEntry, type MasterDigest, type ViolationKind } from "./log-checker.ts"

/*
 * The checker on synthetic logs: a clean one passes, and each way a log can be wrong (a hole, an
 * orphan marker, a batch id or command twice, an acknowledged command missing or answered at
 * another position, a refused command written anyway, a master behind or with another state) is
 * reported as that violation.
 */

const withCommand = (e: EventEnvelope, commandId: string): EventEnvelope => ({ ...e, commandId })
const created = (name: string, commandId: string) => withCommand(envelope({ _tag: "JobCreated", job: aJob({ id: `${name}:v1` }) }), commandId)
const registered = (name: string, commandId: string) => withCommand(envelope({ _tag: "HostRegistered", host: host(name), agentId: `agent-${name}` as never }), commandId)

/** A log of batches laid out densely from position 1: each batch's first position, then markers. */
const layout = (batches: ReadonlyArray<{ batchId: string; events: EventEnvelope[] }>): LogEntry[] => {
  const out: LogEntry[] = []
  let p = 1
  for (const b of batches) {
    out.push({ position: p, batch: { batchId: b.batchId, bumped: [], events: b.events } })
    for (let i = 1; i < b.events.length; i++) out.push({ position: p + i })
    p += b.events.length
  }
  return out
}

// Positions: 1 (c1), 2-3 (c2: two events), 4 (c3).
const cleanBatches = [
  { batchId: "b1", events: [created("a", "c1")] },
  { batchId: "b2", events: [registered("h1", "c2"), registered("h2", "c2")] },
  { batchId: "b3", events: [created("b", "c3")] },
]
const cleanAcks: Acknowledgement[] = [
  { commandId: "c1", position: 1, attempts: 1 },
  { commandId: "c2", position: 3, attempts: 1 },
  { commandId: "c3", position: 4, attempts: 3 },
]
/** A master whose projection is a replay of `entries` up to `position`. */
const masterAt = (name: string, entries: ReadonlyArray<LogEntry>, position: number): MasterDigest => ({
  name,
  position,
  sha256: replayDigests(storedEvents(entries), [position]).get(position)!,
})

const kinds = (entries: LogEntry[], acks = cleanAcks, masters?: MasterDigest[], refused = []) =>
  checkLog({ entries, acknowledged: acks, refused, masters: masters ?? [masterAt("m1", entries, 4)] }).violations.map((v) => v.kind as ViolationKind)

describe("log checker", () => {
  it("passes a dense log holding every acknowledged command once, with masters equal to a replay", () => {
    const entries = layout(cleanBatches)
    const report = checkLog({ entries, acknowledged: cleanAcks, masters: [masterAt("m1", entries, 4), masterAt("m2", entries, 4)] })
    expect(report).toMatchObject({ head: 4, batches: 3, acknowledged: 3, retried: 1, lost: 0, duplicated: 0, mastersConverged: true, violations: [] })
  })

  it("reports a hole in the positions, and an acknowledged command that is gone as lost", () => {
    const entries = layout(cleanBatches).filter((e) => e.position !== 1)
    const report = checkLog({ entries, acknowledged: cleanAcks, masters: [] })
    expect(report.violations.map((v) => v.kind)).toEqual(["hole", "lost"])
    expect(report.lost).toBe(1)
  })

  it("reports a marker that belongs to no batch and a batch cut short", () => {
    const entries = layout(cleanBatches)
    const orphan: LogEntry[] = [...entries, { position: 5 }]
    expect(kinds(orphan, cleanAcks, [])).toEqual(["orphan-marker"])
    const cutShort = entries.filter((e) => e.position !== 3) // the 2-event batch's marker is the head's hole
    expect(kinds(cutShort, cleanAcks, [])).toContain("hole")
    const truncated = entries.filter((e) => e.position <= 2) // the log ends inside batch b2
    expect(kinds(truncated, cleanAcks.slice(0, 1), [])).toEqual(["short-batch"])
  })

  it("reports a batch id written twice and a command that landed twice", () => {
    const twiceBatch = layout([...cleanBatches, { batchId: "b1", events: [created("z", "c9")] }])
    expect(kinds(twiceBatch, cleanAcks, [])).toEqual(["duplicate-batch-id"])
    const twiceCommand = layout([...cleanBatches, { batchId: "b4", events: [created("a2", "c1")] }])
    const report = checkLog({ entries: twiceCommand, acknowledged: cleanAcks, masters: [] })
    expect(report.violations.map((v) => v.kind)).toEqual(["duplicate-command"])
    expect(report.duplicated).toBe(1)
  })

  it("reports a retried command answered at another position than where it first landed", () => {
    const acks = [...cleanAcks, { commandId: "c1", position: 4, attempts: 2 }]
    expect(kinds(layout(cleanBatches), acks)).toEqual(["wrong-position"])
  })

  it("reports a command refused to the client but written to the log", () => {
    const report = checkLog({
      entries: layout(cleanBatches),
      acknowledged: cleanAcks.slice(0, 2),
      refused: [{ commandId: "c3", status: 409, body: "JOB_ALREADY_EXISTS" }],
      masters: [],
    })
    expect(report.violations.map((v) => v.kind)).toEqual(["refused-but-written"])
  })

  it("reports a master behind the log's head and a master whose state differs from a replay", () => {
    const entries = layout(cleanBatches)
    const behind = masterAt("m1", entries, 3)
    expect(kinds(entries, cleanAcks, [behind])).toEqual(["master-behind"])
    // Same position, other content: a master that applied a batch the log no longer holds there.
    const other = layout([cleanBatches[0]!, cleanBatches[1]!, { batchId: "b3x", events: [created("other", "c7")] }])
    const diverged = masterAt("m2", other, 4)
    const report = checkLog({ entries, acknowledged: cleanAcks, masters: [diverged] })
    expect(report.violations.map((v) => v.kind)).toEqual(["master-diverged"])
    expect(report.mastersConverged).toBe(false)
    expect(kinds(entries, cleanAcks, [{ ...masterAt("m3", entries, 4), diverged: true }])).toEqual(["master-diverged"])
  })
})
