/**
 * The leader's rollout driver on a fleet in memory (test/rollout-sim.ts: the real decide and fold)
 * with fake timers: how often it runs commands while a step waits, and while the log is down.
 */
import { Result } from "effect"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import type { Command, CommandContext } from "../core/commands.ts"
import { aJob } from "../test/fixtures.ts"
import { RolloutSim } from "../test/rollout-sim.ts"
import { RolloutDriver } from "./rollout-driver.ts"

const DAY_MS = 24 * 3600_000

/** One web host and group `g` rolling out web:v1 with `timeout` (s), waiting for it to run. */
const waitingRollout = (timeout: number) => {
  const sim = new RolloutSim()
  sim.now = Date.now()
  sim.addHost("h1", { role: "web" })
  const v1 = sim.createJob(aJob({ id: "web:v1" }))
  sim.ok({ _tag: "CreateDeploymentGroup", group: { name: "g", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
  sim.ok({ _tag: "StartRollout", group: "g", jobId: v1, options: { timeout }, labels: sim.hostLabels })
  sim.advance("g")
  return { sim, status: () => sim.state.groups.get("g")!.rollout!.status }
}

/** A leading driver over `sim` whose commands are decided at the driver's time; `down` makes appends throw. */
const driverOver = (sim: RolloutSim) => {
  const attempts: number[] = []
  const log = { down: false }
  const bus = {
    execute: async (command: Command, context: CommandContext | (() => CommandContext)) => {
      attempts.push(Date.now())
      if (log.down) throw new Error("log unavailable")
      const ctx = typeof context === "function" ? context() : context
      sim.now = ctx.now
      const r = sim.exec(command, "master")
      return Result.isSuccess(r) ? Result.succeed({ position: sim.state.position, appended: r.success.length }) : Result.fail(r.failure)
    },
  }
  const driver = new RolloutDriver({
    name: "m",
    bus,
    state: () => sim.state,
    history: () => sim.history,
    now: () => Date.now(),
    hostLabels: async () => sim.hostLabels,
    log: () => {},
    random: () => 0.5,
  })
  driver.setLeading(true)
  return { driver, attempts, log }
}

describe("the rollout driver", () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.setSystemTime(1_700_000_000_000)
  })
  afterEach(() => vi.useRealTimers())

  it("waits quietly for a step deadline beyond Node's longest timer (~24.8 days), and times the step out when it comes", async () => {
    const { sim, status } = waitingRollout(30 * 24 * 3600)
    const { driver, attempts } = driverOver(sim)
    await vi.advanceTimersByTimeAsync(1_000)
    // One look at the rollout, then nothing until the deadline (a timer overflowing to 1 ms spun here).
    expect(attempts).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(30 * DAY_MS)
    expect(status()).toBe("FAILED")
    expect(attempts.length).toBeLessThanOrEqual(3)
    driver.stop()
  })

  it("backs off while the log is down past a step deadline, and advances again once it is back", async () => {
    const { sim, status } = waitingRollout(10)
    vi.setSystemTime(Date.now() + 60_000) // the step's deadline has passed
    const { driver, attempts, log } = driverOver(sim)
    log.down = true
    await vi.advanceTimersByTimeAsync(60_000)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!)
    // Doubling from tens of ms up to 5 s: ~20 attempts a minute, not one every 5 ms.
    expect(attempts.length).toBeLessThan(30)
    expect(gaps[0]).toBeLessThan(100)
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(gaps[i - 1]!)
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5_005)

    log.down = false
    await vi.advanceTimersByTimeAsync(5_005)
    expect(status()).toBe("FAILED") // the timed-out step, recorded once the log took it

    // A success resets the back-off: the next outage starts again from the shortest wait.
    sim.now = Date.now()
    sim.ok({ _tag: "StartRollout", group: "g", jobId: sim.createJob(aJob({ id: "web:v2" })), options: { timeout: 1 }, labels: sim.hostLabels })
    sim.advance("g")
    vi.setSystemTime(Date.now() + 2_000)
    log.down = true
    const from = attempts.length
    driver.poke()
    await vi.advanceTimersByTimeAsync(200)
    expect(attempts.length - from).toBeGreaterThanOrEqual(2)
    expect(attempts[from + 1]! - attempts[from]!).toBeLessThan(100)
    driver.stop()
  })
})
