/**
 * The agent's timers wait as long as they are asked to: a job's gracePeriod or a doorbell wait past
 * Node's longest timer (~24.8 days) used to end after 1 ms (setTimeout's overflow), so the grace
 * period before a stop was skipped.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { MAX_TIMER_MS } from "../core/timers.ts"
import { after, Doorbell, sleep } from "./clock.ts"

describe("the agent's timers past Node's longest", () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it("sleep, a doorbell's wait and after() end when asked, not after 1 ms; a cancelled one never", async () => {
    const long = MAX_TIMER_MS * 2 + 1_000
    let slept = false
    void sleep(long).then(() => (slept = true))
    let waited = false
    void new Doorbell().wait(long).then(() => (waited = true))
    let called = false
    after(long, () => (called = true))
    let cancelledCalled = false
    after(long, () => (cancelledCalled = true))()
    await vi.advanceTimersByTimeAsync(1_000)
    expect([slept, waited, called]).toEqual([false, false, false])
    await vi.advanceTimersByTimeAsync(long - 1_001)
    expect([slept, waited, called]).toEqual([false, false, false])
    await vi.advanceTimersByTimeAsync(1)
    expect([slept, waited, called, cancelledCalled]).toEqual([true, true, true, false])
  })
})
