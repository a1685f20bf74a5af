import { UndecodableEvent, type EventLog } from "../core/event-log.ts"
import type { StoredEvent } from "../core/events.ts"
import { position } from "../core/ids.ts"
import { mapLimit } from "../log/map-limit.ts"
import { missingPosition, positionRanges } from "../log/position-ranges.ts"

/*
 * A job's history is read back from the log at the positions the history index names
 * (projections/history.ts): the master keeps no copy of the events.
 */

/** Range reads at once. */
const READS_IN_FLIGHT = 8

const NONE: ReadonlySet<number> = new Set()

/**
 * The log's events after `after` (at most `limit`), or the undecodable event right after it if it is
 * one the operator told the masters to skip (--skip-undecodable, a set of its first positions): the
 * caller steps over it as the projection does. Any other undecodable event rejects.
 */
export const readPage = (log: EventLog, after: number, limit: number, skip: ReadonlySet<number>): Promise<ReadonlyArray<StoredEvent> | UndecodableEvent> =>
  log.read(position(after), limit).catch((error: unknown) => {
    if (error instanceof UndecodableEvent && skip.has(error.position) && error.through > after) return error
    throw error
  })

/**
 * The log's events after `after` up to `until`, read in pages (the master keeps no copy of raw
 * events); the undecodable events in `skip` are left out, as the projection leaves them out.
 */
export async function* readLog(log: EventLog, after: number, until = Number.MAX_SAFE_INTEGER, skip = NONE): AsyncGenerator<StoredEvent> {
  let at = after
  while (at < until) {
    // Only what is asked for: a short range reads a short page.
    const page = await readPage(log, at, Math.min(5000, until - at), skip)
    if (page instanceof UndecodableEvent) {
      at = page.through
      continue
    }
    if (page.length === 0) return
    for (const e of page) {
      if (e.position > until) return
      yield e
    }
    at = page[page.length - 1]!.position
  }
}

/**
 * The events at `positions` (ascending, all applied), in that order; `skip` as readLog's. A log that
 * reads positions itself (EventLog.readAt) decodes only those; another is read in ranges around them.
 */
export const readEventsAt = async (log: EventLog, positions: ReadonlyArray<number>, skip = NONE): Promise<StoredEvent[]> => {
  if (log.readAt) return [...(await log.readAt(positions))]
  const read = await mapLimit(positionRanges(positions), READS_IN_FLIGHT, async ([i, j]) => {
    const out: StoredEvent[] = []
    let k = i
    for await (const e of readLog(log, positions[i]! - 1, positions[j]!, skip))
      if (e.position === positions[k]) {
        out.push(e)
        k++
      }
    if (k <= j) throw missingPosition(positions[k]!)
    return out
  })
  return read.flat()
}
