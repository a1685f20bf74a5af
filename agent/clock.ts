import { MAX_TIMER_MS } from "../core/timers.ts"

/** Time as the agent sees it; tests may pass their own. Timers stay real (setTimeout). */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }


/**
 * Calls `fn` after `ms`, however long (a job's gracePeriod may be years): a delay past Node's
 * longest timer is waited out in pieces. Returns what cancels it.
 */
export const after = (ms: number, fn: () => void): (() => void) => {
  let timer: ReturnType<typeof setTimeout>
  const arm = (left: number) => {
    timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fn()), Math.min(Math.max(0, left), MAX_TIMER_MS))
  }
  arm(ms)
  return () => clearTimeout(timer)
}

/** A promise that resolves after `ms`, or early (without rejecting) when `signal` aborts. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const cancel = after(ms, done)
    function done() {
      cancel()
      signal?.removeEventListener("abort", done)
      resolve()
    }
    signal?.addEventListener("abort", done, { once: true })
  })

/**
 * A doorbell: `wait(ms, signal)` resolves after ms, on abort, or when `ring()` is called. A ring
 * while nobody waits is remembered, so an event between a check and the next wait is not lost.
 */
export class Doorbell {
  private waiter: (() => void) | undefined
  private rung = false

  ring(): void {
    if (this.waiter) this.waiter()
    else this.rung = true
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.rung || signal?.aborted) {
      this.rung = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const cancel = Number.isFinite(ms) ? after(ms, done) : undefined
      const self = this
      function done() {
        cancel?.()
        signal?.removeEventListener("abort", done)
        if (self.waiter === done) self.waiter = undefined
        self.rung = false
        resolve()
      }
      this.waiter = done
      signal?.addEventListener("abort", done, { once: true })
    })
  }
}
