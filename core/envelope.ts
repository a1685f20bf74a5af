import { EVENT_SCHEMA_VERSION, type DomainEvent, type EventEnvelope } from "./events.ts"
import type { Actor } from "./ids.ts"

export interface EnvelopeContext {
  /** Epoch milliseconds, from the writer's clock. */
  readonly at: number
  readonly actor: Actor
  /** The command the event answers, if any. */
  readonly commandId?: string | undefined
}

/** An event as a writer (master or agent) writes it now: at the current schema version. */
export const envelopeOf = (event: DomainEvent, { at, actor, commandId }: EnvelopeContext): EventEnvelope =>
  commandId === undefined
    ? { event, schemaVersion: EVENT_SCHEMA_VERSION, at, actor }
    : { event, schemaVersion: EVENT_SCHEMA_VERSION, at, actor, commandId }
