import { Hono } from "hono"
import { stream } from "hono/streaming"
import type { StoredEvent } from "../../core/events.ts"
import { jobOf, hostsOf } from "../../core/events.ts"
import { formatActor, position } from "../../core/ids.ts"
import type { MasterDeps } from "../deps.ts"
import { auditJson, heliosHistoryJson, publicEvent } from "../responses.ts"
import { captureHostStatus, captureJobStatuses, hostStatusBytes, jobStatusesAnswer, jsonKeyOrder } from "../status-json.ts"
import type { HostName } from "../../core/ids.ts"
import { entryOf } from "../../projections/history.ts"
import { readEventsAt, readLog } from "../history-reader.ts"
import { badRequest, MAX_READ_WAIT_MS, readAfterQuery } from "../http-support.ts"
import { pacer } from "../slices.ts"
import { largeJsonAnswer } from "../large-answer.ts"
import type { AsOf } from "../../projections/checkpoints.ts"
import type { EventJson } from "../api-schemas.ts"

const eventJson = (e: StoredEvent): EventJson => ({
  position: e.position,
  timestamp: e.envelope.at,
  actor: formatActor(e.envelope.actor),
  commandId: e.envelope.commandId ?? null,
  type: e.envelope.event._tag,
  event: publicEvent(e.envelope.event),
})

/**
 * Live events a follower of `GET /events?follow=true` may be behind by before the master stops
 * keeping them for it (a paused `helios events --follow | less` would otherwise hold every event
 * of the cluster): past it, it is served from the log from where it is, as a reconnect would be.
 */
export const FOLLOW_QUEUE_EVENTS = 1000

/** An ISO-8601 date, or date and time (seconds, fraction and zone optional). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/

/** The rest of an iterator whose first result was taken already. */
async function* startingWith<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncGenerator<T> {
  for (let next = first; !next.done; next = await rest.next()) yield next.value
}

