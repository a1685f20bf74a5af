import type { AppendResult } from "../core/event-log.ts"
import type { EventEnvelope } from "../core/events.ts"

/*
 * The relay's memory of the facts it appended, by host and command id: while their append is in
 * the log's hands, and for a while after it landed.
 *
 * Why: an agent whose relayed append timed out cannot know whether it is still on its way (a slow
 * ZooKeeper, a master's event loop running late). Its outbox checks the host stream, finds nothing
 * yet, and sends the same facts again, often with newer ones behind them. Appended again, they
 * would be in the log twice, and the older task state after the newer one. With this memory the
 * relay waits for the facts already on their way, appends only the others after them, and answers
 * for all: each fact once, in the agent's order. It covers retries through this master (the agent
 * keeps to a master that answers); a master that crashed took its queue with it.
 */

/** Landed facts remembered (the oldest forgotten first): a retry comes within seconds of its time-out. */
const LANDED_KEPT = 16_384

export class RelayedFacts {
  private readonly pending = new Map<string, Promise<AppendResult>>()
  private readonly landed = new Map<string, AppendResult>()

  constructor(private readonly landedKept = LANDED_KEPT) {}

  private key = (host: string, commandId: string) => `${host}\u0000${commandId}`

  /**
   * Appends `events` of `host` with `append`, except those this relay already appended or is
   * appending: it waits for those first. What the agent is told: every one of its facts is in the
   * log, from the first position to the last of the appends that hold them.
   */
  async append(host: string, events: ReadonlyArray<EventEnvelope>, append: (events: ReadonlyArray<EventEnvelope>) => Promise<AppendResult>): Promise<AppendResult> {
    const keyOf = (e: EventEnvelope) => (e.commandId === undefined ? undefined : this.key(host, e.commandId))
    const earlier = new Set<Promise<AppendResult>>()
    for (const e of events) {
      const k = keyOf(e)
      const p = k === undefined ? undefined : this.pending.get(k)
      if (p !== undefined) earlier.add(p)
    }
    // An earlier append that failed wrote nothing the log could confirm: its facts go again below.
    await Promise.allSettled(earlier)
    const results: AppendResult[] = []
    const fresh: EventEnvelope[] = []
    for (const e of events) {
      const k = keyOf(e)
      const done = k === undefined ? undefined : this.landed.get(k)
      if (done !== undefined) results.push(done)
      else fresh.push(e)
    }
    if (fresh.length > 0) {
      const appending = append(fresh)
      const keys = fresh.map(keyOf).filter((k) => k !== undefined)
      for (const k of keys) this.pending.set(k, appending)
      try {
        const r = await appending
        for (const k of keys) this.remember(k, r)
        results.push(r)
      } finally {
        for (const k of keys) if (this.pending.get(k) === appending) this.pending.delete(k)
      }
    }
    return {
      firstPosition: results.reduce((a, r) => (r.firstPosition < a ? r.firstPosition : a), results[0]!.firstPosition),
      lastPosition: results.reduce((a, r) => (r.lastPosition > a ? r.lastPosition : a), results[0]!.lastPosition),
    }
  }

  private remember(key: string, r: AppendResult): void {
    this.landed.delete(key)
    this.landed.set(key, r)
    if (this.landed.size > this.landedKept) this.landed.delete(this.landed.keys().next().value!)
  }
}
