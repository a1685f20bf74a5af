import { jobOf, type StoredEvent } from "../core/events.ts"
import type { Actor } from "../core/ids.ts"

/** One line of a job's audit trail: what happened, where, by whom, when, at which position. */
export interface HistoryEntry {
  readonly position: number
  readonly at: number
  /** Kept as the object; formatted ("user:alice") when served, not once per folded event. */
  readonly actor: Actor
  readonly event: StoredEvent["envelope"]["event"]
}

/** jobId → every event that mentions the job, in log order. Uncapped (Helios kept 30 per host). */
export type HistoryIndex = Map<string, HistoryEntry[]>

export const emptyHistory = (): HistoryIndex => new Map()

export const applyHistory = (index: HistoryIndex, stored: StoredEvent): HistoryIndex => {
  const jobId = jobOf(stored.envelope.event)
  if (jobId === undefined) return index
  let entries = index.get(jobId)
  if (!entries) index.set(jobId, (entries = []))
  entries.push({ position: stored.position, at: stored.envelope.at, actor: stored.envelope.actor, event: stored.envelope.event })
  return index
}

export const historyOf = (index: HistoryIndex, jobId: string): ReadonlyArray<HistoryEntry> => index.get(jobId) ?? []
