/**
 * When a master writes its snapshot (master/snapshot-schedule.ts): the interval rule and the count
 * of new events, as pure functions. Writing and loading run on real files in snapshots.test.ts.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { StorageFailed } from "../core/event-log.ts"
import { snapshotDue, snapshotFailure, snapshotInterval } from "./snapshot-schedule.ts"

describe("snapshotInterval", () => {
  it("is 10,000 events up to a log of 100,000, then a tenth of the log", () => {
    expect(snapshotInterval(0)).toBe(10_000)
    expect(snapshotInterval(100_000)).toBe(10_000)
    expect(snapshotInterval(100_009)).toBe(10_000)
    expect(snapshotInterval(250_000)).toBe(25_000)
    expect(snapshotInterval(1_000_000)).toBe(100_000)
  })

  it("is the configured number when there is one, whatever the log's length", () => {
    expect(snapshotInterval(0, 1)).toBe(1)
    expect(snapshotInterval(5_000_000, 500)).toBe(500)
  })
})

describe("snapshotDue", () => {
  it("writes once `every` events were applied since the last snapshot, and counts from there", () => {
    expect(snapshotDue(100, 199, 100)).toEqual({ write: false, countFrom: 100 })
    expect(snapshotDue(100, 200, 100)).toEqual({ write: true, countFrom: 200 })
  })

  it("counts again from a projection rebuilt below the last snapshot (after a divergence)", () => {
    expect(snapshotDue(500, 300, 100)).toEqual({ write: false, countFrom: 300 })
    expect(snapshotDue(300, 399, 100)).toEqual({ write: false, countFrom: 300 })
  })

  it("never writes a snapshot with fewer than `every` new events since the last one", () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(10_000), fc.integer({ min: 1, max: 1_000 }), (lastAt, position, every) => {
        const { write, countFrom } = snapshotDue(lastAt, position, every)
        expect(countFrom).toBeLessThanOrEqual(position)
        expect(write).toBe(position - Math.min(lastAt, position) >= every)
        if (write) expect(countFrom).toBe(position)
      }),
    )
  })
})

describe("snapshotFailure", () => {
  it("names a failing disk by its reason and code, anything else by its message", () => {
    expect(snapshotFailure(new StorageFailed({ reason: "read-only file system", code: "EROFS" }))).toBe("read-only file system, EROFS")
    expect(snapshotFailure(new Error("ZooKeeper connection lost"))).toBe("ZooKeeper connection lost")
  })
})
