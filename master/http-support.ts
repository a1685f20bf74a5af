import type { Context } from "hono"
import type { IncomingMessage } from "node:http"
import { Result, Schema, SchemaTransformation } from "effect"
import type { Rejection, Command } from "../core/commands.ts"
import type { CommandIdReused, ConcurrentChange, Executed, Precondition } from "./command-bus.ts"
import type { MasterDeps } from "./deps.ts"
import type { Actor } from "../core/ids.ts"
import { isJobId, type JobId } from "../core/job-id.ts"
import { actorNameOf, principalOf } from "./auth.ts"
import { decodeInput, type FieldError } from "../core/decode.ts"

/*
 * HTTP status for each outcome. Helios answered most refusals with 400; we keep its status names
 * in the body but use the status codes a client expects: 404 for unknown things, 409 for
 * conflicts with the current state, 403 for a wrong token. (README "API" lists them.)
 */
export const httpStatusOf = (status: Rejection["status"] | "CONCURRENT_CHANGE"): 400 | 403 | 404 | 409 => {
  switch (status) {
    case "INVALID_JOB_DEFINITION":
      return 400
    case "FORBIDDEN":
      return 403
    case "JOB_NOT_FOUND":
    case "HOST_NOT_FOUND":
    case "JOB_NOT_DEPLOYED":
    case "DEPLOYMENT_GROUP_NOT_FOUND":
    case "ROLLOUT_NOT_FOUND":
      return 404
    case "JOB_ALREADY_EXISTS":
    case "JOB_ALREADY_DEPLOYED":
    case "PORT_CONFLICT":
    case "STILL_IN_USE":
    case "CONCURRENT_CHANGE":
    case "CONFLICT":
    case "NOT_AWAITING_PROMOTION":
    case "NO_ROLLBACK_TARGET":
    case "CHANGED_SINCE_POSITION":
      return 409
  }
}

export const actorOf = (c: Context): Actor => {
  // Authenticated: the principal is the actor (`?user=` counts only for one that may name users).
  const principal = actorNameOf(c)
  if (principal !== undefined) return { kind: "user", name: principal }
  const user = c.req.query("user")
  return { kind: "user", name: user && user.length > 0 && user.length <= 256 ? user : "anonymous" }
}

const COMMAND_ID = /^[A-Za-z0-9._:-]{1,128}$/
/** `?user=`: at most 256 characters, none of them a control character (it is recorded as the actor). */
const USER_NAME = /^[^\u0000-\u001f\u007f]{1,256}$/

/** A client-chosen id makes a retried write idempotent (answered with the first outcome). */
export const commandIdOf = (c: Context): string | undefined => {
  const id = c.req.header("Helios-Command-Id")
  return id && COMMAND_ID.test(id) ? id : undefined
}

/**
 * What a write's Helios-Command-Id header and `?user=` hold that cannot be taken: a malformed id
 * dropped silently made a retry run twice, and a user name is recorded in the audit trail.
 */
const writeInputErrors = (c: Context): FieldError[] => {
  const errors: FieldError[] = []
  const id = c.req.header("Helios-Command-Id")
  if (id !== undefined && !COMMAND_ID.test(id)) errors.push({ field: "Helios-Command-Id", message: "expected 1 to 128 of A-Z a-z 0-9 . _ : -" })
  // Checked where it is recorded: without authentication, and for a principal that may name users.
  const user = c.req.query("user")
  const principal = principalOf(c)
  const recorded = principal === undefined || actorNameOf(c) !== principal.name
  if (user !== undefined && recorded && !USER_NAME.test(user)) errors.push({ field: "user", message: "expected 1 to 256 characters, no control characters" })
  return errors
}

export const badRequest = (
  c: Context,
  status: string,
  errors: ReadonlyArray<{ field: string; message: string }>,
  extra: Record<string, unknown> = {},
) => c.json({ status, ...extra, errors: errors.map((e) => `${e.field}: ${e.message}`), fieldErrors: errors }, 400)

/**
 * The name an endpoint's Helios response gives a refusal, where it differs from the decision's:
 * Helios's JobUndeployResponse says JOB_NOT_FOUND for a job not deployed on the host, and its
 * HostDeregisterResponse says NOT_FOUND for an unknown host. The HTTP code stays the decision's.
 */
export type StatusNames = Partial<Record<Rejection["status"], string>>

/** Runs a command and answers in Helios's `{status, ...}` shape with our `position` added. */
export const runCommand = async (
  c: Context,
  deps: MasterDeps,
  command: Command,
  okBody: Record<string, unknown>,
  statusNames: StatusNames = {},
  /** The status name of a success (default OK), e.g. Helios's CREATED / NOT_MODIFIED. */
  okStatus: (executed: Executed) => string = () => "OK",
  precondition?: Precondition,
): Promise<Response> => {
  const refused = writeInputErrors(c)
  if (refused.length > 0) return badRequest(c, "INVALID_REQUEST", refused, okBody)
  const result: Result.Result<Executed, Rejection | ConcurrentChange | CommandIdReused> = await deps.bus.execute(
    command,
    () => ({ now: deps.now(), actor: actorOf(c), master: deps.name }),
    commandIdOf(c),
    precondition,
  )
  if (Result.isSuccess(result)) {
    c.header("Helios-Position", String(result.success.position))
    return c.json({ status: okStatus(result.success), ...okBody, position: result.success.position })
  }
  const failure = result.failure
  if (failure._tag === "ConcurrentChange")
    return c.json({ ...okBody, status: "CONCURRENT_CHANGE", message: failure.message }, 409)
  if (failure._tag === "CommandIdReused")
    return c.json({ ...okBody, status: "COMMAND_ID_REUSED", message: failure.message, errors: [`Helios-Command-Id: ${failure.message}`] }, 409)
  return c.json(
    {
      ...okBody,
      status: statusNames[failure.status] ?? failure.status,
      message: failure.message,
      ...failure.details,
      errors: (failure.errors ?? []).map((e) => `${e.field}: ${e.message}`),
      fieldErrors: failure.errors ?? [],
    },
    httpStatusOf(failure.status),
  )
}

