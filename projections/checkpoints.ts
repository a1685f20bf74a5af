import type { StoredEvent, StreamId } from "../core/events.ts"
import { position } from "../core/ids.ts"
import { applyEvent, type FleetState } from "../core/state.ts"

/*
 * Checkpoints for temporal queries: the fleet state as of a position or a time is the nearest
 * earlier checkpoint (a copy of the state kept every `every` events) plus a short fold of the
 * events after it — never a replay of the log from position 0.
 *
 * This module is the pure part: which checkpoint a query starts from, how far its tail reaches,
 * when a checkpoint is due, and which checkpoints to drop when they take too much room. The
 * master keeps them (master/checkpoints.ts); properties/checkpoints.test.ts checks that a
 * checkpoint plus its tail equals `stateAsOf` (a full replay) at every position and time.
 *
 * Time. Envelope times are the writers' clocks: mostly increasing along the log, not strictly
 * (two masters' clocks differ, an agent's report is stamped before it is relayed). The state as
 * of time T is the state after the longest prefix of the log whose events all have a time <= T,
 * i.e. up to just before the first event whose time is after T (stateAsOf's rule). An event after
 * that one with an earlier time is not included: the log's order wins over the writers' clocks.
 * So each checkpoint keeps `maxAt`, the largest time among the events up to it; `maxAt` never
 * decreases along the log, so the checkpoint to start from is found by a binary search (the last
 * one with maxAt <= T), and the first event after T lies at or before the next checkpoint: the
 * tail is never longer than the distance between two checkpoints.
 */

/** "As of": after a log position, or at an epoch-ms time (see above for the rule). */
export type AsOf = { readonly position: number } | { readonly time: number }

/** A checkpoint's place in the log. */
export interface CheckpointMark {
  readonly position: number
  /** The largest envelope time of the events at positions 1..position (-Infinity for none). */
  readonly maxAt: number
}

/** Where a state-as-of starts, and the last position its tail may need. */
export interface TailPlan {
  /** The checkpoint to start from; undefined: the empty state (position 0). */
  readonly from: CheckpointMark | undefined
  /** The tail ends at or before this position; undefined: it may run to the log's end. */
  readonly through: number | undefined
}

/** The event lies beyond `at`: a fold as of `at` stops before it. */
export const isPast = (e: StoredEvent, at: AsOf): boolean => ("position" in at ? e.position > at.position : e.envelope.at > at.time)

/** Index of the last mark satisfying `ok`, which holds for a prefix of `marks` (or -1). */
const lastWhere = (marks: ReadonlyArray<CheckpointMark>, ok: (m: CheckpointMark) => boolean): number => {
  let lo = 0
  let hi = marks.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if (ok(marks[mid]!)) {
      found = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return found
}

/**
 * Which checkpoint a state as of `at` starts from and how far its tail reaches. `marks` are in
 * position order (their maxAt then never decreases).
 */
export const planAsOf = (marks: ReadonlyArray<CheckpointMark>, at: AsOf): TailPlan => {
  if ("position" in at) {
    const i = lastWhere(marks, (m) => m.position <= at.position)
    return { from: i < 0 ? undefined : marks[i], through: Math.max(0, at.position) }
  }
  const i = lastWhere(marks, (m) => m.maxAt <= at.time)
  const next = marks[i + 1]
  return { from: i < 0 ? undefined : marks[i], through: next?.position }
}

/**
 * Folds a tail into `state` (which the caller owns) as long as its events are within `at`. Returns
 * false once an event beyond `at` was met (the fold is complete), true while more may follow.
 */
export const foldTail = (state: FleetState, tail: Iterable<StoredEvent>, at: AsOf): boolean => {
  for (const e of tail) {
    if (isPast(e, at)) return false
    applyEvent(state, e)
  }
  return true
}

/**
 * Steps over an undecodable event the operator told the masters to skip (--skip-undecodable) as
 * the projection does (master/live-projection.ts): its stream bumps are counted (later appends'
 * expected versions stay right) and its positions passed. It has no time: a fold as of a time
 * includes it once it has reached it.
 */
export const passOver = (state: FleetState, skipped: { readonly through: number; readonly bumped: ReadonlyArray<StreamId> }): void => {
  for (const stream of skipped.bumped) state.versions.set(stream, (state.versions.get(stream) ?? -1) + 1)
  state.position = position(Math.max(state.position, skipped.through))
}

/** Whether a checkpoint is due after applying the event at `position`. */
export const checkpointDue = (position: number, every: number): boolean => position > 0 && position % every === 0

/** The running maximum of the event times folded so far: what a new checkpoint's maxAt is. */
export const laterOf = (maxAt: number, e: StoredEvent): number => (e.envelope.at > maxAt ? e.envelope.at : maxAt)

/**
 * Keeping checkpoints within a budget: while they take more than `budget` bytes (each checkpoint's
 * size given by `bytes`), the spacing doubles and the checkpoints off the new spacing are dropped,
 * so the survivors stay evenly spaced and a tail stays at most `every` events long. Returns the
 * spacing to use from now on and the positions to drop. The newest checkpoint is never dropped
 * for lack of room (it is what a query near the head starts from); once a newer one comes, it is
 * dropped if it is off the spacing. Nor is `pinned` (one no fold from an earlier one can replace).
 */
export const thinned = (
  marks: ReadonlyArray<CheckpointMark>,
  bytes: (position: number) => number,
  every: number,
  budget: number,
  pinned?: number,
): { readonly every: number; readonly drop: ReadonlyArray<number> } => {
  let spacing = every
  const total = (ms: ReadonlyArray<CheckpointMark>) => ms.reduce((n, m) => n + bytes(m.position), 0)
  const newest = marks[marks.length - 1]?.position
  // One kept off the spacing as the newest is dropped once a newer one comes.
  const always = (m: CheckpointMark) => m.position === newest || m.position === pinned
  let kept = marks.filter((m) => m.position % spacing === 0 || always(m))
  while (kept.some((m) => !always(m)) && total(kept) > budget) {
    spacing *= 2
    kept = kept.filter((m) => m.position % spacing === 0 || always(m))
  }
  const keep = new Set(kept.map((m) => m.position))
  return { every: spacing, drop: marks.filter((m) => !keep.has(m.position)).map((m) => m.position) }
}
