/**
 * Runs `task` every `intervalMs`, skipping a tick while the previous run is still going. A run that
 * fails is simply tried again at the next tick (the task logs what is worth telling). The timer does
 * not keep the process alive.
 */
export const repeatWithoutOverlap = (intervalMs: number, task: () => Promise<void>): { stop(): void } => {
  let busy = false
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    task()
      .catch(() => {})
      .finally(() => (busy = false))
  }, intervalMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
