import { Data } from "effect"
import { LogUnavailable, wrapLog, type EventLog, type UndecodableEvent, type Unsubscribe } from "../core/event-log.ts"
import type { EventEnvelope, StoredEvent } from "../core/events.ts"
import { position } from "../core/ids.ts"
import type { FleetState } from "../core/state.ts"
import { applyToReadModel, emptyReadModel, type ReadModel } from "../projections/read-model.ts"

/**
 * This master's projection disagrees with the log: the log ends below what it applied, or holds
 * another event at a position it applied (a ZooKeeper that lost acknowledged writes, issue 17).
 */
export interface Divergence {
  /** The position this master had applied when it found out. */
  readonly position: number
  /** The log's last position then; -1 until it is read (the log may be unreachable). */
  readonly logPosition: number
  readonly reason: string
  /** Epoch ms. */
  readonly since: number
}

/**
 * The log holds an event this master cannot decode (garbage, a schema violation, a newer schema
 * version): the projection holds before it (later events may depend on it) until an operator
 * upgrades this master or tells it to skip that position.
 */
export interface Undecodable {
  /** The first position that cannot be decoded. */
  readonly position: number
  /** Its last position (a batch takes several). */
  readonly through: number
  /** Names the field or the version. */
  readonly reason: string
  /** Epoch ms. */
  readonly since: number
}

/** A write refused because the state it would be decided on is known to be incomplete. */
export class HeldAtUndecodableEvent extends Data.TaggedError("HeldAtUndecodableEvent")<{
  readonly position: number
  readonly reason: string
}> {}

export interface LiveProjectionOptions {
  /** How often the projection checks that the log still holds what it applied, in ms (0: never). */
  readonly checkIntervalMs?: number
  /**
   * Positions of undecodable events to skip (the master's --skip-undecodable): only an undecodable
   * event starting at one of them is passed over, with a log line; any other one holds the projection.
   */
  readonly skipUndecodable?: ReadonlyArray<number>
  /** Told of every event applied, with the state after it (master/checkpoints.ts keeps copies of it). */
  readonly follower?: ProjectionFollower
}

/** Follows the projection event by event (its checkpoints for temporal queries). */
export interface ProjectionFollower {
  /** `state` has just applied `e`; it changes on with the next event (copy what you keep). */
  applied(state: FleetState, e: StoredEvent): void
  /** The projection is rebuilt from position 0 (after a divergence): what was learnt of the log may be wrong. */
  restarted(): void
}

/** What a check verifies, taken when it was asked for. */
interface CheckCapture {
  readonly trigger: string
  readonly generation: number
  readonly applied: number
  readonly probes: ReadonlyArray<{ readonly p: number; readonly envelope: EventEnvelope | undefined }>
}

/** How many of the last applied events are remembered to compare with the log (bounded memory). */
const RECENT = 1024

/**
 * Same event, by the fields that tell two writes apart cheaply: the envelope's and the event's
 * scalar fields (no hashing, no allocation). Only checks call it, never the fold.
 */
const sameEnvelope = (a: EventEnvelope, b: EventEnvelope): boolean => {
  if (a.at !== b.at || a.commandId !== b.commandId || a.actor.kind !== b.actor.kind || a.actor.name !== b.actor.name) return false
  const x = a.event as unknown as Record<string, unknown>
  const y = b.event as unknown as Record<string, unknown>
  for (const key in x) {
    const value = x[key]
    if ((typeof value !== "object" || value === null) && value !== y[key]) return false
  }
  return true
}

/**
 * The master's in-memory read model, kept current by following the log. Reads wait on it for a
 * position (read-your-writes across masters); commands decide against it.
 *
 * It also checks that the log still holds what it applied: a log that ends below the applied
 * position, or another event at an applied position, makes it DIVERGED at once (health 503,
 * appends refused, a loud log line); it then rebuilds from the log aside and swaps the rebuilt
 * model in once it has caught up, healthy again at the log's position.
 */
