/**
 * Delivers a log's events to one subscriber in order, never concurrently: catch up from a
 * position, then read again whenever `wake()` is called (a watch fired, an append landed, a timer).
 */
export interface Follower {
  wake(): void
  stop(): void
}

/** How soon a wake-up that met a failed read is tried again. */
const WAKE_RETRY_MS = 100

export const follow = <E>(options: {
  readonly after: number
  readonly read: (after: number) => Promise<ReadonlyArray<E>>
  readonly positionOf: (event: E) => number
  readonly deliver: (events: ReadonlyArray<E>) => void | Promise<void>
  readonly onError?: (error: unknown) => void
  /** Polls this often as a safety net besides wake-ups, in ms. */
  readonly pollMs?: number
}): Follower => {
  let after = options.after
  let running = false
  let again = false
  let stopped = false
  const pump = async (): Promise<void> => {
    if (running) {
      again = true
      return
    }
    running = true
    try {
      do {
        again = false
        for (;;) {
          if (stopped) return
          const events = await options.read(after)
          if (stopped || events.length === 0) break
          await options.deliver(events)
          after = options.positionOf(events[events.length - 1]!)
        }
      } while (again && !stopped)
    } catch (error) {
      options.onError?.(error)
      // A wake-up that came during the failed read is not dropped until the next poll (up to 10 s
      // for the log's followers): it is tried again shortly, not at once (the error may last).
      if (again && !stopped) setTimeout(() => void pump(), WAKE_RETRY_MS).unref()
    } finally {
      running = false
    }
  }
  const timer = setInterval(() => void pump(), options.pollMs ?? 1000)
  timer.unref()
  void pump()
  return {
    wake: () => void pump(),
    stop: () => {
      stopped = true
      clearInterval(timer)
    },
  }
}
