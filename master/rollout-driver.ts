import { randomUUID } from "node:crypto"
import { Result } from "effect"
import type { Command, HostLabels } from "../core/commands.ts"
import type { StoredEvent } from "../core/events.ts"
import { stepDeadline, type PreviousStates } from "../core/rollout-step.ts"
import type { FleetState } from "../core/state.ts"
import { previousStatesFrom, type HistoryIndex } from "../projections/history.ts"
import { MAX_TIMER_MS } from "../core/timers.ts"
import type { CommandBus } from "./command-bus.ts"

/*
 * The leader's rollout execution. Each step is decided against the projection (core/rollout-step.ts)
 * and appended with the expected version of the group's stream (and of the hosts and jobs it
 * deploys to), so two masters that both believe they lead cannot both record a step: the second
 * append conflicts, catches up and finds nothing left to do. A new leader resumes from the last
 * recorded step, its timeout still measured from the rollout's last progress in the log.
 *
 * Waiting for RUNNING is driven by the events this master already follows: every batch it applies
 * pokes the driver, which advances the groups rolling out; a timer wakes it at the earliest step
 * deadline. No loop polls hosts.
 */

export interface RolloutDriverOptions {
  /** This master's name: the actor of the events it writes and the deployerMaster of its deployments. */
  readonly name: string
  readonly bus: Pick<CommandBus, "execute">
  readonly state: () => FleetState
  readonly history: () => HistoryIndex
  readonly now: () => number
  /** Labels of the registered hosts (host facts), for the HOSTS_CHANGED check, at most `maxAgeMs` old. */
  readonly hostLabels: (maxAgeMs?: number) => Promise<HostLabels>
  readonly log?: (line: string) => void
  /** In [0, 1): the jitter of the back-off after failed commands (default Math.random). */
  readonly random?: () => number
}

/** Most batches one group's rollout appends in one go before other groups get their turn. */
const MAX_BATCHES_PER_TURN = 100

/** The back-off after consecutive failed commands (log down or held): doubling from the first, up to the most. */
const FIRST_BACKOFF_MS = 50
const MAX_BACKOFF_MS = 5_000

export class RolloutDriver {
  private leading = false
  private stopped = false
  private running = false
  private again = false
  private timer: NodeJS.Timeout | undefined
  private timerAt = Number.POSITIVE_INFINITY
  /** Commands that failed in a row, and the epoch ms before which no rollout is advanced because of them. */
  private failures = 0
  private retryAt = 0
  /** Errors already logged, so a failing append is said once, not on every poke. */
  private readonly said = new Set<string>()
  private readonly previousStates: PreviousStates

  constructor(private readonly options: RolloutDriverOptions) {
    this.previousStates = previousStatesFrom(options.history)
  }

  /** Told by the leader election; a master that leads starts (or resumes) every rollout in progress. */
  setLeading(leading: boolean): void {
    const was = this.leading
    this.leading = leading
    if (leading && !was) this.poke()
  }

  /** Something changed (events applied, a timer): advance the rollouts in progress soon. */
  poke(): void {
    if (!this.leading || this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = true
    setImmediate(() => void this.advanceAll().finally(() => this.afterRun()))
  }

  /** Pokes when applied events may move a rollout: anything while a group is rolling out. */
  onEvents(events: ReadonlyArray<StoredEvent>): void {
    if (events.length === 0 || !this.leading) return
    for (const g of this.options.state().groups.values()) if (g.rollout?.status === "ROLLING_OUT") return this.poke()
  }

  /** The leader's periodic round: start HOSTS_CHANGED rollouts for groups whose hosts changed, and advance. */
  async round(): Promise<void> {
    if (!this.leading || this.stopped) return
    const groups = [...this.options.state().groups.values()].filter((g) => g.rollout !== undefined && g.rollout.status !== "ROLLING_OUT")
    if (groups.length > 0) {
      // Labels change when an agent restarts (and then registers or comes up: the cache forgets
      // that host at once); otherwise re-read each host's facts at most every 10 s.
      const labels = await this.options.hostLabels(10_000)
      for (const g of groups) await this.run({ _tag: "RolloutOnHostsChange", group: g.group.name, labels })
    }
    this.poke()
  }

  stop(): void {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
  }

  private afterRun(): void {
    this.running = false
    if (this.again) {
      this.again = false
      this.poke()
    }
  }

  private async advanceAll(): Promise<void> {
    // Pokes keep coming (rounds, events, past deadlines): while backing off they only set the timer.
    if (this.options.now() < this.retryAt) return this.wakeAt(this.retryAt)
    let earliest = Number.POSITIVE_INFINITY
    for (const [name, g] of this.options.state().groups) {
      if (g.rollout?.status !== "ROLLING_OUT") continue
      for (let i = 0; i < MAX_BATCHES_PER_TURN && this.leading && !this.stopped; i++) if ((await this.run({ _tag: "AdvanceRollout", group: name })) === 0) break
      const after = this.options.state().groups.get(name)?.rollout
      if (after?.status === "ROLLING_OUT") earliest = Math.min(earliest, stepDeadline(after))
    }
    // A deadline already past is retried no sooner than the back-off allows.
    this.wakeAt(this.failures > 0 ? Math.max(earliest, this.retryAt) : earliest)
  }

  /** Sets the timer for a step deadline (just past it: a step times out once more than its timeout has passed). */
  private wakeAt(deadline: number): void {
    if (!Number.isFinite(deadline) || deadline >= this.timerAt) return
    if (this.timer) clearTimeout(this.timer)
    this.timerAt = deadline
    const delay = Math.max(0, deadline - this.options.now()) + 5
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.timerAt = Number.POSITIVE_INFINITY
      // A deadline beyond the longest timer (timeouts may be ~10^15 s) is reached in steps.
      if (delay > MAX_TIMER_MS) this.wakeAt(deadline)
      else this.poke()
    }, Math.min(delay, MAX_TIMER_MS))
    this.timer.unref?.()
  }

  /** Runs a command as this master; the number of events it appended (0 on a refusal or an error, logged once). */
  private async run(command: Command): Promise<number> {
    const { options } = this
    // Taken when the command's turn comes, not before it waits for the group's lock.
    const ctx = () => ({ now: options.now(), actor: { kind: "master" as const, name: options.name }, master: options.name, previousStates: this.previousStates })
    try {
      const outcome = await options.bus.execute(command, ctx, randomUUID())
      if (Result.isSuccess(outcome)) {
        this.failures = 0
        this.retryAt = 0
        return outcome.success.appended
      }
      this.sayOnce(`${command._tag} ${"group" in command ? command.group : ""}: ${outcome.failure.message}`)
    } catch (e) {
      this.sayOnce(`${command._tag} ${"group" in command ? command.group : ""}: ${String(e)}`)
    }
    this.backOff()
    return 0
  }

  /** After a failed command: no rollout advances for a while that doubles with each failure in a row, jittered to half of it or more. */
  private backOff(): void {
    this.failures++
    const ms = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (this.failures - 1))
    this.retryAt = this.options.now() + ms * (0.5 + 0.5 * (this.options.random ?? Math.random)())
  }

  private sayOnce(line: string): void {
    if (this.said.has(line)) return
    if (this.said.size > 1000) this.said.clear()
    this.said.add(line)
    ;(this.options.log ?? console.error)(`helios-master: rollout: ${line}`)
  }
}