export class LiveProjection {
  private current: ReadModel
  private unsubscribe: Unsubscribe | undefined
  private waiters: Array<{ position: number; resolve: (reached: boolean) => void }> = []
  private listeners = new Set<(events: ReadonlyArray<StoredEvent>) => void>()
  private divergenceListeners = new Set<() => void>()
  /** The last RECENT applied envelopes, in a ring by position (slot p % RECENT holds p or an older one). */
  private readonly recentPositions = new Float64Array(RECENT).fill(-1)
  private readonly recentEnvelopes: Array<EventEnvelope | undefined> = new Array(RECENT).fill(undefined)
  private divergence: Divergence | undefined
  /** While diverged: the model being rebuilt, and the log position it must reach before it is swapped in. */
  private rebuilding: { model: ReadModel; target: number | undefined } | undefined
  /** Bumped on every (re)subscription: deliveries and checks of an older one are dropped. */
  private generation = 0
  /** The checks waiting (see check), whether they are being run, and when that run ends. */
  private checking = false
  private checksDone: Promise<void> = Promise.resolve()
  private pendingChecks: CheckCapture[] = []
  /** The applied position the last passing check verified: the next check verifies it again. */
  private checkpoint = 0
  private timer: NodeJS.Timeout | undefined
  private readonly checkIntervalMs: number
  private held: Undecodable | undefined
  private readonly skipUndecodable: ReadonlySet<number>
  private readonly follower: ProjectionFollower | undefined

  constructor(
    private readonly log: EventLog,
    model: ReadModel = emptyReadModel(),
    options: LiveProjectionOptions = {},
  ) {
    this.current = model
    this.checkIntervalMs = options.checkIntervalMs ?? 10_000
    this.skipUndecodable = new Set(options.skipUndecodable ?? [])
    this.follower = options.follower
  }

  get model(): ReadModel {
    return this.current
  }

  get position(): number {
    return this.current.state.position
  }

  /** Set while this master's projection disagrees with the log (until the rebuild is swapped in). */
  get diverged(): Divergence | undefined {
    return this.divergence
  }

  /** Set while the projection holds before an event it cannot decode (reads are stale, writes refused). */
  get undecodable(): Undecodable | undefined {
    return this.held
  }

  /** Throws HeldAtUndecodableEvent while held: no decision on a state known to be incomplete. */
  refuseWritesIfHeld(): void {
    const held = this.held
    if (held) throw new HeldAtUndecodableEvent({ position: held.position, reason: held.reason })
  }

  /** While diverged: how far the rebuild from the log has come. */
  get rebuildPosition(): number | undefined {
    return this.rebuilding?.model.state.position
  }

  start(): void {
    this.follow(this.position)
    if (this.checkIntervalMs > 0) {
      this.timer = setInterval(() => void this.check("periodic check"), this.checkIntervalMs)
      this.timer.unref()
    }
  }

  private follow(after: number): void {
    const generation = ++this.generation
    this.unsubscribe = this.log.subscribe(
      position(after),
      (events) => {
        if (generation === this.generation) this.deliver(events)
      },
      (error) => {
        if (generation === this.generation) this.meetUndecodable(error)
      },
    )
  }

  /**
   * The log holds an event this build cannot decode right after what was applied. Skipping it
   * silently could corrupt the state (later events may depend on it), so the projection holds
   * there, says so once, and serves the state before it; only a position the operator named is
   * skipped (its stream bumps still counted, so later appends' expected versions stay right).
   */
  private meetUndecodable(error: UndecodableEvent): void {
    const model = this.rebuilding?.model ?? this.current
    const where = error.through > error.position ? `positions ${error.position}..${error.through}` : `position ${error.position}`
    if (this.skipUndecodable.has(error.position)) {
      console.error(
        `helios-master: SKIPPED the undecodable event at ${where} as told by --skip-undecodable ${error.position}: ${error.reason}. ` +
          `This master's projection no longer holds what it said; every master must skip the same positions.`,
      )
      const state = model.state
      for (const stream of error.bumped) state.versions.set(stream, (state.versions.get(stream) ?? -1) + 1)
      state.position = position(Math.max(state.position, error.through))
      if (this.held?.position === error.position) this.held = undefined
      this.unsubscribe?.()
      this.follow(state.position)
      if (this.rebuilding) return this.maybeSwapIn()
      this.resolveWaiters()
      return
    }
    if (this.held?.position === error.position) return
    this.held = { position: error.position, through: error.through, reason: error.reason, since: Date.now() }
    console.error(
      `helios-master: UNDECODABLE_EVENT: the event log holds at ${where} an event this master cannot decode: ${error.reason}. ` +
        `The projection stops before it (applied up to ${model.state.position}; later events may depend on it): ` +
        `/healthz answers 503, reads are served from that state (Helios-Stale header), writes answer 503. ` +
        `Upgrade this master to a version that knows this event (the normal fix), or, to give it up, ` +
        `restart every master with --skip-undecodable ${error.position}.`,
    )
    // It cannot get past it: stop reading the log (a restart, upgraded or told to skip, goes on).
    this.unsubscribe?.()
    this.unsubscribe = undefined
    for (const w of this.waiters) w.resolve(false)
    this.waiters = []
  }

