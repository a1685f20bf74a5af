import { StorageFailed, type EventLog } from "../core/event-log.ts"
import type { LiveProjection } from "./live-projection.ts"
import { saveSnapshot } from "./snapshots.ts"

/*
 * When a master writes its snapshot (master/snapshots.ts): after enough new events, checked after
 * each housekeeping round, and on stop. Never a diverged model: it does not hold what the log holds.
 */

/**
 * New events between snapshots: as configured, else 10,000, or a tenth of the log once it is longer
 * than 100,000 events — encoding takes a while (~4 s of CPU at 10^6 events, in slices that let the
 * master serve meanwhile), so the interval grows with the log and the cost per event stays bounded;
 * a restart reads at most that tail.
 */
export const snapshotInterval = (position: number, configured?: number): number =>
  configured ?? Math.max(10_000, Math.floor(position / 10))

/**
 * Whether to write a snapshot at `position`, given the position of the last one (or of the start),
 * and where to count from next. A projection rebuilt after a divergence may stand below the last
 * snapshot: the count starts again from there.
 */
export const snapshotDue = (lastAt: number, position: number, every: number): { readonly write: boolean; readonly countFrom: number } => {
  const from = Math.min(lastAt, position)
  return position - from >= every ? { write: true, countFrom: position } : { write: false, countFrom: from }
}

/** Why a snapshot write failed, in words: a failing disk by its reason and code (StorageFailed). */
export const snapshotFailure = (error: unknown): string =>
  error instanceof StorageFailed ? `${error.reason}, ${error.code}` : error instanceof Error ? error.message : String(error)

export class SnapshotSchedule {
  /** Where the last snapshot stands, or the position the master started from. */
  private lastAt: number
  /** The write under way, if any: writes never overlap (a round's and the one on stop). */
  private writing: Promise<void> = Promise.resolve()

  constructor(
    private readonly file: string,
    private readonly log: EventLog,
    private readonly projection: LiveProjection,
    private readonly everyEvents?: number,
  ) {
    this.lastAt = projection.position
  }

  /** After a housekeeping round: a snapshot once enough events were applied since the last one. */
  async afterRound(): Promise<void> {
    const position = this.projection.position
    if (this.projection.diverged) return
    const { write, countFrom } = snapshotDue(this.lastAt, position, snapshotInterval(position, this.everyEvents))
    this.lastAt = countFrom
    if (write) await this.save("tries again after more events")
  }

  /** On stop: a snapshot of whatever was applied since the last one, so a restart reads less. */
  async onStop(): Promise<void> {
    if (this.projection.position > this.lastAt && !this.projection.diverged) await this.save("stops without it")
  }

  /**
   * Writes the snapshot; a failure is said on stderr and otherwise ignored: the old snapshot stays,
   * and a restart reads a longer tail of the log.
   */
  private save(then: string): Promise<void> {
    this.writing = this.writing.then(async () => {
      try {
        await saveSnapshot(this.file, this.log, this.projection.model)
      } catch (error) {
        console.error(`helios-master: could not write the snapshot ${this.file} (${snapshotFailure(error)}); keeping the old one, the master ${then}`)
      }
    })
    return this.writing
  }
}
