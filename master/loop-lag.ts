/*
 * How late this process's event loop runs, and a gate that holds new write work while it runs late.
 *
 * Why: a master busy with writes (commands, agents' relayed facts) runs them back to back and a
 * read arriving meanwhile waits for all of them: during a 1,000-agent rollout driven by 64 clients
 * the API's p99 was 110-160 ms, for answers that take a millisecond. Node cannot preempt, but it can
 * decline to START more writes while the loop is late: reads are never held, so they get the loop
 * back within a few ms, and writes proceed as fast as the loop keeps up (a write is held at most
 * `maxHoldMs`, so overload still ends in progress, never a stall).
 */

/** No write for this long (ms): the loop is no longer probed until the next one. */
const IDLE_MS = 1000

export interface LoopLagOptions {
  /** How often the loop is probed, ms. */
  readonly probeMs?: number
  /** Late by more than this (ms) counts as busy. */
  readonly busyMs?: number
  /** A write is held at most this long (ms), then let through anyway. */
  readonly maxHoldMs?: number
  /** Held writes let through per probe that finds the loop on time. */
  readonly perProbe?: number
  /** Told how long (ms) each held write waited. */
  readonly onHeld?: (ms: number) => void
}

export class LoopLag {
  private readonly probeMs: number
  private readonly busyMs: number
  private readonly maxHoldMs: number
  private readonly perProbe: number
  private readonly onHeld: ((ms: number) => void) | undefined
  private running = false
  /** Set while probing; an idle master (no write for IDLE_MS) does not probe: no timer 200 times a second for nothing. */
  private timer: NodeJS.Timeout | undefined
  private lastWriteAt = 0
  private expectedAt = 0
  /** How late the last probe ran (ms). */
  private lateMs = 0
  private waiting: Array<() => void> = []
  /** Writes held so far. */
  held = 0

  constructor(options: LoopLagOptions = {}) {
    this.probeMs = options.probeMs ?? 5
    // 5 ms late and 8 writes per on-time probe (every 5 ms): bench/fleet.ts at 1,000 agents, API
    // p99 39-41 ms and the rollout in 33 s; 4 per probe gave 22-25 ms and 45 s; 10 ms late, 47-90 ms.
    this.busyMs = options.busyMs ?? 5
    this.maxHoldMs = options.maxHoldMs ?? 1000
    this.perProbe = options.perProbe ?? 8
    this.onHeld = options.onHeld
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.lastWriteAt = performance.now()
    this.probeSoon()
  }

  stop(): void {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    for (const w of this.waiting.splice(0)) w()
  }

  private probeSoon(): void {
    this.expectedAt = performance.now() + this.probeMs
    this.timer = setTimeout(() => this.probe(), this.probeMs)
    this.timer.unref()
  }

  private probe(): void {
    const now = performance.now()
    this.lateMs = Math.max(0, now - this.expectedAt)
    if (this.waiting.length === 0 && now - this.lastWriteAt > IDLE_MS) {
      this.timer = undefined // idle: the next write starts probing again
      return
    }
    this.probeSoon()
    if (this.lateMs <= this.busyMs) this.release()
  }

  /** Whether the loop runs late: the last probe ran late, or the next one is overdue (a long task just ran). */
  get late(): boolean {
    return this.timer !== undefined && (this.lateMs > this.busyMs || performance.now() - this.expectedAt > this.busyMs)
  }

  /**
   * Resolves at once when the loop is on time (or not probed) and no write is held, else in turn
   * once it is on time again, at most maxHoldMs later.
   */
  whenOnTime(): Promise<void> {
    if (!this.running) return Promise.resolve()
    this.lastWriteAt = performance.now()
    if (!this.timer) {
      // Not probed while idle: nothing says the loop is late; probe from now on.
      this.lateMs = 0
      this.probeSoon()
      return Promise.resolve()
    }
    if (!this.late && this.waiting.length === 0) return Promise.resolve()
    const since = performance.now()
    return new Promise<void>((resolve) => {
      const release = () => {
        clearTimeout(cap)
        this.held++
        this.onHeld?.(performance.now() - since)
        resolve()
      }
      const cap = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== release)
        release()
      }, this.maxHoldMs)
      cap.unref()
      this.waiting.push(release)
    })
  }

  /** A few held writes go per on-time probe: the loop gets a look at what arrived before the next few. */
  private release(): void {
    for (const next of this.waiting.splice(0, this.perProbe)) next()
  }
}
