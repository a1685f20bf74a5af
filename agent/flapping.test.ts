import { describe, expect, it } from "vitest"
import { DEFAULT_FLAP_CONFIG, DEFAULT_RESTART_DELAYS, emptyFlapHistory, isFlapping, recordRun, restartDelay } from "./flapping.ts"

const cfg = DEFAULT_FLAP_CONFIG
const runs = (...ms: number[]) => ms.reduce((h, m) => recordRun(h, m, cfg), emptyFlapHistory)

describe("flap detection (Helios: last 10 runs total < 60 s)", () => {
  it("is not flapping with fewer than 10 runs, however short", () => {
    expect(isFlapping(runs(...Array(9).fill(0)), cfg)).toBe(false)
  })

  it("is flapping once the last 10 runs total less than the window", () => {
    expect(isFlapping(runs(...Array(10).fill(100)), cfg)).toBe(true)
    expect(isFlapping(runs(...Array(10).fill(5_999)), cfg)).toBe(true)
    expect(isFlapping(runs(...Array(10).fill(6_000)), cfg)).toBe(false)
  })

  it("only the last 10 runs count", () => {
    const h = runs(60_000, ...Array(10).fill(10))
    expect(h.runtimes).toHaveLength(10)
    expect(isFlapping(h, cfg)).toBe(true)
  })

  it("clears itself when one run lasts long enough, even while it is still running", () => {
    const h = runs(...Array(10).fill(10))
    expect(isFlapping(h, cfg, 1_000)).toBe(true)
    expect(isFlapping(h, cfg, 60_000)).toBe(false)
    expect(isFlapping(recordRun(h, 60_000, cfg), cfg)).toBe(false)
  })

  it("honours a configured count and window", () => {
    const small = { restartCount: 3, windowMs: 1_000 }
    const h = [100, 100, 100].reduce((x, m) => recordRun(x, m, small), emptyFlapHistory)
    expect(isFlapping(h, small)).toBe(true)
  })
})

describe("restart delays (Helios's RestartPolicy)", () => {
  it("uses max(minimum, delay of the throttle)", () => {
    expect(restartDelay("NO", DEFAULT_RESTART_DELAYS)).toBe(1_000)
    expect(restartDelay("FLAPPING", DEFAULT_RESTART_DELAYS)).toBe(30_000)
    expect(restartDelay("IMAGE_MISSING", DEFAULT_RESTART_DELAYS)).toBe(120_000)
    expect(restartDelay("IMAGE_PULL_FAILED", DEFAULT_RESTART_DELAYS)).toBe(30_000)
    expect(restartDelay("NO", { ...DEFAULT_RESTART_DELAYS, minimumMs: 10 })).toBe(100)
  })
})
