import { randomUUID } from "node:crypto"
import { Data, Result } from "effect"
import { AppendConflict, EventsArchived, type EventLog } from "../core/event-log.ts"
import { envelopeOf } from "../core/envelope.ts"
import type { EventEnvelope, StreamId } from "../core/events.ts"
import { Rejection, type Command, type CommandContext } from "../core/commands.ts"
import { decide, isLastEventOf, streamsOfCommand } from "../core/decide.ts"
import { position } from "../core/ids.ts"
import type { FleetState } from "../core/state.ts"
import { KeyedLock } from "./keyed-lock.ts"
import { Seats } from "./seats.ts"
import type { LiveProjection } from "./live-projection.ts"

/** Other masters kept changing what this command read; it was retried and gave up. */
export class ConcurrentChange extends Data.TaggedError("ConcurrentChange")<{ readonly message: string }> {}

/** The command id is already on the events of a different command (a client reusing ids). */
export class CommandIdReused extends Data.TaggedError("CommandIdReused")<{ readonly message: string; readonly position: number }> {}

type Outcome = Result.Result<Executed, Rejection | ConcurrentChange | CommandIdReused>

export interface Executed {
  /** Position of the command's last event (or of the state it was a no-op against). */
  readonly position: number
  readonly appended: number
}

export interface CommandBusOptions {
  readonly maxAttempts?: number
  /** How long to wait for this master's projection to apply its own append before answering. */
  readonly applyTimeoutMs?: number
  /** Commands deciding and appending at once (default DEFAULT_COMMAND_SEATS); the others wait their turn. */
  readonly seats?: number
  /** Awaited before a command starts (master/loop-lag.ts: held while the event loop runs late). */
  readonly beforeStart?: () => Promise<void>
}

/**
 * A check of the log's events after a position that a command must pass, made against the same
 * state it is decided on (rolling-update --check-position): `check` reads the events after `after`
 * up to `until` and refuses the command if they say so, given the state as of `until`.
 */
export interface Precondition {
  readonly after: number
  readonly check: (after: number, until: number, state: FleetState) => Promise<Rejection | undefined>
  /**
   * Streams the append then checks unchanged at their versions in the state decided on: a change to
   * one landing between the decision and the append refuses the append, and the command is checked
   * and decided again. (What bumps no stream, an agent's liveness facts, cannot be held so.)
   */
  readonly unchanged?: (state: FleetState) => ReadonlyArray<StreamId>
}

/**
 * Commands in progress at once on a master. More do not go faster: each waits for its append and
 * for the projection to apply it, and a crowd of them only makes every ZooKeeper reply and
 * projection update contend with the API's reads (bench/fleet.ts, 64 clients deploying at once:
 * with 16 seats 677 deployments/s and a third less master CPU, against 447/s unbounded).
 */
export const DEFAULT_COMMAND_SEATS = 16

/**
 * read → decide → append with expected versions. Commands on the same streams run one at a time on
 * this master; on a conflict another master changed a stream this decision read: catch up and
 * decide again, a bounded number of times.
 */
export class CommandBus {
  private readonly maxAttempts: number
  private readonly applyTimeoutMs: number
  private readonly locks = new KeyedLock()
  private readonly seats: Seats
  private readonly beforeStart: () => Promise<void>

  constructor(
    private readonly log: EventLog,
    private readonly projection: LiveProjection,
    options: CommandBusOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 8
    this.applyTimeoutMs = options.applyTimeoutMs ?? 10_000
    this.seats = new Seats(Math.max(1, options.seats ?? DEFAULT_COMMAND_SEATS))
    this.beforeStart = options.beforeStart ?? (() => Promise.resolve())
  }

  /**
   * `ctx` may be given as a function, called once the command's turn has come: a context taken
   * before waiting for the locks would decide with a time that is already past (a rollout step's
   * timeout would be counted from before the wait).
   */
  async execute(command: Command, ctx: CommandContext | (() => CommandContext), commandId: string = randomUUID(), precondition?: Precondition): Promise<Outcome> {
    // The stream locks first: a command waiting for another on its streams holds no seat.
    return this.locks.run(streamsOfCommand(command), () =>
      this.seats.run(async () => {
        await this.beforeStart()
        return this.decideAndAppend(command, typeof ctx === "function" ? ctx() : ctx, commandId, precondition)
      }),
    )
  }

