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
 * loop a turn once `sliceMs` have passed since the last one.
 */
export const pacer = (sliceMs = SLICE_MS): (() => Promise<void>) => {
  let sliceStart = performance.now()
  return async () => {
    if (performance.now() - sliceStart < sliceMs) return
    await nextTurn()
    sliceStart = performance.now()
  }
}
