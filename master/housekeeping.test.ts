/**
 * The decisions of the leader's housekeeping round (master/housekeeping.ts), as pure functions:
 * which up/down transition a host's up mark calls for, and what removing an expired job takes.
 * The round itself runs against a real ZooKeeper in master.test.ts and agent-reaper.test.ts; here,
 * with a command bus that fails, what the round says on stderr about its failures.
 */
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { Rejection, type Command } from "../core/commands.ts"
import { LogUnavailable } from "../core/event-log.ts"
import { emptyState, type FleetState, type HostRecord } from "../core/state.ts"
import { agentId, host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import type { CommandBus } from "./command-bus.ts"
import { RepeatedFailureLog } from "./failure-log.ts"
import { expiredJobRemoval, Housekeeping, livenessTransition } from "./housekeeping.ts"
import { repeatWithoutOverlap } from "./periodic.ts"

const record = (up: boolean): HostRecord => ({ name: host("h1"), agentId: agentId("agent-1"), registeredAt: 0, up, since: 0 })

describe("livenessTransition", () => {
  it("marks a host up or down when its up mark disagrees with the fleet state", () => {
    expect(livenessTransition(record(false), true)).toEqual({ _tag: "MarkHostUp", host: "h1", agentId: "agent-1" })
    expect(livenessTransition(record(true), false)).toEqual({ _tag: "MarkHostDown", host: "h1" })
  })

  it("records nothing while they agree", () => {
    expect(livenessTransition(record(true), true)).toBeUndefined()
    expect(livenessTransition(record(false), false)).toBeUndefined()
  })
})

describe("expiredJobRemoval", () => {
  const at = Date.UTC(2030, 0, 1)
  const expiring = aJob({ expires: "2030-01-01T00:00:00Z" })

  it("undeploys an expired job from every host it is on, then removes it", () => {
    expect(expiredJobRemoval(expiring, [host("a"), host("b")], at + 1)).toEqual([
      { _tag: "UndeployJob", jobId: expiring.id, host: "a" },
      { _tag: "UndeployJob", jobId: expiring.id, host: "b" },
      { _tag: "RemoveJob", jobId: expiring.id },
    ])
    expect(expiredJobRemoval(expiring, [], at + 1)).toEqual([{ _tag: "RemoveJob", jobId: expiring.id }])
  })

  it("passes the job's token, which its undeploys and removal need", () => {
    const guarded = aJob({ expires: "2030-01-01T00:00:00Z", token: "s3cret" })
    expect(expiredJobRemoval(guarded, [host("a")], at + 1)).toEqual([
      { _tag: "UndeployJob", jobId: guarded.id, host: "a", token: "s3cret" },
      { _tag: "RemoveJob", jobId: guarded.id, token: "s3cret" },
    ])
  })

  it("leaves a job alone until its expiry has passed, and one that never expires", () => {
    expect(expiredJobRemoval(expiring, [host("a")], at)).toEqual([])
    expect(expiredJobRemoval(aJob(), [host("a")], Number.MAX_SAFE_INTEGER)).toEqual([])
  })
})

describe("a housekeeping round whose commands fail", () => {
  const expired = aJob({ id: "old:v1", expires: "2001-01-01T00:00:00Z" })
  const state = (): FleetState => {
    const s = emptyState()
    s.jobs.set(expired.id, expired)
    return s
  }
  /** A bus whose next outcome the test sets: a thrown error, or success. */
  const setup = () => {
    const lines: string[] = []
    let next: () => Promise<Awaited<ReturnType<CommandBus["execute"]>>> = async () => {
      throw new LogUnavailable({ reason: "ZooKeeper connection lost" })
    }
    const commands: Command[] = []
    const housekeeping = new Housekeeping({
      name: "m1",
      bus: { execute: async (command) => (commands.push(command), next()) },
      state,
      now: () => Date.UTC(2030, 0, 1),
      isLeader: async () => true,
      agentReapingTimeoutMs: 0,
      failures: new RepeatedFailureLog((line) => lines.push(line)),
    })
    return { lines, commands, housekeeping, setNext: (f: typeof next) => (next = f) }
  }

  it("says a failure once with what failed and why, not every round; again once it changed or came back", async () => {
    const { lines, commands, housekeeping, setNext } = setup()
    for (let i = 0; i < 5; i++) await housekeeping.round()
    expect(commands).toHaveLength(5)
    expect(lines).toEqual([expect.stringMatching(/housekeeping: RemoveJob old:v1:[0-9a-f]{40} failed: .*ZooKeeper connection lost/)])

    setNext(async () => {
      throw new Error("disk on fire")
    })
    await housekeeping.round()
    await housekeeping.round()
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatch(/RemoveJob old:v1.* failed: Error: disk on fire/)

    setNext(async () => Result.succeed({ position: 7, appended: 1 }))
    await housekeeping.round()
    expect(lines).toHaveLength(3)
    expect(lines[2]).toMatch(/RemoveJob old:v1.* succeeded again/)
  })

  it("a refused command is said once with its status", async () => {
    const { lines, housekeeping, setNext } = setup()
    setNext(async () => Result.fail(new Rejection({ status: "FORBIDDEN", message: "wrong token" })))
    await housekeeping.round()
    await housekeeping.round()
    expect(lines).toEqual([expect.stringMatching(/RemoveJob old:v1.* failed: refused: FORBIDDEN: wrong token/)])
  })

  it("never says a job's token", async () => {
    const lines: string[] = []
    const guarded = aJob({ id: "secret:v1", expires: "2001-01-01T00:00:00Z", token: "s3cret" })
    const housekeeping = new Housekeeping({
      name: "m1",
      bus: {
        execute: async () => {
          throw new Error("boom")
        },
      },
      state: () => {
        const s = emptyState()
        s.jobs.set(guarded.id, guarded)
        return s
      },
      now: () => Date.UTC(2030, 0, 1),
      isLeader: async () => true,
      agentReapingTimeoutMs: 0,
      failures: new RepeatedFailureLog((line) => lines.push(line)),
    })
    await housekeeping.round()
    expect(lines).toHaveLength(1)
    expect(lines[0]).not.toContain("s3cret")
  })
})

describe("repeatWithoutOverlap", () => {
  it("hands a failing run to onError (it used to vanish) and keeps going", async () => {
    const errors: unknown[] = []
    let runs = 0
    const r = repeatWithoutOverlap(
      5,
      async () => {
        runs++
        throw new Error(`run ${runs}`)
      },
      (e) => errors.push(e),
    )
    await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(3)
    r.stop()
    expect(String(errors[0])).toMatch(/run 1/)
  })

  it("a RepeatedFailureLog says a round failing the same way once", async () => {
    const lines: string[] = []
    const failures = new RepeatedFailureLog((line) => lines.push(line))
    for (let i = 0; i < 10; i++)
      await failures.run("housekeeping round", async () => {
        throw new LogUnavailable({ reason: "not connected" })
      })
    expect(lines).toEqual([expect.stringMatching(/^helios-master: housekeeping round failed: .*not connected/)])
  })
})
