import { envelopeOf } from "../core/envelope.ts"
import type { EventEnvelope, DomainEvent } from "../core/events.ts"
import type { AgentId, HostName } from "../core/ids.ts"

export const host = (name: string) => name as HostName
export const agentId = (id: string) => id as AgentId

/** An envelope around an event, written by a test actor at a fixed time. */
export const envelope = (event: DomainEvent, actor = "test", at = 1_700_000_000_000): EventEnvelope =>
  envelopeOf(event, { at, actor: { kind: "user", name: actor } })

/** A small host-scoped event; `tag` ends up in the agent id so tests can tell events apart. */
export const hostUp = (hostName: string, tag: string, actor = "test"): EventEnvelope =>
  envelope({ _tag: "HostWentUp", host: host(hostName), agentId: agentId(tag) }, actor)

/** A valid job id whose name is `tag` (letters, digits, `-_.`). */
export const fakeJobId = (tag: string) => `${tag}:v1:${"0".repeat(40)}` as never

/** A small event that concerns no host; `tag` is its job's name. */
export const jobRemoved = (tag: string, actor = "test"): EventEnvelope =>
  envelope({ _tag: "JobRemoved", jobId: fakeJobId(tag) }, actor)

export const tagOf = (e: EventEnvelope): string =>
  e.event._tag === "HostWentUp"
    ? e.event.agentId
    : e.event._tag === "JobRemoved"
      ? e.event.jobId.split(":")[0]!
      : e.event._tag
