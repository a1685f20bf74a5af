import { describe, expect, it } from "vitest"
import { Seats } from "./seats.ts"

const deferred = () => {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

describe("command seats", () => {
  it("run at most `size` tasks at once; the others start in arrival order as seats free, even when a task fails", async () => {
    const seats = new Seats(2)
    const gates = Array.from({ length: 5 }, deferred)
    const started: number[] = []
    const runs = gates.map((gate, i) =>
      seats.run(async () => {
        started.push(i)
        await gate.promise
        if (i === 0) throw new Error("task 0 fails")
        return i
      }),
    )
    const settle = () => new Promise((r) => setImmediate(r))
    await settle()
    expect(started).toEqual([0, 1])
    expect(seats.waiting).toBe(3)
    gates[0]!.resolve() // fails: its seat goes to the next in line all the same
    await expect(runs[0]).rejects.toThrow("task 0 fails")
    await settle()
    expect(started).toEqual([0, 1, 2])
    gates[2]!.resolve()
    gates[1]!.resolve()
    await settle()
    expect(started).toEqual([0, 1, 2, 3, 4])
    gates[3]!.resolve()
    gates[4]!.resolve()
    expect(await Promise.all(runs.slice(1))).toEqual([1, 2, 3, 4])
    expect(seats.waiting).toBe(0)
    // All seats free again: the next two start at once.
    const more = [deferred(), deferred()]
    const later = more.map((g, i) => seats.run(async () => (started.push(10 + i), await g.promise)))
    await settle()
    expect(started.slice(-2)).toEqual([10, 11])
    more.forEach((g) => g.resolve())
    await Promise.all(later)
  })
})