export const historyRoutes = (deps: MasterDeps, { followQueueEvents = FOLLOW_QUEUE_EVENTS } = {}) => {
  const app = new Hono()
  const state = () => deps.projection.model.state
  // The undecodable events the projection steps over (--skip-undecodable) are left out here too.
  const skipped = () => deps.checkpoints.skipped

  /**
   * A job's events, read from the log at the positions the history index holds for it; with
   * `?tail=N` only its last N. The answer is written in slices and compressed for a client that
   * asks (a long-lived job's history is megabytes, Helios's events each carrying the whole job):
   * the same bytes as JSON.stringify of `{status, events, audit}`.
   */
  app.get("/history/jobs/:id", async (c) => {
    const id = c.req.param("id")
    const tailText = c.req.query("tail")
    const tail = tailText === undefined ? undefined : /^[1-9]\d{0,8}$/.test(tailText) ? Number(tailText) : NaN
    if (Number.isNaN(tail)) return badRequest(c, "INVALID_TAIL", [{ field: "tail", message: `expected a number of events from 1 to 999999999, got ${JSON.stringify(tailText)}` }])
    const all = deps.projection.model.history.positionsOf(id)
    if (all.length === 0) return c.json({ status: "JOB_ID_NOT_FOUND", events: [], audit: [] }, 404)
    const positions = tail === undefined || tail >= all.length ? all : all.slice(all.length - tail)
    const entries = (await readEventsAt(deps.log, positions, skipped())).map(entryOf)
    const events = heliosHistoryJson(state(), id, entries)
    return largeJsonAnswer(
      c,
      (function* () {
        yield '{"status":"OK","events":['
        for (let i = 0; i < events.length; i++) yield (i > 0 ? "," : "") + JSON.stringify(events[i])
        yield '],"audit":['
        for (let i = 0; i < entries.length; i++) yield (i > 0 ? "," : "") + JSON.stringify(auditJson(entries[i]!))
        yield "]}"
      })(),
      deps.compressFromBytes,
    )
  })

  /**
   * The fleet as of a position or an ISO time: the nearest checkpoint plus the log's events after it
   * (master/checkpoints.ts), the same state as a replay of the log's prefix. As of a time: up to
   * just before the first event whose time is after it (projections/checkpoints.ts).
   */
  app.get("/state", async (c) => {
    const at = c.req.query("at")
    let bound: AsOf
    if (at === undefined || at === "") bound = { position: deps.projection.position }
    else if (/^\d+$/.test(at) && Number.isSafeInteger(Number(at))) bound = { position: Number(at) }
    // ISO-8601 only: Date.parse also takes "-1", "1/2/3" and "1 " (each some day of 2001).
    else if (ISO_TIME.test(at) && !Number.isNaN(Date.parse(at))) bound = { time: Date.parse(at) }
    else return badRequest(c, "INVALID_AT", [{ field: "at", message: "expected a position (integer) or an ISO-8601 time" }])
    // A position this master has not applied: the state as of it is not the head's (events are still
    // to come there), so it is answered once applied (another master may be ahead: read-your-writes),
    // and one the log does not hold yet is not found, never answered with the state of another.
    if ("position" in bound && bound.position > deps.projection.position) {
      const head = await deps.log.head()
      if (bound.position > head)
        return c.json({ status: "POSITION_NOT_FOUND", message: `the log ends at position ${head}: there is no state as of ${bound.position} yet`, position: head }, 404)
      // Held before an undecodable event, the fold below meets it and answers 503 naming it.
      if (!(await deps.projection.waitFor(bound.position, MAX_READ_WAIT_MS)) && !deps.projection.undecodable)
        return c.json({ status: "NOT_CAUGHT_UP", message: `this master has not applied position ${bound.position} yet`, position: deps.projection.position }, 503)
    }
    // As of where the projection stands: its own state, nothing to fold.
    const s = "position" in bound && bound.position === deps.projection.position ? deps.projection.model.state : await deps.checkpoints.stateAsOf(bound)
    // Captured at once (the projection's state moves on), rendered in slices from cached fragments:
    // the answer for a large fleet is megabytes.
    const jobs = captureJobStatuses(s, [...s.jobs.keys()])
    const hosts = jsonKeyOrder([...s.hosts.keys()]).map((h) => captureHostStatus(s, h as HostName)!)
    const position = s.position
    return largeJsonAnswer(
      c,
      (function* () {
        yield `{"position":${position},"jobs":`
        yield* jobStatusesAnswer(jobs, { keep: s === deps.projection.model.state })
        yield `,"hosts":{`
        for (let i = 0; i < hosts.length; i++) yield hostStatusBytes(hosts[i]!, undefined, `${i > 0 ? "," : ""}${JSON.stringify(hosts[i]!.host)}:`)
        yield "}}"
      })(),
      deps.compressFromBytes,
    )
  })

  /** NDJSON: events after `after` (default 0), filtered by job/host; `follow=true` stays open for live ones. */
  app.get("/events", async (c) => {
    const query = readAfterQuery(c)
    if (!query.ok) return query.response
    const after = query.after ?? 0
    const job = c.req.query("job")
    const host = c.req.query("host")
    const followText = c.req.query("follow")
    if (followText !== undefined && !["true", "false", "1", "0"].includes(followText))
      return badRequest(c, "INVALID_FOLLOW", [{ field: "follow", message: `expected true or false, got ${JSON.stringify(followText)}` }])
    const follow = followText === "true" || followText === "1"
    const wanted = (e: StoredEvent) =>
      (job === undefined || (jobOf(e.envelope.event) ?? "").includes(job)) &&
      (host === undefined || hostsOf(e.envelope.event).includes(host as never))
    // The first page is read before the answer starts, so a log that cannot give it (its events
    // archived: 410, the log away: 503) is answered with a status, not a cut-off 200.
    const skip = skipped()
    const events = readLog(deps.log, after, undefined, skip)
    const first = await events.next()
    c.header("Content-Type", "application/x-ndjson")
    return stream(c, async (out) => {
      let last = after
      // A long history is written page by page, giving the event loop a turn every few ms.
      const pace = pacer()
      const send = async (e: StoredEvent) => {
        last = e.position
        if (wanted(e)) await out.write(JSON.stringify(eventJson(e)) + "\n")
        await pace()
      }
      const sendAll = async (events: AsyncIterable<StoredEvent>) => {
        for await (const e of events) {
          if (out.aborted) return
          await send(e)
        }
      }
      if (!follow) return sendAll(startingWith(first, events))
      // Live events wait here for a client reading slower than they come, up to a bound: past it
      // they are dropped and the client is served from the log again. Listening starts before the
      // log is read to its end, so every event is either read or queued (those read are skipped).
      let queue: StoredEvent[] = []
      let behind = true
      let wake: (() => void) | undefined
      // A diverged master's live events may not be the log's (and its rebuild sends none): the
      // stream ends, and a follower reconnecting with its last position reads the log again.
      let diverged = deps.projection.diverged !== undefined
      const done = () => out.aborted || diverged
      const stop = deps.projection.onEvents((events) => {
        if (behind) return
        queue.push(...events)
        if (queue.length > followQueueEvents) {
          behind = true
          queue = []
        }
        wake?.()
      })
      const stopDiverged = deps.projection.onDiverged(() => {
        diverged = true
        wake?.()
      })
      out.onAbort(() => wake?.())
      try {
        await sendAll(startingWith(first, events))
        while (!done()) {
          if (behind) {
            behind = false
            queue = []
            await sendAll(readLog(deps.log, last, undefined, skip))
          } else if (queue.length === 0) await new Promise<void>((r) => (wake = r))
          else for (const e of queue.splice(0)) if (e.position > last && !done()) await send(e)
        }
      } finally {
        stop()
        stopDiverged()
      }
    })
  })

  return app
}
