import type { ThrottleState } from "../core/ids.ts"

/*
 * Helios's flap detection and restart delays, as pure functions. A job is FLAPPING when its last
 * `restartCount` runs together ran less than `windowMs`; the flag clears once a run has lasted
 * long enough to push the total over the window (the current run counts while it runs).
 */

export interface FlapConfig {
  /** How many recent runs are considered (Helios: 10). */
  readonly restartCount: number
  /** Their total runtime below which the job is flapping (Helios: 60 s). */
  readonly windowMs: number
}

export const DEFAULT_FLAP_CONFIG: FlapConfig = { restartCount: 10, windowMs: 60_000 }

/** Durations of the most recent finished runs, oldest first (at most restartCount). */
export interface FlapHistory {
  readonly runtimes: ReadonlyArray<number>
}

export const emptyFlapHistory: FlapHistory = { runtimes: [] }

export const recordRun = (h: FlapHistory, runtimeMs: number, cfg: FlapConfig): FlapHistory => ({
  runtimes: [...h.runtimes, Math.max(0, runtimeMs)].slice(-cfg.restartCount),
})

/**
 * Flapping = the last `restartCount` finished runs total less than the window. A run still going on
 * can only clear the flag: once it has lasted long enough to push the total over the window, the
 * job is no longer flapping (it is what recording that run will do).
 */
export const isFlapping = (h: FlapHistory, cfg: FlapConfig, currentRunMs?: number): boolean => {
  const sum = (runs: ReadonlyArray<number>) => runs.reduce((a, b) => a + b, 0)
  if (h.runtimes.length < cfg.restartCount || sum(h.runtimes) >= cfg.windowMs) return false
  if (currentRunMs === undefined) return true
  return sum([...h.runtimes, currentRunMs].slice(-cfg.restartCount)) < cfg.windowMs
}

/** Restart delays per throttle (Helios's RestartPolicy); the effective delay is max(minimum, x). */
export interface RestartDelays {
  readonly minimumMs: number
  readonly normalMs: number
  readonly flappingMs: number
  readonly imageMissingMs: number
  readonly imagePullFailedMs: number
}

export const DEFAULT_RESTART_DELAYS: RestartDelays = {
  minimumMs: 1_000,
  normalMs: 100,
  flappingMs: 30_000,
  imageMissingMs: 120_000,
  imagePullFailedMs: 30_000,
}

export const restartDelay = (throttle: ThrottleState, d: RestartDelays): number => {
  const x =
    throttle === "FLAPPING"
      ? d.flappingMs
      : throttle === "IMAGE_MISSING"
        ? d.imageMissingMs
        : throttle === "IMAGE_PULL_FAILED"
          ? d.imagePullFailedMs
          : d.normalMs
  return Math.max(d.minimumMs, x)
}