  private deliver(events: ReadonlyArray<StoredEvent>): void {
    const model = this.rebuilding?.model ?? this.current
    const first = events[0]!.position
    if (first !== model.state.position + 1) {
      const what = first <= model.state.position ? "again" : "after a gap"
      this.diverge(model.state.position, `the log delivered position ${first} ${what} (applied up to ${model.state.position})`)
      return
    }
    const follower = this.follower
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!
      applyToReadModel(model, e)
      follower?.applied(model.state, e)
      const slot = e.position % RECENT
      this.recentPositions[slot] = e.position
      this.recentEnvelopes[slot] = e.envelope
    }
    if (this.rebuilding) return this.maybeSwapIn()
    this.resolveWaiters()
    for (const l of this.listeners) l(events)
  }

  private resolveWaiters(): void {
    if (this.waiters.length === 0) return
    const reached = this.waiters.filter((w) => w.position <= this.position)
    this.waiters = this.waiters.filter((w) => w.position > this.position)
    for (const w of reached) w.resolve(true)
  }

  private recentAt(p: number): EventEnvelope | undefined {
    const slot = p % RECENT
    return this.recentPositions[slot] === p ? this.recentEnvelopes[slot] : undefined
  }

  /**
   * Checks that the log still holds what this projection applied: the log's end is not below the
   * applied position, and the events at the applied position and at the last checked one are the
   * ones applied. Call it when the log may have changed under us (the ZooKeeper session was
   * re-established: a server that lost data is only ever met after a reconnect). The positions are
   * taken now, before any event read after the reconnect is applied. Never rejects; a log that
   * cannot be reached is checked at the next occasion.
   */
  check(trigger: string): Promise<void> {
    if (this.divergence) return Promise.resolve()
    const applied = this.position
    const probes = [...new Set([applied, this.checkpoint])]
      .filter((p) => p > 0)
      .map((p) => ({ p, envelope: this.recentAt(p) }))
    const capture: CheckCapture = { trigger, generation: this.generation, applied, probes }
    // The oldest capture not verified yet stays first (it is the one from before a loss); the
    // newest request replaces any other waiting one.
    if (this.pendingChecks.length < 2) this.pendingChecks.push(capture)
    else this.pendingChecks[1] = capture
    if (!this.checking) {
      this.checking = true
      this.checksDone = this.runChecks()
    }
    return this.checksDone
  }

  private async runChecks(): Promise<void> {
    try {
      while (this.pendingChecks.length > 0 && !this.divergence) {
        const capture = this.pendingChecks[0]!
        try {
          if (capture.generation === this.generation) await this.verify(capture)
        } catch (error) {
          // ZooKeeper away: keep it for the next occasion (the reconnect triggers one).
          if (error instanceof LogUnavailable) return
          console.error(`helios-master: could not check the event log (${capture.trigger}): ${String(error)}`)
        }
        this.pendingChecks.shift()
      }
    } finally {
      this.checking = false
    }
  }

  private async verify({ trigger, generation, applied, probes }: CheckCapture): Promise<void> {
    const logPosition = await this.log.head()
    if (generation !== this.generation) return
    if (logPosition < applied)
      return this.diverge(applied, `the log ends at position ${logPosition}, below position ${applied} this master applied (${trigger})`, logPosition)
    for (const { p, envelope } of probes) {
      // Not remembered (older than the last RECENT events, or loaded from a snapshot): its
      // existence is checked by the head above.
      if (envelope === undefined) continue
      const [found] = await this.log.read(position(p - 1), 1)
      if (generation !== this.generation) return
      if (found === undefined || found.position !== p) {
        // The log shrank between the head read above and this read: read where it ends now.
        const now = await this.log.head()
        if (generation !== this.generation) return
        return this.diverge(applied, `position ${p}, which this master applied, is missing from the log (${trigger})`, now)
      }
      if (!sameEnvelope(found.envelope, envelope))
        return this.diverge(
          applied,
          `the log holds another event at position ${p} than the one this master applied ` +
            `(${found.envelope.event._tag} by ${found.envelope.actor.kind}:${found.envelope.actor.name} instead of ` +
            `${envelope.event._tag} by ${envelope.actor.kind}:${envelope.actor.name}) (${trigger})`,
        )
    }
    this.checkpoint = applied
  }

  /**
   * The log answered an append of ours with positions this projection had already applied: they
   * must hold exactly the events just appended (our follower was quicker than the reply), or the
   * log gave out again positions it had lost.
   */
  private checkAppended(first: number, events: ReadonlyArray<EventEnvelope>): void {
    const applied = this.position
    if (this.divergence || first > applied) return
    for (let i = 0; i < events.length && first + i <= applied; i++) {
      const envelope = this.recentAt(first + i)
      if (envelope === undefined) {
        // Too old to be remembered: let the log tell.
        void this.check(`an append got position ${first + i}, already applied`)
        return
      }
      if (!sameEnvelope(envelope, events[i]!)) {
        this.diverge(applied, `the log gave position ${first + i}, already applied with another event, to a new append`)
        return
      }
    }
  }

  /**
   * The log, as appends should see it: refused while diverged (a decision on a divergent
   * projection must not be written), and every result checked against what was applied.
   */
  guard(log: EventLog): EventLog {
    return wrapLog(log, {
      append: async (events, options) => {
        this.refuseWritesIfHeld()
        const d = this.divergence
        if (d) throw new LogUnavailable({ reason: `this master's projection diverged from the log (${d.reason}); rebuilding from the log` })
        const result = await log.append(events, options)
        this.checkAppended(result.firstPosition, events)
        return result
      },
    })
  }

  private diverge(applied: number, reason: string, logPosition?: number): void {
    if (this.divergence) return
    this.divergence = { position: applied, logPosition: logPosition ?? -1, reason, since: Date.now() }
    for (const l of this.divergenceListeners) l()
    console.error(
      `helios-master: DIVERGED: this master's projection disagrees with the event log: ${reason}. ` +
        `It had applied position ${applied}. Acknowledged events may have been lost by ZooKeeper ` +
        `(versions before 3.9.4 can lose committed transactions when servers crash). ` +
        `Health is 503 and writes are refused until the projection is rebuilt from the log.`,
    )
    this.unsubscribe?.()
    // The rebuild must read what the log holds now, not what this process remembers it wrote.
    this.log.distrustMemory?.()
    this.held = undefined // the rebuild meets it again if the log still holds it
    this.pendingChecks = []
    this.recentPositions.fill(-1)
    this.recentEnvelopes.fill(undefined)
    this.checkpoint = 0
    this.rebuilding = { model: emptyReadModel(), target: undefined }
    this.follower?.restarted()
    this.follow(0)
    void this.learnRebuildTarget(this.generation)
  }

  /** The log's head when the rebuild started (and the divergence's logPosition, if not known yet). */
  private async learnRebuildTarget(generation: number): Promise<void> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      if (generation !== this.generation || !this.rebuilding) return
      try {
        const head = await this.log.head()
        if (generation !== this.generation || !this.rebuilding) return
        this.rebuilding.target = head
        if (this.divergence && this.divergence.logPosition < 0) this.divergence = { ...this.divergence, logPosition: head }
        return this.maybeSwapIn()
      } catch {
        await new Promise((resolve) => setTimeout(resolve, delay).unref())
      }
    }
  }

  private maybeSwapIn(): void {
    const rebuilding = this.rebuilding
    if (!rebuilding || rebuilding.target === undefined || rebuilding.model.state.position < rebuilding.target) return
    const was = this.divergence
    this.current = rebuilding.model
    this.rebuilding = undefined
    this.divergence = undefined
    console.error(
      `helios-master: rebuilt the projection from the event log: now at position ${this.position}` +
        (was ? ` (it had applied ${was.position}; diverged ${Date.now() - was.since} ms ago)` : ""),
    )
    this.resolveWaiters()
  }

  /** Resolves true once the model has applied `p`, false after `timeoutMs` (at once while held before an undecodable event). */
  waitFor(p: number, timeoutMs: number): Promise<boolean> {
    if (p <= this.position) return Promise.resolve(true)
    if (this.held) return Promise.resolve(false)
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

  /**
   * Called when the projection diverges from the log: what live followers were sent may not be the
   * log any more, and the rebuild sends them nothing, so they end and read the log again.
   */
  onDiverged(listener: () => void): Unsubscribe {
    this.divergenceListeners.add(listener)
    return () => this.divergenceListeners.delete(listener)
  }

  stop(): void {
    this.generation++
    if (this.timer) clearInterval(this.timer)
    this.unsubscribe?.()
    for (const w of this.waiters) w.resolve(false)
    this.waiters = []
  }
}