/** Largest request body accepted (a job is far smaller; ZooKeeper's request limit is 1 MB). */
export const MAX_BODY_BYTES = 512 * 1024

export const bodyTooLarge = (c: Context) => c.json({ status: "BODY_TOO_LARGE", errors: [`(body): larger than ${MAX_BODY_BYTES} bytes`] }, 413)

/** Over the limit: the request was refused while its body was being read. */
class BodyTooLarge extends Error {}

/**
 * The request body as text, at most `limit` bytes. Read straight from Node's request stream when
 * served by @hono/node-server (no web Request and stream built around it), else through hono.
 */
export const readBodyText = async (c: Context, limit = MAX_BODY_BYTES): Promise<string> => {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (incoming === undefined || incoming.readableEnded) {
    const text = await c.req.text()
    if (Buffer.byteLength(text) > limit) throw new BodyTooLarge()
    return text
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new BodyTooLarge()
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, size).toString("utf8")
}

/** Reads the request body to its end, keeping none of it (a refused body, so the client reads the answer). */
export const discardBody = async (c: Context): Promise<void> => {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (incoming === undefined || incoming.readableEnded) return
  for await (const _chunk of incoming as AsyncIterable<Buffer>);
}

/** Bodies being read, by request: read once, by the app before routing a write (app.ts) and by jsonBody. */
const bodies = new WeakMap<object, Promise<string>>()

/** The request body, read in full once; an answer instead when it cannot be received. */
export const receiveBody = async (c: Context): Promise<{ ok: true; text: string } | { ok: false; response: Response }> => {
  const key: object = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming ?? c.req.raw
  let reading = bodies.get(key)
  if (reading === undefined) bodies.set(key, (reading = readBodyText(c)))
  try {
    return { ok: true, text: await reading }
  } catch (e) {
    if (e instanceof BodyTooLarge) return { ok: false, response: bodyTooLarge(c) }
    // The client ended the connection before the body it declared (Node: "aborted"): its fault, not ours.
    return { ok: false, response: badRequest(c, "INCOMPLETE_BODY", [{ field: "(body)", message: `not received in full: ${(e as Error).message}` }]) }
  }
}

/** Parses a JSON body; undefined (after answering 400) when it is not JSON. */
export const jsonBody = async (c: Context): Promise<{ ok: true; value: unknown } | { ok: false; response: Response }> => {
  const body = await receiveBody(c)
  if (!body.ok) return body
  const text = body.text
  try {
    return { ok: true, value: text.length === 0 ? undefined : JSON.parse(text) }
  } catch (e) {
    return { ok: false, response: badRequest(c, "INVALID_JSON", [{ field: "(body)", message: `not valid JSON: ${(e as Error).message}` }]) }
  }
}

/** A full job id from a path parameter (Helios requires full ids on every job endpoint). */
export const jobIdParam = (
  c: Context,
  raw: string,
  extra: Record<string, unknown> = {},
): { ok: true; id: JobId } | { ok: false; response: Response } =>
  isJobId(raw)
    ? { ok: true, id: raw }
    : { ok: false, response: badRequest(c, "INVALID_ID", [{ field: "jobId", message: `not a full job id name:version:hash: ${raw}` }], extra) }

/** A query parameter holding a whole number of at most 2^53 - 1 (larger ones lose their last digits). */
const WholeNumberParam = (what: string) =>
  Schema.String.pipe(
    Schema.check(Schema.isPattern(/^\d+$/, { message: `expected ${what} (a whole number of 0 or more)` })),
    Schema.decodeTo(
      Schema.Number.pipe(Schema.check(Schema.isLessThanOrEqualTo(Number.MAX_SAFE_INTEGER, { message: `expected ${what} of at most ${Number.MAX_SAFE_INTEGER}` }))),
      SchemaTransformation.numberFromString,
    ),
  )

/** Longest a read waits for a position to be applied (`?after=`, `/state?at=`). */
export const MAX_READ_WAIT_MS = 10_000

/** `?after=POSITION&wait=MS` of a read that must see a position (read-your-writes across masters). */
const ReadAfterQuery = Schema.Struct({
  after: Schema.optionalKey(WholeNumberParam("a position")),
  wait: Schema.optionalKey(WholeNumberParam("a number of milliseconds")),
})

/** Decodes `after` and `wait` where given; every bad one is named (`INVALID_AFTER` first, else `INVALID_WAIT`). */
export const readAfterQuery = (
  c: Context,
): { ok: true; after: number | undefined; wait: number | undefined } | { ok: false; response: Response } => {
  const raw: Record<string, string> = {}
  for (const key of ["after", "wait"] as const) {
    const value = c.req.query(key)
    if (value !== undefined) raw[key] = value
  }
  const r = decodeInput(ReadAfterQuery, raw)
  if (Result.isSuccess(r)) return { ok: true, after: r.success.after, wait: r.success.wait }
  const errors: ReadonlyArray<FieldError> = r.failure
  return { ok: false, response: badRequest(c, errors.some((e) => e.field === "after") ? "INVALID_AFTER" : "INVALID_WAIT", errors) }
}
