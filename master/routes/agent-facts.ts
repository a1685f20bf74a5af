import { Hono } from "hono"
import { Result, Schema } from "effect"
import { decodeInput, type FieldError } from "../../core/decode.ts"
import { AppendConflict, LogUnavailable } from "../../core/event-log.ts"
import { EVENT_SCHEMA_VERSION, EventEnvelope, hostStream, hostsOf } from "../../core/events.ts"
import { HostName } from "../../core/ids.ts"
import type { MasterDeps } from "../deps.ts"
import { badRequest, jsonBody } from "../http-support.ts"
import type { RelayedJson } from "../api-schemas.ts"
import { RelayedFacts } from "../relayed-facts.ts"

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
 *
 * Under overload the relay sheds load instead of queueing without bound: past `relayMaxInFlight`
 * appends waiting for the log, a request is answered at once with 503 OVERLOADED and a Retry-After
 * (seconds, about how long the appends in flight take now), BEFORE anything is read or written.
 * The agent then knows its facts were not written (no check of the host stream needed), keeps them
 * in its outbox and sends them again after Retry-After plus jitter, through this master: a busy
 * master is not a gone one, so the fleet does not fall back to racing for the log's positions.
 * Without the bound a slow ZooKeeper let the queue grow until the agents' requests timed out, and
 * every time-out sent an agent to append by itself (see agent/master-relay.ts).
 *
 * An agent whose request timed out sends the same facts again: the relay appends each fact once
 * (master/relayed-facts.ts), and writes nothing for a request its agent gave up on before the
 * append began (the connection closed: the facts come again).
 */

const AgentFactTags = new Set(["HostRegistered", "HostWentUp", "TaskStateChanged"])
/** A relayed append is one outbox batch (64 facts by default); this leaves room and bounds the work. */
export const MAX_RELAYED_EVENTS = 1_000
/**
 * Relayed appends waiting for the log at once before the relay sheds load. An agent has one append
 * in flight at a time, so this is how many agents are served at once; the log sends them in groups
 * of 64 (log/zookeeper-log.ts), 4 groups in flight, so 256 keeps every group full.
 */
export const DEFAULT_RELAY_MAX_IN_FLIGHT = 256
/** Retry-After bounds (seconds). */
const MIN_RETRY_AFTER_S = 1
const MAX_RETRY_AFTER_S = 30

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
    // Written as it is, a newer version would stop every master of this build (none could read it back).
    if (e.schemaVersion > EVENT_SCHEMA_VERSION)
      errors.push({ field: `events.${i}.schemaVersion`, message: `${e.schemaVersion} is newer than this master's (${EVENT_SCHEMA_VERSION}): relay it through an upgraded master` })
  })
  for (const stream of Object.keys(append.expected ?? {}))
    if (stream !== hostStream(host)) errors.push({ field: `expected.${stream}`, message: `only ${hostStream(host)} may be expected` })
  return errors
}

export const agentFactRoutes = (deps: MasterDeps) => {
  const app = new Hono()
  const maxInFlight = Math.max(1, deps.relayMaxInFlight ?? DEFAULT_RELAY_MAX_IN_FLIGHT)
  let inFlight = 0
  const relayed = new RelayedFacts()
  /** How long a relayed append took lately (ms, moving average): what a shed agent should wait. */
  let appendMs = 0

  app.post("/hosts/:host/events", async (c) => {
    if (inFlight >= maxInFlight) {
      const retryAfter = Math.min(MAX_RETRY_AFTER_S, Math.max(MIN_RETRY_AFTER_S, Math.ceil(appendMs / 1000)))
      c.header("Retry-After", String(retryAfter))
      return c.json(
        {
          status: "OVERLOADED",
          message: `this master has ${inFlight} agents' appends waiting for the log (at most ${maxInFlight}); nothing was written: send them again after ${retryAfter} s`,
          retryAfterSeconds: retryAfter,
        },
        503,
      )
    }
    const started = deps.now()
    inFlight++
    try {
      // Held while the master's event loop runs late (reads first), before any decoding.
      await deps.beforeWrite?.()
      const host = decodeInput(HostName, c.req.param("host"))
      if (Result.isFailure(host)) return badRequest(c, "INVALID_HOST", host.failure.map((e) => ({ ...e, field: "host" })))
      const body = await jsonBody(c)
      if (!body.ok) return body.response
      const decoded = decodeInput(RelayedAppend, body.value)
      if (Result.isFailure(decoded)) return badRequest(c, "INVALID_BODY", decoded.failure)
      const foreign = foreignFacts(host.success, decoded.success)
      if (foreign.length > 0) return badRequest(c, "NOT_AN_AGENT_FACT", foreign)
      const { events, expected } = decoded.success
      const gaveUp = c.req.raw.signal
      const r = await relayed.append(host.success, events, (fresh) => {
        if (gaveUp.aborted) throw new LogUnavailable({ reason: "the agent gave up on this request before its facts were appended: nothing was written" })
        // An agent's clock ahead of the master's is not let into the log: a time query stops at the
        // first event stamped after the time asked for, so one fact stamped in the future would
        // cut every `status --at` short until then.
        const now = deps.now()
        const stamped = fresh.map((e) => (e.at > now ? { ...e, at: now } : e))
        return deps.log.append(stamped, expected !== undefined ? { expected } : undefined)
      })
      c.header("Helios-Position", String(r.lastPosition))
      const answer: typeof RelayedJson.Encoded = { status: "OK", firstPosition: r.firstPosition, lastPosition: r.lastPosition, position: r.lastPosition }
      return c.json(answer)
    } catch (error) {
      if (error instanceof AppendConflict)
        return c.json({ status: "CONCURRENT_CHANGE", stream: error.stream, message: `stream ${error.stream} is not at version ${error.expected}` }, 409)
      throw error // 503 / 413 from the app's error handler
    } finally {
      inFlight--
      appendMs = 0.9 * appendMs + 0.1 * Math.max(0, deps.now() - started)
    }
  })

  return app
}