  /**
   * The state to decide on, once `precondition` passed for every event up to it: checked again
   * for what the projection applied while the log was read, until nothing new came, so the state
   * returned (with no wait after the last check) is the one the check saw.
   */
  private async checkedState(precondition: Precondition, checked: { upTo: number }): Promise<Result.Result<FleetState, Rejection>> {
    for (;;) {
      const state = this.projection.model.state
      if (state.position <= checked.upTo) return Result.succeed(state)
      const refused = await precondition.check(checked.upTo, state.position, state)
      if (refused) return Result.fail(refused)
      checked.upTo = state.position
    }
  }

  /**
   * The outcome of a retry: the position of the last event of the command with this id that the
   * log holds (as far as this master has applied it), if any — or a refusal when that event is
   * another command's (a command id names one command). The read model knows the ids by hash
   * only; a candidate is confirmed by the id its event carries, read from the log.
   */
  private async retried(command: Command, commandId: string): Promise<Outcome | undefined> {
    const { commands } = this.projection.model
    for (const p of commands.candidates(commandId)) {
      // A candidate archived out of the log (README "Retention and archiving") is months old: no
      // client retries that long, so it is another command's id hash, not this one's retry.
      const [event] = await this.log.read(position(p - 1), 1).catch((error: unknown) => {
        if (error instanceof EventsArchived) return []
        throw error
      })
      if (event?.position !== p || event.envelope.commandId !== commandId) continue
      return isLastEventOf(command, event.envelope.event)
        ? Result.succeed({ position: p, appended: 0 })
        : Result.fail(new CommandIdReused({ message: `command id ${commandId} is another command's (position ${p})`, position: p }))
    }
    return undefined
  }

  private async decideAndAppend(command: Command, ctx: CommandContext, commandId: string, precondition: Precondition | undefined): Promise<Outcome> {
    // Held before an undecodable event: the state is known to be incomplete, decide nothing on it.
    this.projection.refuseWritesIfHeld()
    // A retry of a command that landed is answered as it was, before any precondition: its own
    // events are after the position it checked.
    const seen = await this.retried(command, commandId)
    if (seen !== undefined) return seen
    let caughtUp = false
    const checked = { upTo: precondition?.after ?? 0 }
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      let state = this.projection.model.state
      if (precondition) {
        const passed = await this.checkedState(precondition, checked)
        if (Result.isFailure(passed)) return Result.fail(passed.failure)
        state = passed.success
      }
      const decision = decide(command, state, ctx)
      if (Result.isFailure(decision)) {
        // A refusal that rests on the state is checked by no stream version, so make sure it is not
        // just this master lagging: decide again once it has applied everything the log holds now.
        if (caughtUp || decision.failure.status === "INVALID_JOB_DEFINITION") return Result.fail(decision.failure)
        caughtUp = await this.projection.catchUp(this.applyTimeoutMs)
        if (!caughtUp) return Result.fail(decision.failure)
        const retry = await this.retried(command, commandId)
        if (retry !== undefined) return retry
        continue
      }
      if (decision.success.events.length === 0) return Result.succeed({ position: this.projection.position, appended: 0 })
      const envelopes: EventEnvelope[] = decision.success.events.map((event) =>
        envelopeOf(event, { at: ctx.now, actor: ctx.actor, commandId }),
      )
      try {
        const { expected } = decision.success
        const guarded = precondition?.unchanged?.(state).filter((s) => !(s in expected)) ?? []
        const unchanged =
          guarded.length === 0 ? decision.success.unchanged : { ...decision.success.unchanged, ...Object.fromEntries(guarded.map((s) => [s, state.versions.get(s) ?? "none"])) }
        const appended = await this.log.append(envelopes, unchanged === undefined ? { expected } : { expected, unchanged })
        // Answer only once our own projection shows the write: read-your-writes on this master.
        await this.projection.waitFor(appended.lastPosition, this.applyTimeoutMs)
        return Result.succeed({ position: appended.lastPosition, appended: envelopes.length })
      } catch (error) {
        if (!(error instanceof AppendConflict)) throw error
        await this.projection.catchUp(this.applyTimeoutMs)
        // The projection may have lagged behind this very command's first attempt (retried on
        // another master, or read from a lagging ZooKeeper follower): now caught up, look again.
        const retry = await this.retried(command, commandId)
        if (retry !== undefined) return retry
      }
    }
    return Result.fail(new ConcurrentChange({ message: `gave up after ${this.maxAttempts} concurrent changes` }))
  }
}
