import { Hono } from "hono"
import { Result, Schema } from "effect"
import { decodeInput, type FieldError } from "../../core/decode.ts"
import { AppendConflict } from "../../core/event-log.ts"
import { EventEnvelope, hostStream, hostsOf } from "../../core/events.ts"
import { HostName } from "../../core/ids.ts"
import type { MasterDeps } from "../deps.ts"
import { badRequest, jsonBody } from "../http-support.ts"
import type { RelayedJson } from "../api-schemas.ts"

/*
 * POST /hosts/{host}/events: an agent's facts about its own host, appended to the log by this master.
 *
 * Why a relay: every append claims the log's next position, so a thousand agents appending on their
 * own race for the same position and most of their ZooKeeper multis are refused (bench/fleet.ts:
 * 1,000 agents could not even register in 90 s). Through a master, the appends of many agents come
 * from one writer whose cursor hands out consecutive positions, and the log groups them into shared
 * multis. The agent falls back to appending itself when no master answers (agent/master-relay.ts),
 * and every fact carries a command id, so the agent can tell whether a relayed append landed.
 *
 * Only facts an agent states about its own host are accepted (registration, up, task transitions),
 * with at most that host's stream version expected. This is a sanity check, not authentication:
 * like the log itself, the relay trusts whoever can reach it. A task report is taken whatever the
 * fleet state says: the STOPPING/STOPPED (goal UNDEPLOY) of a job just undeployed from the host, or
 * removed meanwhile, are the end of its history; the fold keeps them out of the task statuses.
 */

const AgentFactTags = new Set(["HostRegistered", "HostWentUp", "TaskStateChanged"])
/** A relayed append is one outbox batch (64 facts by default); this leaves room and bounds the work. */
export const MAX_RELAYED_EVENTS = 1_000

const ExpectedVersion = Schema.Union([
  Schema.Literal("none"),
  Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))),
])
export const RelayedAppend = Schema.Struct({
  events: Schema.Array(EventEnvelope).pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_RELAYED_EVENTS))),
  expected: Schema.optionalKey(Schema.Record(Schema.String, ExpectedVersion)),
})
type RelayedAppend = typeof RelayedAppend.Type

/** What in a well-formed append is not this host's agent speaking about this host. */
const foreignFacts = (host: HostName, append: RelayedAppend): FieldError[] => {
  const errors: FieldError[] = []
  append.events.forEach((e, i) => {
    if (!AgentFactTags.has(e.event._tag)) errors.push({ field: `events.${i}.event._tag`, message: `${e.event._tag} is not an agent's fact` })
    else if (hostsOf(e.event).some((h) => h !== host)) errors.push({ field: `events.${i}.event.host`, message: `not the host ${host}` })
    if (e.actor.kind !== "agent") errors.push({ field: `events.${i}.actor.kind`, message: `expected "agent", got "${e.actor.kind}"` })
  })
  for (const stream of Object.keys(append.expected ?? {}))
    if (stream !== hostStream(host)) errors.push({ field: `expected.${stream}`, message: `only ${hostStream(host)} may be expected` })
  return errors
}

export const agentFactRoutes = (deps: MasterDeps) => {
  const app = new Hono()

  app.post("/hosts/:host/events", async (c) => {
    const host = decodeInput(HostName, c.req.param("host"))
    if (Result.isFailure(host)) return badRequest(c, "INVALID_HOST", host.failure.map((e) => ({ ...e, field: "host" })))
    const body = await jsonBody(c)
    if (!body.ok) return body.response
    const decoded = decodeInput(RelayedAppend, body.value)
    if (Result.isFailure(decoded)) return badRequest(c, "INVALID_BODY", decoded.failure)
    const foreign = foreignFacts(host.success, decoded.success)
    if (foreign.length > 0) return badRequest(c, "NOT_AN_AGENT_FACT", foreign)
    const { events, expected } = decoded.success
    try {
      const r = await deps.log.append(events, expected !== undefined ? { expected } : undefined)
      c.header("Helios-Position", String(r.lastPosition))
      const answer: typeof RelayedJson.Encoded = { status: "OK", firstPosition: r.firstPosition, lastPosition: r.lastPosition, position: r.lastPosition }
      return c.json(answer)
    } catch (error) {
      if (error instanceof AppendConflict)
        return c.json({ status: "CONCURRENT_CHANGE", stream: error.stream, message: `stream ${error.stream} is not at version ${error.expected}` }, 409)
      throw error // 503 / 413 from the app's error handler
    }
  })

  return app
}
