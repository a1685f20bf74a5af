import type { StoredEvent } from "../core/events.ts"
import { applyEvent, cloneState, emptyState, type FleetState } from "../core/state.ts"
import { applyHistory, emptyHistory, type HistoryIndex } from "./history.ts"

/** Everything the master's read API serves: the fleet state and every job's history. */
export interface ReadModel {
  readonly state: FleetState
  readonly history: HistoryIndex
  /** commandId → position of the batch it produced, so a retried command is answered, not redone. */
  readonly commands: Map<string, number>
}

export const emptyReadModel = (): ReadModel => ({ state: emptyState(), history: emptyHistory(), commands: new Map() })

/** Applies one event to a read model the caller owns. */
export const applyToReadModel = (model: ReadModel, stored: StoredEvent): ReadModel => {
  applyEvent(model.state, stored)
  applyHistory(model.history, stored)
  const commandId = stored.envelope.commandId
  if (commandId !== undefined) model.commands.set(commandId, stored.position)
  return model
}

export const foldReadModel = (events: Iterable<StoredEvent>, from: ReadModel = emptyReadModel()): ReadModel => {
  for (const e of events) applyToReadModel(from, e)
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

export const cloneReadModel = (m: ReadModel): ReadModel => ({
  state: cloneState(m.state),
  history: new Map([...m.history].map(([k, v]) => [k, [...v]])),
  commands: new Map(m.commands),
})
