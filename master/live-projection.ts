import type { EventLog, Unsubscribe } from "../core/event-log.ts"
import type { StoredEvent } from "../core/events.ts"
import { position } from "../core/ids.ts"
import { applyToReadModel, emptyReadModel, type ReadModel } from "../projections/read-model.ts"

/**
 * The master's in-memory read model, kept current by following the log. Reads wait on it for a
 * position (read-your-writes across masters); commands decide against it.
 */
export class LiveProjection {
  private unsubscribe: Unsubscribe | undefined
  private waiters: Array<{ position: number; resolve: (reached: boolean) => void }> = []
  private listeners = new Set<(events: ReadonlyArray<StoredEvent>) => void>()

  constructor(
    private readonly log: EventLog,
    readonly model: ReadModel = emptyReadModel(),
  ) {}

  get position(): number {
    return this.model.state.position
  }

  start(): void {
    this.unsubscribe = this.log.subscribe(position(this.position), (events) => {
      for (const e of events) applyToReadModel(this.model, e)
      const reached = this.waiters.filter((w) => w.position <= this.position)
      this.waiters = this.waiters.filter((w) => w.position > this.position)
      for (const w of reached) w.resolve(true)
      for (const l of this.listeners) l(events)
    })
  }

  /** Resolves true once the model has applied `p`, false after `timeoutMs`. */
  waitFor(p: number, timeoutMs: number): Promise<boolean> {
    if (p <= this.position) return Promise.resolve(true)
    return new Promise((resolve) => {
      const waiter = { position: p, resolve }
      this.waiters.push(waiter)
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        resolve(p <= this.position)
      }, timeoutMs).unref()
    })
  }

  /** Waits until the model has applied everything the log holds now. */
  async catchUp(timeoutMs: number): Promise<boolean> {
    return this.waitFor(await this.log.head(), timeoutMs)
  }

  /** Live events as they are applied (for /events followers). */
  onEvents(listener: (events: ReadonlyArray<StoredEvent>) => void): Unsubscribe {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  stop(): void {
    this.unsubscribe?.()
    for (const w of this.waiters) w.resolve(false)
    this.waiters = []
  }
}
