/**
 * Runs `task` every `intervalMs`, skipping a tick while the previous run is still going. A run that
 * fails is handed to `onError` and tried again at the next tick. The timer does not keep the
 * process alive.
 */
export const repeatWithoutOverlap = (intervalMs: number, task: () => Promise<void>, onError: (error: unknown) => void): { stop(): void } => {
  let busy = false
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    task()
      .catch(onError)
      .finally(() => (busy = false))
  }, intervalMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
