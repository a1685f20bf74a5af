/**
 * The decisions of the leader's housekeeping round (master/housekeeping.ts), as pure functions:
 * which up/down transition a host's up mark calls for, and what removing an expired job takes.
 * The round itself runs against a real ZooKeeper in master.test.ts and agent-reaper.test.ts.
 */
import { describe, expect, it } from "vitest"
import type { HostRecord } from "../core/state.ts"
import { agentId, host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { expiredJobRemoval, livenessTransition } from "./housekeeping.ts"

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
