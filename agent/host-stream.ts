import { EventsArchived, UndecodableEvent, type EventLog, type HostStreamEvent, type Unsubscribe } from "../core/event-log.ts"
import type { HostName } from "../core/ids.ts"
import { applyHostEvent, emptyDesiredState, type DesiredState } from "../core/desired-state.ts"
import { errorText, type Logger } from "./logger.ts"
import { readJson, writeJsonAtomic } from "./state-dir.ts"

/*
 * Follows this host's stream into the desired-state fold. The fold and its checkpoint are saved in
 * `<state-dir>/desired.json` after every batch, so a restarted agent works from where it was even
 * while the log is unreachable, and catches up from the checkpoint when it is back. Live delivery
 * and explicit catch-ups go through one queue, so events are folded once and in order.
 *
 * Without a saved fold the desired state is unknown until a catch-up has read the stream to its
 * end: a partial or empty fold would make every running container look unwanted, so the agent
 * keeps its hands off (see `desiredKnown`) until then.
 *
 * An event of the stream that this build cannot decode (garbage, a newer schema version) holds the
 * fold before it, loudly, once: the agent keeps working from the desired state before that event
 * (a fold never read to the end stays unknown: hands off), and no container is stopped or removed
 * because of it. An upgraded agent reads on from there.
 */

export interface HostStreamOptions {
  readonly log: EventLog
  readonly host: HostName
  readonly file: string
  readonly logger: Logger
  /** Called after each batch with the commandIds it contained (the outbox acknowledges them). */
  readonly onCommandIds: (ids: ReadonlySet<string>) => void
  /** Called when the deployments (jobs or goals) or the registration changed. */
  readonly onDesiredChange: () => void
}

const SNAPSHOT_FORMAT = 1

export class HostStreamFollower {
  private current: DesiredState
  private queue: Promise<void> = Promise.resolve()
  private unsubscribe: Unsubscribe | undefined
  private known: boolean
  /** The position of the undecodable event the fold holds before, once reported. */
  private heldAt: number | undefined

  constructor(private readonly o: HostStreamOptions) {
    const saved = readJson<{ format: number; state: DesiredState }>(o.file)
    this.known = saved?.format === SNAPSHOT_FORMAT && saved.state.host === o.host
    this.current = this.known ? saved!.state : emptyDesiredState(o.host)
  }

  get state(): DesiredState {
    return this.current
  }

  /** Whether the fold is one the agent may act on: loaded from the state dir or caught up with the log. */
  get desiredKnown(): boolean {
    return this.known
  }

  private save(state: DesiredState): void {
    try {
      writeJsonAtomic(this.o.file, { format: SNAPSHOT_FORMAT, state })
    } catch (e) {
      this.o.logger.log("error", "could not save the desired state", { error: errorText(e) })
    }
  }

  private apply(events: ReadonlyArray<HostStreamEvent>): void {
    const before = this.current
    let next = before
    const ids = new Set<string>()
    for (const e of events) {
      if (e.hostPosition <= next.hostPosition) continue
      next = applyHostEvent(next, e)
      if (e.envelope.commandId !== undefined) ids.add(e.envelope.commandId)
    }
    if (next === before) return
    this.current = next
    // Acknowledge before saving the checkpoint: a crash between the two refolds these events on
    // restart (harmless), where the other order would leave landed facts queued to be sent again.
    if (ids.size > 0)
      try {
        this.o.onCommandIds(ids)
      } catch (e) {
        this.o.logger.log("error", "could not record acknowledged facts", { error: errorText(e) })
      }
    this.save(next)
    if (next.deployments !== before.deployments || next.registeredAgentId !== before.registeredAgentId) this.o.onDesiredChange()
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work)
    this.queue = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  /** Says once, loudly, that the fold holds before an event it cannot decode. */
  private reportUndecodable(error: UndecodableEvent): void {
    if (this.heldAt === error.position) return
    this.heldAt = error.position
    this.o.logger.log(
      "error",
      "UNDECODABLE_EVENT: this host's stream holds an event this agent cannot decode; the desired state stays as it was before it " +
        "(containers are left as they are, none is stopped because of it) until the agent is upgraded to a version that knows it",
      { position: error.position, reason: error.reason, hostPosition: this.current.hostPosition, desiredKnown: this.known },
    )
  }

  /**
   * The stream's oldest events are archived (README "Retention and archiving"): take the stream's
   * base, the desired state as of the last archived event, if it is ahead of this fold. Whether it was.
   */
  private async rebase(): Promise<boolean> {
    const base = await this.o.log.hostStreamBase?.(this.o.host)
    if (base === undefined || base.state.host !== this.o.host || base.state.hostPosition <= this.current.hostPosition) return false
    this.o.logger.log("info", "the host stream's oldest events are archived: starting from its base", {
      hostPosition: base.state.hostPosition,
      archivedThrough: base.archivedThrough,
    })
    this.current = base.state
    this.save(base.state)
    // A subscription reading from the old position would meet the archived events again.
    if (this.unsubscribe) {
      this.stop()
      this.start()
    }
    this.o.onDesiredChange()
    return true
  }

  /** Starts following live from the checkpoint. */
  start(): void {
    this.unsubscribe = this.o.log.subscribeHostStream(
      this.o.host,
      this.current.hostPosition,
      (events) => this.enqueue(async () => this.apply(events)),
      (error) => this.reportUndecodable(error),
    )
  }

  /** Reads everything after the checkpoint now (rejects while the log is unreachable). */
  catchUp(): Promise<void> {
    return this.enqueue(async () => {
      for (;;) {
        const events = await this.o.log.readHostStream(this.o.host, this.current.hostPosition).catch(async (error: unknown) => {
          if (error instanceof UndecodableEvent) this.reportUndecodable(error)
          if (error instanceof EventsArchived && (await this.rebase())) return undefined
          throw error
        })
        if (events === undefined) continue
        if (events.length === 0) break
        this.apply(events)
      }
      if (!this.known) {
        this.known = true
        this.save(this.current) // known from now on, even if the next start finds the log away
        this.o.logger.log("info", "desired state read from the log; reconciling", { hostPosition: this.current.hostPosition })
        this.o.onDesiredChange()
      }
    })
  }

  stop(): void {
    this.unsubscribe?.()
    this.unsubscribe = undefined
  }
}
