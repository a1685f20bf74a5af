import { EventsArchived, type EventLog } from "../core/event-log.ts"
import { position } from "../core/ids.ts"
import { Checkpoints } from "./checkpoints.ts"
import { LiveProjection } from "./live-projection.ts"
import { loadSharedSnapshot, loadSnapshot } from "./snapshots.ts"

export interface ProjectionStartOptions {
  readonly log: EventLog
  /** A snapshot to start from, if it matches the log (master/snapshots.ts). */
  readonly snapshotFile?: string
  readonly divergenceCheckIntervalMs?: number
  readonly skipUndecodable?: ReadonlyArray<number>
  /** Where checkpoints for temporal queries are kept (master/checkpoints.ts); default: in memory. */
  readonly checkpointDir?: string
  /** Events between checkpoints (default 10,000; it doubles when they outgrow their budget). */
  readonly checkpointEvery?: number
  /** Bytes the checkpoints may take (default 128 MiB in memory, 1 GiB in a directory). */
  readonly checkpointBudgetBytes?: number
}

/**
 * What the projection starts from: the master's own snapshot or the masters' shared one, whichever
 * is further along (a restart finds its own; a new master, or one that lost its disk, the shared
 * one), or nothing (the whole log).
 */
const startingPoint = async (options: ProjectionStartOptions) => {
  const own = options.snapshotFile ? await loadSnapshot(options.snapshotFile, options.log) : undefined
  const store = options.log.sharedSnapshots
  if (store === undefined) return own
  const sharedAt = await store.position().catch((error: unknown) => void console.error(`helios-master: ignoring the shared snapshot: ${String(error)}`))
  if (sharedAt === undefined || sharedAt <= (own?.state.position ?? 0)) return own
  const shared = await loadSharedSnapshot(store, options.log)
  if (shared !== undefined) console.error(`helios-master: starting from the shared snapshot at position ${shared.state.position}`)
  return shared ?? own
}

/**
 * The master's read model, started from its snapshot and caught up with the log, and the log to
 * append to through the projection's guard: refused while it disagrees with the log, and each result
 * checked against what it applied (the log giving out again positions it lost).
 */
export const startProjection = async (
  options: ProjectionStartOptions,
): Promise<{ projection: LiveProjection; log: EventLog; checkpoints: Checkpoints }> => {
  const snapshot = await startingPoint(options)
  // The log from there on must be readable: if its oldest events were archived and no snapshot
  // starts after them, say so now instead of waiting for a catch-up that cannot happen.
  await options.log.read(position(snapshot?.state.position ?? 0), 1).catch((error: unknown) => {
    if (error instanceof EventsArchived)
      throw new Error(`cannot start from position ${snapshot?.state.position ?? 0}: ${error.message}; give this master --archive-dir with that file, or let it start from the shared snapshot`)
  })
  const checkpoints = new Checkpoints({
    log: options.log,
    ...(options.checkpointDir !== undefined ? { dir: options.checkpointDir } : {}),
    ...(options.checkpointEvery !== undefined ? { every: options.checkpointEvery } : {}),
    ...(options.checkpointBudgetBytes !== undefined ? { budgetBytes: options.checkpointBudgetBytes } : {}),
    ...(options.skipUndecodable ? { skipUndecodable: options.skipUndecodable } : {}),
  })
  await checkpoints.open(snapshot?.state.position ?? 0, snapshot?.state)
  const projection = new LiveProjection(options.log, snapshot, {
    follower: checkpoints,
    ...(options.divergenceCheckIntervalMs !== undefined ? { checkIntervalMs: options.divergenceCheckIntervalMs } : {}),
    ...(options.skipUndecodable ? { skipUndecodable: options.skipUndecodable } : {}),
  })
  if (options.skipUndecodable?.length)
    console.error(`helios-master: told to skip undecodable events at positions ${options.skipUndecodable.join(", ")} (--skip-undecodable)`)
  projection.start()
  const log = projection.guard(options.log)
  // Serve only once the projection holds what the log held at start: no stale answers or decisions
  // after a restart, however long a large log takes to read. An event it cannot decode ends the wait:
  // the master serves what it has, says why on /healthz, and refuses writes (live-projection.ts).
  while (!projection.undecodable && !(await projection.catchUp(60_000)))
    if (!projection.undecodable) console.error(`helios-master: still catching up with the event log (at position ${projection.position})`)
  checkpoints.startBackfill()
  return { projection, log, checkpoints }
}
