import type { StoredEvent } from "../core/events.ts"
import { applyEvent, emptyState, type FleetState } from "../core/state.ts"
import { CommandIndex } from "./commands.ts"
import { applyHistory, emptyHistory, type HistoryIndex } from "./history.ts"

/** Everything the master's read API serves: the fleet state and every job's history. */
export interface ReadModel {
  readonly state: FleetState
  readonly history: HistoryIndex
  /**
   * The command ids of the log (by hash, with the positions of their events), so a command retried
   * through the command bus is answered, not redone. Only commands the command bus runs are kept:
   * those of users and masters. Agents append their facts themselves (or through a master's relay)
   * and recognise their own retries from the host stream (agent/outbox.ts), so their ids — most of
   * a log — are never looked up here.
   */
  readonly commands: CommandIndex
}

export const emptyReadModel = (): ReadModel => ({ state: emptyState(), history: emptyHistory(), commands: new CommandIndex() })

/** Applies one event to a read model the caller owns. */
export const applyToReadModel = (model: ReadModel, stored: StoredEvent): ReadModel => {
  applyEvent(model.state, stored)
  applyHistory(model.history, stored)
  const envelope = stored.envelope
  if (envelope.commandId !== undefined && envelope.actor.kind !== "agent") model.commands.add(envelope.commandId, stored.position)
  return model
}

export const foldReadModel = (events: Iterable<StoredEvent>, from: ReadModel = emptyReadModel()): ReadModel => {
  if (Array.isArray(events)) for (let i = 0; i < events.length; i++) applyToReadModel(from, events[i] as StoredEvent)
  else for (const e of events) applyToReadModel(from, e)
  return from
}

/** The state as it was after position `p` or at time `t` (epoch ms): a replay of the prefix. */
export const stateAsOf = (
  events: Iterable<StoredEvent>,
  at: { readonly position: number } | { readonly time: number },
): FleetState => {
  const state = emptyState()
  for (const e of events) {
    if ("position" in at ? e.position > at.position : e.envelope.at > at.time) break
    applyEvent(state, e)
  }
  return state
}

