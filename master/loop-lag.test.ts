import { afterEach, describe, expect, it } from "vitest"
import { LoopLag } from "./loop-lag.ts"

/** Keeps the event loop busy for `ms`, as a long task does. */
const block = (ms: number) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}
const gates: LoopLag[] = []
afterEach(() => gates.splice(0).forEach((g) => g.stop()))
const gate = (options: ConstructorParameters<typeof LoopLag>[0]) => {
  const g = new LoopLag(options)
  gates.push(g)
  g.start()
  return g
}
const turn = () => new Promise((r) => setImmediate(r))

describe("loop lag: writes held while the event loop runs late", () => {
  it("lets a write through at once while the loop is on time", async () => {
    // On time within a second: a busy test machine's scheduling hiccups do not count as late here.
    const g = gate({ probeMs: 5, busyMs: 1000 })
    await new Promise((r) => setTimeout(r, 20))
    let through = false
    void g.whenOnTime().then(() => (through = true))
    await Promise.resolve()
    expect(through).toBe(true)
    expect(g.held).toBe(0)
  })

  it("holds writes that arrive right after a long task until the loop is on time again, then lets them go a few per probe, in order", async () => {
    const g = gate({ probeMs: 5, busyMs: 5, perProbe: 2 })
    await new Promise((r) => setTimeout(r, 20))
    block(40)
    const order: number[] = []
    const writes = [0, 1, 2, 3, 4].map((i) => g.whenOnTime().then(() => order.push(i)))
    await turn()
    expect(order).toEqual([]) // the loop was 40 ms late: nothing starts yet
    await Promise.all(writes)
    expect(order).toEqual([0, 1, 2, 3, 4])
    expect(g.held).toBe(5)
  })

  it("never holds a write longer than maxHoldMs, however late the loop stays", async () => {
    const g = gate({ probeMs: 5, busyMs: 2, maxHoldMs: 100 })
    // Every millisecond the loop is kept busy for 20: every probe runs ~15 ms late.
    const hog = setInterval(() => block(20), 1)
    try {
      await new Promise((r) => setTimeout(r, 30))
      const t0 = performance.now()
      await g.whenOnTime()
      const waited = performance.now() - t0
      expect(waited).toBeGreaterThanOrEqual(90)
      expect(waited).toBeLessThan(5_000)
      expect(g.held).toBe(1)
    } finally {
      clearInterval(hog)
    }
  })

  it("stopped, it lets every held write go and holds no more", async () => {
    const g = gate({ probeMs: 5, busyMs: 5, maxHoldMs: 60_000 })
    await new Promise((r) => setTimeout(r, 20))
    block(40)
    const held = g.whenOnTime()
    g.stop()
    await held
    block(40)
    let through = false
    void g.whenOnTime().then(() => (through = true))
    await Promise.resolve()
    expect(through).toBe(true)
  })
})
