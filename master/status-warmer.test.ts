import { describe, expect, it } from "vitest"
import { envelopeOf } from "../core/envelope.ts"
import type { DomainEvent, StoredEvent } from "../core/events.ts"
import type { HostName, Position } from "../core/ids.ts"
import { applyEvent, emptyState } from "../core/state.ts"
import { aJob } from "../test/fixtures.ts"
import { AnswerSegment, MIN_KEPT_SEGMENT_BYTES } from "./large-answer.ts"
import { jobStatusAnswer } from "./status-json.ts"
import { MAX_WATCHED_JOBS, StatusWarmer, WATCH_MS } from "./status-warmer.ts"

/** A fleet of `hosts` hosts running `jobs` jobs, how to report a task of one, and how to have a warmer follow the events (as the master's does). */
const fleet = (hosts: number, jobs: number) => {
  const state = emptyState()
  let position = 0
  let follower: StatusWarmer | undefined
  const apply = (event: DomainEvent) => {
    position++
    const stored: StoredEvent = { position: position as Position, envelope: envelopeOf(event, { at: 1_700_000_000_000 + position, actor: { kind: "agent", name: "x" } }), bumped: [] }
    applyEvent(state, stored)
    follower?.onEvents([stored])
  }
  const names = Array.from({ length: hosts }, (_, i) => `host-${i}` as HostName)
  const ids = Array.from({ length: jobs }, (_, j) => aJob({ id: `svc-${j}:v1` }))
  for (const host of names) apply({ _tag: "HostRegistered", host, agentId: "agent-1" as never })
  for (const job of ids) apply({ _tag: "JobCreated", job })
  for (const job of ids) for (const host of names) apply({ _tag: "JobDeployed", job, host, goal: "START" })
  const report = (job: number, host: number, n: number) =>
    apply({ _tag: "TaskStateChanged", jobId: ids[job]!.id, host: names[host]!, state: "RUNNING", goal: "START", throttled: "NO", containerId: `c-${n}` })
  for (let j = 0; j < jobs; j++) for (let h = 0; h < hosts; h++) report(j, h, 0)
  const follow = (warmer: StatusWarmer) => (follower = warmer)
  return { state, ids: ids.map((j) => j.id), report, follow }
}

/** The runs of a job's status an answer would have to compress now (answered from its view when the job is polled). */
const runsToCompress = (state: ReturnType<typeof fleet>["state"], warmer: StatusWarmer, id: string) =>
  jobStatusAnswer(state, id, {}, warmer.partsOf)!.filter((p): p is AnswerSegment => p instanceof AnswerSegment && p.plain.length >= MIN_KEPT_SEGMENT_BYTES && !p.isDeflated).length

describe("statuses kept ready between polls", () => {
  it("a round leaves nothing to compress in the statuses being polled, only in those asked for once or not at all; after new reports, the next round does it again", async () => {
    const { state, ids, report, follow } = fleet(200, 4)
    const warmer = follow(new StatusWarmer(() => state, () => 0))
    // One request listing a job twice asks for it once.
    warmer.noteAsked([ids[0]!, ids[1]!, ids[2]!, ids[0]!])
    await warmer.round()
    expect(warmer.watched).toEqual([])
    expect(runsToCompress(state, warmer, ids[0]!)).toBeGreaterThan(1)
    warmer.noteAsked([ids[0]!, ids[1]!])
    await warmer.round()
    expect(runsToCompress(state, warmer, ids[0]!)).toBe(0)
    expect(runsToCompress(state, warmer, ids[1]!)).toBe(0)
    expect(runsToCompress(state, warmer, ids[2]!)).toBeGreaterThan(1)
    expect(runsToCompress(state, warmer, ids[3]!)).toBeGreaterThan(1)

    for (let h = 0; h < 200; h += 50) report(0, h, 1)
    expect(runsToCompress(state, warmer, ids[0]!)).toBe(4)
    await warmer.round()
    expect(runsToCompress(state, warmer, ids[0]!)).toBe(0)
  })

  it("a job not asked for in WATCH_MS is no longer kept ready; at most MAX_WATCHED_JOBS are remembered, the most recently asked for", async () => {
    let now = 0
    const { state } = fleet(1, 1)
    const warmer = new StatusWarmer(() => state, () => now)
    warmer.noteAsked(["a:v1:0", "b:v1:0"])
    warmer.noteAsked(["a:v1:0", "b:v1:0"])
    now = WATCH_MS / 2
    warmer.noteAsked(["a:v1:0"])
    now = WATCH_MS + 1
    await warmer.round()
    expect(warmer.watched).toEqual(["a:v1:0"])

    const many = Array.from({ length: MAX_WATCHED_JOBS + 5 }, (_, i) => `j${i}:v1:0`)
    warmer.noteAsked(many)
    warmer.noteAsked(many)
    expect(warmer.watched.length).toBe(MAX_WATCHED_JOBS)
    expect(warmer.watched.at(-1)).toBe(`j${MAX_WATCHED_JOBS + 4}:v1:0`)
    expect(warmer.watched).not.toContain("a:v1:0")
  })

  it("rounds take at most a fifth of the master's time: after a round that took 30 ms, none starts for 150 ms from its start", async () => {
    const { state, ids, report, follow } = fleet(200, 1)
    let now = 1_000
    // The round's own clock readings: its start, then its end 30 ms later.
    let readings: number[] = []
    const warmer = follow(new StatusWarmer(() => state, () => readings.shift() ?? now))
    warmer.noteAsked([ids[0]!])
    warmer.noteAsked([ids[0]!])
    readings = [1_000, 1_030]
    await warmer.round()
    expect(runsToCompress(state, warmer, ids[0]!)).toBe(0)

    report(0, 0, 1)
    for (now of [1_100, 1_149]) {
      await warmer.round()
      expect(runsToCompress(state, warmer, ids[0]!)).toBe(1)
    }
    now = 1_150
    await warmer.round()
    expect(runsToCompress(state, warmer, ids[0]!)).toBe(0)
  })
})
