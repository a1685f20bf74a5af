import type { StoredEvent } from "../core/events.ts"
import type { FleetState } from "../core/state.ts"
import { JobStatusViews } from "./job-status-views.ts"
import { AnswerSegment, MIN_KEPT_SEGMENT_BYTES } from "./large-answer.ts"
import { runInSlices } from "./slices.ts"

/*
 * Job statuses that someone polls (a dashboard, `helios status`, a deploy script waiting for
 * RUNNING) are kept ready between polls. During a rollout, a poll finds most runs of hosts changed
 * since the last one (10 jobs × 1,000 hosts with a thousand reports a second leave few untouched),
 * so the answer rendered and compressed nearly all of it while the client waited, in slices that
 * each waited behind the agents' reports for the event loop. Here a background round, a few times a
 * second, renders and deflates the runs that changed in the statuses being polled (asked for twice
 * within WATCH_MS: a one-off `helios status` is not kept ready), and an answer joins bytes that are
 * ready, rendering only what changed since the last round. What changed is known from the events
 * applied (master/job-status-views.ts), so neither looks at the hosts that did not change.
 */

/** How often the watched statuses are brought up to date (when the state moved). */
export const WARM_INTERVAL_MS = 100
/** How long a job is kept ready after its status was last asked for. */
export const WATCH_MS = 10_000
/** At most this many jobs are remembered as asked for, the most recently asked for. */
export const MAX_WATCHED_JOBS = 2_000
/**
 * The rounds take at most this share of the master's time: a round that took 30 ms waits 120 ms
 * before the next (a fleet of 100,000 hosts polled is kept ready less often, not at any cost).
 */
const WARM_SHARE = 0.2
/**
 * Status answers are gathered in slices this long (rather than SLICE_MS): an answer kept ready
 * costs a few ms, and each turn it gave the event loop put it behind the agents' reports again.
 */
export const STATUS_ANSWER_SLICE_MS = 20

export class StatusWarmer {
  /** Job id → when its status was last asked for, and whether it was asked for before that (polled), least recently asked for first. */
  private readonly asked = new Map<string, { readonly at: number; readonly polled: boolean }>()
  private readonly views: JobStatusViews
  private warmedPosition: number | undefined
  private notBefore = -Infinity

  constructor(
    private readonly state: () => FleetState,
    private readonly now: () => number,
    private readonly options: {
      /** Hosts per run of a view (tests: a few). */
      readonly hostsPerRun?: number
      /** Told how long (ms) each round that did something took. */
      readonly onRound?: (ms: number) => void
    } = {},
  ) {
    this.views = new JobStatusViews(options.hostsPerRun)
  }

  /** Notes that the statuses of `ids` were asked for now (by one request: an id listed twice is asked for once); asked for again within WATCH_MS, a job is kept ready. */
  noteAsked(ids: Iterable<string>): void {
    const at = this.now()
    for (const id of new Set(ids)) {
      const polled = this.asked.has(id)
      if (polled && !this.asked.get(id)!.polled) {
        this.warmedPosition = undefined
        this.views.of(id)
      }
      this.asked.delete(id)
      this.asked.set(id, { at, polled })
    }
    for (const id of this.asked.keys()) {
      if (this.asked.size <= MAX_WATCHED_JOBS) break
      this.forget(id)
    }
  }

  /** Events just applied to the live state: what they change in the polled statuses is rendered again when next shown. */
  onEvents(events: ReadonlyArray<StoredEvent>): void {
    this.views.onEvents(events)
  }

  /** A polled job's status now, from its view (only what changed is rendered); undefined for a job not polled or not in the state. */
  partsOf = (id: string): Array<Buffer | AnswerSegment> | undefined => (this.views.has(id) ? this.views.of(id).parts(this.state()) : undefined)

  /** The jobs kept ready now (polled), least recently asked for first. */
  get watched(): ReadonlyArray<string> {
    return [...this.asked].flatMap(([id, { polled }]) => (polled ? [id] : []))
  }

  /** Renders and deflates what changed in the polled statuses since the last round; nothing when the state did not move, or too soon after a long round. */
  async round(): Promise<void> {
    const started = this.now()
    for (const [id, { at }] of this.asked) {
      if (at >= started - WATCH_MS) break
      this.forget(id)
    }
    const ids = this.watched
    if (ids.length === 0 || started < this.notBefore) return
    if (this.state().position === this.warmedPosition) return
    this.warmedPosition = this.state().position
    const ready = this.partsOf
    // The live state moves between slices: each job's parts are taken when its turn comes.
    await runInSlices(
      (function* () {
        for (const id of ids) {
          const segments = (ready(id) ?? []).filter((part) => part instanceof AnswerSegment)
          // A job on few hosts is left alone: its runs compress better with the bytes around them, in the answer.
          if (!segments.some((s) => s.plain.length >= MIN_KEPT_SEGMENT_BYTES)) continue
          for (const segment of segments)
            if (!segment.isDeflated) {
              segment.deflated()
              segment.checksum()
              yield
            }
        }
      })(),
    )
    const took = this.now() - started
    this.notBefore = started + took / WARM_SHARE
    this.options.onRound?.(took)
  }

  private forget(id: string): void {
    this.asked.delete(id)
    this.views.drop(id)
  }
}
