/**
 * The task reporter turns task statuses into TaskStateChanged facts for the outbox, and remembers
 * what it reported (task-status.json) so a restarted agent does not report the same state again.
 * A transition must never be remembered without having been queued: the log would then hold the
 * old state for good.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import type { EventEnvelope } from "../core/events.ts"
import type { AgentId, HostName } from "../core/ids.ts"
import { TaskReporter, type TaskStatus } from "./task-reporter.ts"

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const stateFile = () => {
  const dir = mkdtempSync(join(tmpdir(), "helios-task-reporter-"))
  dirs.push(dir)
  return join(dir, "task-status.json")
}

const JOB = "web:v1:0123456789abcdef0123456789abcdef01234567"
const status = (state: TaskStatus["state"]): TaskStatus => ({ state, goal: "START", throttled: "NO", containerId: "c0ffee" })
const reporter = (file: string, emit: (e: EventEnvelope) => boolean) =>
  new TaskReporter({ file, host: "h1" as HostName, agentId: "agent-1" as AgentId, clock: { now: () => 1_700_000_000_000 }, emit })
const stateOf = (e: EventEnvelope) => (e.event._tag === "TaskStateChanged" ? e.event.state : undefined)

describe("the task reporter", () => {
  it("reports a transition the outbox could not take (full, disk full) again at the next report", async () => {
    const file = stateFile()
    const queued: EventEnvelope[] = []
    let outboxTakes = false
    const r = reporter(file, (e) => {
      if (outboxTakes) queued.push(e)
      return outboxTakes
    })
    expect(r.report(JOB, status("RUNNING"))).toBe(false)
    outboxTakes = true
    expect(r.report(JOB, status("RUNNING"))).toBe(true)
    expect(queued.map(stateOf)).toEqual(["RUNNING"])
  })

  it("an agent that died as it queued a transition reports it after its restart: not lost", async () => {
    const file = stateFile()
    const first = reporter(file, () => true)
    first.report(JOB, status("RUNNING"))
    // The agent dies while queuing EXITED (the process ends inside the outbox's write).
    const dying = reporter(file, () => {
      throw new Error("killed")
    })
    expect(() => dying.report(JOB, status("EXITED"))).toThrow("killed")

    const queued: EventEnvelope[] = []
    const restarted = reporter(file, (e) => (queued.push(e), true))
    expect(restarted.report(JOB, status("EXITED"))).toBe(true)
    expect(queued.map(stateOf)).toEqual(["EXITED"])
    // And once reported, the same state is not reported again.
    expect(reporter(file, (e) => (queued.push(e), true)).report(JOB, status("EXITED"))).toBe(false)
    expect(queued).toHaveLength(1)
  })
})
