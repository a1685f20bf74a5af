/*
 * A job's history names positions spread over the log (projections/history.ts). Those close
 * together are read as one range: a batch or a packed chunk holds many positions, so one read of
 * the range is cheaper than one per position.
 */

/** Positions at most this far apart are read as one range. */
export const RANGE_GAP = 64
/** Longest range read at once. */
export const MAX_RANGE = 5_000

/** Ranges of ascending `positions`: [index of the first, index of the last] in `positions`. */
export const positionRanges = (positions: ReadonlyArray<number>, gap = RANGE_GAP, maxRange = MAX_RANGE): Array<readonly [number, number]> => {
  const ranges: Array<readonly [number, number]> = []
  for (let i = 0; i < positions.length; ) {
    let j = i
    while (j + 1 < positions.length && positions[j + 1]! - positions[j]! <= gap && positions[j + 1]! - positions[i]! < maxRange) j++
    ranges.push([i, j])
    i = j + 1
  }
  return ranges
}

/** The error of a read at positions the log does not hold (the history index and the log disagree). */
export const missingPosition = (p: number): Error => new Error(`the log holds no event at position ${p}, which the history index names`)
