import { setImmediate as nextTurn } from "node:timers/promises"

/*
 * Long work in slices, so the event loop keeps answering requests meanwhile: a generator that
 * yields between small steps (projections/checkpoint-codec.ts, projections/snapshot.ts) is resumed
 * for at most `sliceMs` at a time, then the loop gets a turn (setImmediate: after pending I/O).
 */

/** How long one slice may run before the event loop gets a turn, in ms. */
export const SLICE_MS = 5

/** Runs `steps` to its end, giving the event loop a turn every `sliceMs`. */
export const runInSlices = async <T>(steps: Generator<void, T>, sliceMs = SLICE_MS): Promise<T> => {
  let sliceStart = performance.now()
  for (;;) {
    const r = steps.next()
    if (r.done) return r.value
    if (performance.now() - sliceStart >= sliceMs) {
      await nextTurn()
      sliceStart = performance.now()
    }
  }
}

/** Gives the event loop a turn. */
export const yieldToLoop = (): Promise<void> => nextTurn()

/**
 * For loops that write an answer piece by piece: `await pace()` after each piece gives the event
 * loop a turn once `sliceMs` have passed since the last one. Between turns it answers undefined at
 * once, not a promise: a loop over thousands of pieces (a large answer's runs) skips the await
 * with `const turn = pace(); if (turn) await turn`.
 */
export const pacer = (sliceMs = SLICE_MS): (() => Promise<void> | undefined) => {
  let sliceStart = performance.now()
  return () => {
    if (performance.now() - sliceStart < sliceMs) return undefined
    return nextTurn().then(() => {
      sliceStart = performance.now()
    })
  }
}
