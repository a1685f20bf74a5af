import { JsonSchema, Schema, SchemaRepresentation } from "effect"
import { DeploymentGroupName, DeploymentGroupRequest, MergedRolloutOptions, RollbackRequest, RollingUpdateRequest, RolloutStep } from "../core/deployment-group.ts"
import { DomainEvent, EventEnvelope } from "../core/events.ts"
import { HostSelector } from "../core/host-selector.ts"
import { AgentId, HostName, Position, TaskState } from "../core/ids.ts"
import { HealthCheck, Job, JobId, JobInput, LivenessCheck, PortMapping } from "../core/job.ts"
import * as Api from "./api-schemas.ts"
import { MAX_BODY_BYTES } from "./http-support.ts"
import { RelayedAppend } from "./routes/agent-facts.ts"
import { DeploymentBody } from "./routes/hosts.ts"

/*
 * The master's HTTP API as an OpenAPI 3.1 document (GET /openapi.json, read at /docs). ROUTES below
 * is the one table of every endpoint: its parameters, body and answers name the Effect schemas the
 * code decodes requests with (core/, the routes) and types its answers by (api-schemas.ts); the
 * JSON Schemas are generated from them (effect's SchemaRepresentation), never written by hand.
 * master/openapi.test.ts fails when the hono app has a route this table lacks (or the reverse), or
 * when the document is not a valid OpenAPI 3.1 document.
 */

type Method = "get" | "post" | "put" | "patch" | "delete"

interface Param {
  readonly name: string
  readonly in: "path" | "query" | "header"
  readonly description: string
  readonly schema: Schema.Top
  readonly required?: boolean
  /** A query parameter that may repeat (`?selector=a&selector=b`). */
  readonly repeated?: boolean
}

interface Reply {
  readonly description: string
  /** JSON body (the default), NDJSON (one schema value per line), text or nothing. */
  readonly schema?: Schema.Top
  readonly media?: "application/json" | "application/x-ndjson" | "text/plain" | "text/html" | "text/javascript" | "text/css"
}

export interface Route {
  readonly method: Method
  /** OpenAPI form: `/jobs/{id}`. */
  readonly path: string
  readonly tag: string
  readonly summary: string
  readonly description?: string
  readonly params?: ReadonlyArray<Param>
  readonly body?: { readonly schema: Schema.Top; readonly description: string }
  /** Answers besides the common ones (see commonResponses). */
  readonly responses: Readonly<Record<number, Reply>>
  /** Not part of the API proper (its own document, its reference page): no read-your-writes, no version check. */
  readonly meta?: boolean
}

// -------------------------------------------------------------------------------------------------
// Parameters

const jobIdPath: Param = { name: "id", in: "path", required: true, schema: JobId, description: "A full job id, name:version:hash." }
const hostPath: Param = { name: "host", in: "path", required: true, schema: HostName, description: "A host name, as its agent registered it." }
const hostJobId: Param = { ...jobIdPath, name: "jobId" }
const groupPath: Param = { name: "name", in: "path", required: true, schema: DeploymentGroupName, description: "A deployment group's name." }
const token: Param = { name: "token", in: "query", schema: Schema.String, description: "The job's (or rollout's) access token, when it has one." }

/** On every request: the user recorded as the actor of the events a write appends. */
const user: Param = { name: "user", in: "query", schema: Schema.String, description: "Who is asking: recorded as the actor of what a write appends (default anonymous; at most 256 characters)." }
/** Read-your-writes across masters (app.ts): a read waits until this master has applied the position. */
const after: Param = {
  name: "after",
  in: "query",
  schema: Position,
  description: "Answer only once this master has applied this log position (the `position` a write answered with), waiting up to `wait` ms; 503 NOT_CAUGHT_UP otherwise.",
}
const wait: Param = { name: "wait", in: "query", schema: Schema.Number, description: "With `after`: how long to wait, in ms (at most 10000, the default)." }
const commandId: Param = {
  name: "Helios-Command-Id",
  in: "header",
  schema: Schema.String,
  description: "Makes a retried write idempotent: the same id is answered with the first outcome ([A-Za-z0-9._:-]{1,128}).",
}
const version: Param = {
  name: "Helios-Version",
  in: "header",
  schema: Schema.String,
  description: "The client's version, MAJOR.MINOR.PATCH: a master of another major version refuses the request (426).",
}

// -------------------------------------------------------------------------------------------------
// Answers

const json = (description: string, schema: Schema.Top): Reply => ({ description, schema })
const refused = (description: string): Reply => ({ description, schema: Api.ErrorJson })
const ARCHIVED = refused(
  "ARCHIVED: events it needs were archived out of the log (`helios-master archive`) and this master has no --archive-dir holding them; `archivedThrough` is the last archived position",
)
const ok = (description: string): Reply => json(description, Api.CommandJson)
const Names = Schema.Array(Schema.String)

// -------------------------------------------------------------------------------------------------
// The routes

export const ROUTES: ReadonlyArray<Route> = [
  // Jobs
  {
    method: "get",
    path: "/jobs",
    tag: "jobs",
    summary: "List jobs",
    params: [
      { name: "q", in: "query", schema: Schema.String, description: "Only jobs whose id contains this text." },
      { name: "hostPattern", in: "query", schema: Schema.String, description: "Only jobs deployed on a host matching this regular expression." },
    ],
    responses: { 200: json("The jobs, by id.", Schema.Record(Schema.String, Job)), 400: refused("INVALID_PATTERN") },
  },
  {
    method: "post",
    path: "/jobs",
    tag: "jobs",
    summary: "Create a job",
    description: "The id may omit its hash (`name:version`): the master computes it as Helios does and answers with the full id.",
    body: { schema: JobInput, description: "The job (Helios's Job JSON; null means absent)." },
    responses: { 200: ok("OK, with the job's full `id`."), 400: refused("INVALID_JOB_DEFINITION (every bad field named)"), 409: refused("JOB_ALREADY_EXISTS") },
  },
  {
    method: "get",
    path: "/jobs/{id}",
    tag: "jobs",
    summary: "Get a job",
    params: [jobIdPath],
    responses: { 200: json("The job.", Job), 400: refused("INVALID_ID"), 404: refused("JOB_NOT_FOUND") },
  },
  {
    method: "delete",
    path: "/jobs/{id}",
    tag: "jobs",
    summary: "Remove a job",
    params: [jobIdPath, token],
    responses: { 200: ok("OK"), 403: refused("FORBIDDEN: wrong token"), 404: refused("JOB_NOT_FOUND"), 409: refused("STILL_IN_USE: deployed somewhere") },
  },
  {
    method: "get",
    path: "/jobs/{id}/status",
    tag: "jobs",
    summary: "A job's deployments and task states",
    params: [jobIdPath],
    responses: { 200: json("The job's status.", Api.JobStatusJson), 400: refused("INVALID_ID"), 404: refused("JOB_NOT_FOUND") },
  },
  {
    method: "post",
    path: "/jobs/statuses",
    tag: "jobs",
    summary: "Several jobs' statuses",
    body: { schema: Schema.Array(JobId), description: "Full job ids." },
    responses: { 200: json("The statuses of the jobs that exist, by id.", Schema.Record(Schema.String, Api.JobStatusJson)), 400: refused("INVALID_BODY, INVALID_ID") },
  },

  // Hosts
  {
    method: "get",
    path: "/hosts",
    tag: "hosts",
    summary: "List hosts",
    params: [
      { name: "namePattern", in: "query", schema: Schema.String, description: "Only hosts whose name matches this regular expression." },
      { name: "selector", in: "query", repeated: true, schema: Schema.String, description: "Only hosts whose labels match every selector: `key=value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`." },
    ],
    responses: { 200: json("Host names, sorted.", Names), 400: refused("INVALID_PATTERN, INVALID_SELECTOR") },
  },
  {
    method: "put",
    path: "/hosts/{host}",
    tag: "hosts",
    summary: "Register a host with an agent id",
    params: [hostPath, { name: "id", in: "query", required: true, schema: AgentId, description: "The agent id the host's agent must present." }],
    responses: { 200: ok("OK"), 400: refused("INVALID_HOST, INVALID_ID"), 409: refused("CONFLICT: registered with another id") },
  },
  {
    method: "delete",
    path: "/hosts/{host}",
    tag: "hosts",
    summary: "Deregister a host",
    params: [hostPath],
    responses: { 200: ok("OK"), 404: refused("NOT_FOUND") },
  },
  {
    method: "get",
    path: "/hosts/{host}/status",
    tag: "hosts",
    summary: "A host's status, jobs and task states",
    params: [hostPath, { name: "status", in: "query", schema: Schema.Literals(["UP", "DOWN"]), description: "Answer 404 unless the host is in this state." }],
    responses: { 200: json("The host's status.", Api.HostStatusJson), 404: refused("HOST_NOT_FOUND") },
  },
  {
    method: "post",
    path: "/hosts/statuses",
    tag: "hosts",
    summary: "Several hosts' statuses",
    params: [{ name: "status", in: "query", schema: Schema.Literals(["UP", "DOWN"]), description: "Only hosts in this state." }],
    body: { schema: Names, description: "Host names." },
    responses: { 200: json("The statuses of the hosts that exist, by name.", Schema.Record(Schema.String, Api.HostStatusJson)), 400: refused("INVALID_BODY") },
  },
  {
    method: "put",
    path: "/hosts/{host}/jobs/{jobId}",
    tag: "deployments",
    summary: "Deploy a job to a host",
    params: [hostPath, hostJobId, token],
    body: { schema: DeploymentBody, description: "Helios's Deployment: the goal (and the job id again, if given it must match the path)." },
    responses: {
      200: ok("OK"),
      400: refused("INVALID_BODY, INVALID_ID, ID_MISMATCH"),
      403: refused("FORBIDDEN: wrong token"),
      404: refused("JOB_NOT_FOUND, HOST_NOT_FOUND"),
      409: refused("JOB_ALREADY_DEPLOYED, PORT_CONFLICT"),
    },
  },
  {
    method: "patch",
    path: "/hosts/{host}/jobs/{jobId}",
    tag: "deployments",
    summary: "Set a deployment's goal (start / stop)",
    params: [hostPath, hostJobId, token],
    body: { schema: DeploymentBody, description: "Helios's Deployment: the new goal." },
    responses: { 200: ok("OK"), 400: refused("INVALID_BODY, INVALID_ID, ID_MISMATCH"), 403: refused("FORBIDDEN"), 404: refused("JOB_NOT_DEPLOYED") },
  },
  {
    method: "get",
    path: "/hosts/{host}/jobs/{jobId}",
    tag: "deployments",
    summary: "A deployment",
    params: [hostPath, hostJobId],
    responses: { 200: json("The deployment.", Api.DeploymentJson), 400: refused("INVALID_ID"), 404: refused("JOB_NOT_DEPLOYED") },
  },
  {
    method: "delete",
    path: "/hosts/{host}/jobs/{jobId}",
    tag: "deployments",
    summary: "Undeploy a job from a host",
    params: [hostPath, hostJobId, token],
    responses: { 200: ok("OK"), 400: refused("INVALID_ID"), 403: refused("FORBIDDEN"), 404: refused("JOB_NOT_FOUND (not deployed there), HOST_NOT_FOUND") },
  },
  {
    method: "post",
    path: "/hosts/{host}/events",
    tag: "agents",
    summary: "Relay an agent's facts about its host onto the log",
    description: "Used by agents (registration, up, task state changes of their own host); a master appends them for it.",
    params: [hostPath],
    body: { schema: RelayedAppend, description: "The events, and at most the host stream's expected version." },
    responses: {
      200: json("Where they landed in the log.", Api.RelayedJson),
      400: refused("INVALID_HOST, INVALID_BODY, NOT_AN_AGENT_FACT"),
      409: refused("CONCURRENT_CHANGE"),
      503: refused("OVERLOADED: too many agents' appends wait for the log; nothing was written, send again after the Retry-After header's seconds"),
    },
  },

  // History and time travel
  {
    method: "get",
    path: "/history/jobs/{id}",
    tag: "history",
    summary: "A job's history: who did what, when, at which position",
    params: [
      { ...jobIdPath, schema: Schema.String, description: "A full job id (of a job that may have been removed)." },
      { name: "tail", in: "query", schema: Schema.String, description: "Only the job's last N events (1 to 999999999); default all." },
    ],
    responses: { 200: json("Its task status events (Helios's) and its audit trail.", Api.HistoryJson), 400: refused("INVALID_TAIL"), 404: refused("JOB_ID_NOT_FOUND"), 410: ARCHIVED },
  },
  {
    method: "get",
    path: "/state",
    tag: "history",
    summary: "The fleet as of a log position or a time",
    params: [{ name: "at", in: "query", schema: Schema.String, description: "A log position (integer) or an ISO-8601 time; default now." }],
    responses: {
      200: json("Jobs (with deployments and tasks) and hosts, as they were.", Api.StateJson),
      400: refused("INVALID_AT"),
      404: refused("POSITION_NOT_FOUND: past the log's end (its last position in `position`)"),
      410: ARCHIVED,
    },
  },
  {
    method: "get",
    path: "/events",
    tag: "history",
    summary: "The event log, as NDJSON (optionally followed live)",
    params: [
      { name: "after", in: "query", schema: Position, description: "Events after this position (default 0: from the start)." },
      { name: "job", in: "query", schema: Schema.String, description: "Only events of jobs whose id contains this text." },
      { name: "host", in: "query", schema: Schema.String, description: "Only events concerning this host." },
      { name: "follow", in: "query", schema: Schema.Literals(["true", "1"]), description: "Stay open and send new events as they are appended." },
    ],
    responses: { 200: { description: "One event per line.", schema: Api.EventJson, media: "application/x-ndjson" }, 400: refused("INVALID_AFTER"), 410: ARCHIVED },
  },

  // Deployment groups
  { method: "get", path: "/deployment-group", tag: "deployment groups", summary: "List deployment groups", responses: { 200: json("Group names, sorted.", Names) } },
  {
    method: "post",
    path: "/deployment-group",
    tag: "deployment groups",
    summary: "Create a deployment group",
    body: { schema: DeploymentGroupRequest, description: "Helios's DeploymentGroup: a name and host selectors (job, options and reason are ignored)." },
    responses: { 200: ok("CREATED, or NOT_MODIFIED for the same group again."), 400: refused("INVALID_DEPLOYMENT_GROUP"), 409: refused("CONFLICT: another group by that name") },
  },
  {
    method: "get",
    path: "/deployment-group/{name}",
    tag: "deployment groups",
    summary: "Get a deployment group",
    params: [groupPath],
    responses: { 200: json("The group.", Api.DeploymentGroupJson), 400: refused("INVALID_DEPLOYMENT_GROUP_NAME"), 404: refused("DEPLOYMENT_GROUP_NOT_FOUND") },
  },
  {
    method: "delete",
    path: "/deployment-group/{name}",
    tag: "deployment groups",
    summary: "Remove a deployment group (its deployments stay)",
    params: [groupPath],
    responses: { 200: ok("REMOVED"), 400: refused("INVALID_DEPLOYMENT_GROUP_NAME"), 404: refused("DEPLOYMENT_GROUP_NOT_FOUND") },
  },
  {
    method: "post",
    path: "/deployment-group/{name}/rolling-update",
    tag: "deployment groups",
    summary: "Roll a job out to the group's hosts",
    params: [groupPath],
    body: { schema: RollingUpdateRequest, description: "Helios's RollingUpdateRequest: the full job id and rollout options." },
    responses: {
      200: ok("OK: the rollout started."),
      400: refused("INVALID_ROLLING_UPDATE, INVALID_ID"),
      403: refused("FORBIDDEN: wrong token"),
      404: refused("DEPLOYMENT_GROUP_NOT_FOUND, JOB_NOT_FOUND"),
      409: refused("CONFLICT; CHANGED_SINCE_POSITION: with `checkPosition`, what the plan was made against changed since (the changes in `changes`)"),
    },
  },
  {
    method: "post",
    path: "/deployment-group/{name}/stop",
    tag: "deployment groups",
    summary: "Stop the group's rollout (nothing is undone)",
    params: [groupPath],
    responses: { 204: { description: "Stopped." }, 400: refused("INVALID_DEPLOYMENT_GROUP_NAME"), 404: refused("DEPLOYMENT_GROUP_NOT_FOUND") },
  },
  {
    method: "post",
    path: "/deployment-group/{name}/plan",
    tag: "rollouts",
    summary: "What a rolling update would do now, and the position it was planned at (writes nothing)",
    params: [groupPath],
    body: { schema: RollingUpdateRequest, description: "As rolling-update." },
    responses: { 200: json("The plan.", Api.PlanJson), 400: refused("INVALID_ROLLING_UPDATE, INVALID_ID"), 403: refused("FORBIDDEN: wrong token"), 404: refused("DEPLOYMENT_GROUP_NOT_FOUND, JOB_NOT_FOUND") },
  },
  {
    method: "post",
    path: "/deployment-group/{name}/promote",
    tag: "rollouts",
    summary: "Let a canary rollout go on to the other hosts",
    params: [groupPath],
    responses: { 200: ok("OK"), 400: refused("INVALID_DEPLOYMENT_GROUP_NAME"), 404: refused("DEPLOYMENT_GROUP_NOT_FOUND"), 409: refused("NOT_AWAITING_PROMOTION") },
  },
  {
    method: "post",
    path: "/deployment-group/{name}/rollback",
    tag: "rollouts",
    summary: "Roll back to the previous successful rollout's job (or rollout N's)",
    params: [groupPath],
    body: { schema: RollbackRequest, description: "Optional: toRollout, and rollout options overriding the replaced rollout's." },
    responses: {
      200: ok("OK: the ROLLBACK rollout started."),
      400: refused("INVALID_ROLLBACK"),
      403: refused("FORBIDDEN: wrong token"),
      404: refused("DEPLOYMENT_GROUP_NOT_FOUND, ROLLOUT_NOT_FOUND, JOB_NOT_FOUND"),
      409: refused("NO_ROLLBACK_TARGET"),
    },
  },
  {
    method: "get",
    path: "/deployment-group/{name}/rollouts",
    tag: "rollouts",
    summary: "The group's rollouts: number, job, reason, who, when, how long, how each ended",
    params: [groupPath],
    responses: { 200: json("Its rollouts, oldest first.", Api.RolloutsJson), 400: refused("INVALID_DEPLOYMENT_GROUP_NAME"), 404: refused("DEPLOYMENT_GROUP_NOT_FOUND") },
  },
  {
    method: "get",
    path: "/deployment-group/{name}/rollouts/{number}/replay",
    tag: "rollouts",
    summary: "One rollout rebuilt from the log: each step, its host's task reports meanwhile, why it failed",
    params: [groupPath, { name: "number", in: "path", required: true, schema: Schema.String, description: "A rollout number (1, 2, ...) or `latest`." }],
    responses: { 200: json("The rollout's timeline.", Api.ReplayJson), 400: refused("INVALID_ROLLOUT"), 404: refused("DEPLOYMENT_GROUP_NOT_FOUND, ROLLOUT_NOT_FOUND"), 410: ARCHIVED },
  },
  {
    method: "get",
    path: "/deployment-group/{name}/status",
    tag: "deployment groups",
    summary: "A group's rollout: status, plan, progress, failures",
    params: [groupPath],
    responses: { 200: json("The group's status.", Api.DeploymentGroupStatusJson), 400: refused("INVALID_DEPLOYMENT_GROUP_NAME"), 404: refused("DEPLOYMENT_GROUP_NOT_FOUND") },
  },

  // The masters themselves
  { method: "get", path: "/masters", tag: "masters", summary: "The masters that are up", responses: { 200: json("Their names.", Names) } },
  {
    method: "get",
    path: "/version",
    tag: "masters",
    summary: "This master's version",
    responses: { 200: { description: "The version as a JSON string (sent as text/plain, as Helios does).", schema: Schema.String, media: "text/plain" } },
  },
  {
    method: "get",
    path: "/version/check",
    tag: "masters",
    summary: "Whether a client version is compatible",
    params: [{ name: "client", in: "query", schema: Schema.String, description: "The client's version, MAJOR.MINOR.PATCH[-SNAPSHOT]." }],
    responses: { 200: json("EQUAL, COMPATIBLE, MAYBE, INCOMPATIBLE or MISSING.", Api.VersionCheckJson), 400: json("INVALID (malformed version).", Api.ErrorJson) },
  },
  {
    method: "get",
    path: "/healthz",
    tag: "masters",
    summary: "Health: OK while the read model agrees with the log",
    responses: { 200: json("OK", Api.HealthJson), 503: refused("DIVERGED, UNDECODABLE_EVENT") },
  },
  {
    method: "get",
    path: "/projection/digest",
    tag: "masters",
    summary: "A digest of this master's read model (for consistency checks)",
    responses: { 200: json("SHA-256 of the read model's snapshot and the position it has applied.", Api.DigestJson) },
  },
  {
    method: "get",
    path: "/openapi.json",
    tag: "documentation",
    summary: "This document",
    meta: true,
    responses: { 200: json("The OpenAPI 3.1 document.", Schema.Record(Schema.String, Schema.Unknown)) },
  },
  { method: "get", path: "/docs", tag: "documentation", summary: "The interactive API reference (HTML)", meta: true, responses: { 200: { description: "The page.", media: "text/html" } } },
  { method: "get", path: "/docs/app.js", tag: "documentation", summary: "The reference page's script", meta: true, responses: { 200: { description: "JavaScript.", media: "text/javascript" } } },
  { method: "get", path: "/docs/app.css", tag: "documentation", summary: "The reference page's style sheet", meta: true, responses: { 200: { description: "CSS.", media: "text/css" } } },
  { method: "get", path: "/metrics", tag: "observability", summary: "Prometheus metrics (text exposition format)", meta: true, responses: { 200: { description: "The metrics.", media: "text/plain" } } },
  { method: "get", path: "/ui", tag: "dashboard", summary: "The dashboard (HTML; every page is a view of this API)", meta: true, responses: { 200: { description: "The page.", media: "text/html" } } },
  { method: "get", path: "/ui/", tag: "dashboard", summary: "The dashboard (HTML)", meta: true, responses: { 200: { description: "The page.", media: "text/html" } } },
  { method: "get", path: "/ui/app.js", tag: "dashboard", summary: "The dashboard's script", meta: true, responses: { 200: { description: "JavaScript.", media: "text/javascript" } } },
  { method: "get", path: "/ui/app.css", tag: "dashboard", summary: "The dashboard's style sheet", meta: true, responses: { 200: { description: "CSS.", media: "text/css" } } },
]

/** Schemas published under their own names in components.schemas (the rest are inlined). */
const NAMED: ReadonlyArray<readonly [string, Schema.Top]> = [
  ["Job", Job],
  ["JobRequest", JobInput],
  ["PortMapping", PortMapping],
  ["HealthCheck", HealthCheck],
  ["LivenessCheck", LivenessCheck],
  ["DomainEvent", DomainEvent],
  ["EventEnvelope", EventEnvelope],
  ["HostSelector", HostSelector],
  ["TaskState", TaskState],
  ["RolloutOptions", MergedRolloutOptions],
  ["RolloutStep", RolloutStep],
  ["Error", Api.ErrorJson],
  ["FieldError", Api.FieldErrorJson],
  ["CommandResult", Api.CommandJson],
  ["Deployment", Api.DeploymentJson],
  ["DeploymentRequest", DeploymentBody],
  ["TaskStatus", Api.TaskStatusJson],
  ["JobStatus", Api.JobStatusJson],
  ["HostInfo", Api.HostInfoJson],
  ["AgentInfo", Api.AgentInfoJson],
  ["HostStatus", Api.HostStatusJson],
  ["AuditEntry", Api.AuditJson],
  ["TaskStatusEvent", Api.TaskStatusEventJson],
  ["History", Api.HistoryJson],
  ["FleetState", Api.StateJson],
  ["Event", Api.EventJson],
  ["DeploymentGroup", Api.DeploymentGroupJson],
  ["DeploymentGroupRequest", DeploymentGroupRequest],
  ["DeploymentGroupStatus", Api.DeploymentGroupStatusJson],
  ["RollingUpdateRequest", RollingUpdateRequest],
  ["RelayedAppend", RelayedAppend],
]

// -------------------------------------------------------------------------------------------------
// The document

type Json = JsonSchema.JsonSchema

/**
 * Effect describes a plain number as "a number, or the strings NaN/Infinity/-Infinity" (its JSON
 * codec's encoding of non-finite numbers). The API reads bodies with JSON.parse and decodes them
 * with the schemas themselves, where those strings are refused: the document says "number".
 */
const plainNumbers = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(plainNumbers)
  if (typeof value !== "object" || value === null) return value
  const o = value as Record<string, unknown>
  const anyOf = o["anyOf"]
  if (Array.isArray(anyOf)) {
    const special = (s: unknown) => {
      const e = (s as { type?: unknown; enum?: unknown }).enum
      return (s as { type?: unknown }).type === "string" && Array.isArray(e) && e.length === 3 && ["NaN", "Infinity", "-Infinity"].every((x) => e.includes(x))
    }
    const rest = anyOf.filter((s) => !special(s))
    if (rest.length < anyOf.length && anyOf.some((s) => (s as { type?: unknown }).type === "number")) {
      const { anyOf: _, ...others } = o
      const merged = rest.length === 1 ? { ...others, ...(rest[0] as object) } : { ...others, anyOf: rest }
      return plainNumbers(merged)
    }
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, plainNumbers(v)]))
}

const commonResponses = (route: Route, hasBody: boolean): Record<number, Reply> => ({
  ...(route.meta ? {} : { 426: refused("INCOMPATIBLE: the Helios-Version header names another major version") }),
  ...(hasBody ? { 413: refused(`BODY_TOO_LARGE: more than ${MAX_BODY_BYTES} bytes`) } : {}),
  ...(route.meta
    ? {}
    : { 503: refused("UNAVAILABLE or LOG_UNAVAILABLE (the event log), NOT_CAUGHT_UP (`after`), UNDECODABLE_EVENT; nothing was written") }),
})

const operationId = (r: Route) =>
  r.method +
  r.path
    .split("/")
    .filter(Boolean)
    .map((s) => s.replace(/[{}]/g, "").replace(/(^|[-._])(\w)/g, (_, __, ch: string) => ch.toUpperCase()))
    .join("") +
  // `/ui/` beside `/ui`: the same words, another path.
  (r.path.length > 1 && r.path.endsWith("/") ? "Index" : "")

/** Builds the document (every schema converted once, sharing named components). */
export const buildOpenApiDocument = (serverVersion: string): Record<string, unknown> => {
  // Every schema the table names, converted together so that they share components.
  const schemas: Schema.Top[] = []
  const slot = (s: Schema.Top): number => {
    schemas.push(s)
    return schemas.length - 1
  }
  interface Pending {
    readonly route: Route
    readonly params: ReadonlyArray<{ readonly param: Param; readonly at: number }>
    readonly body?: number
    readonly responses: ReadonlyArray<{ readonly code: number; readonly reply: Reply; readonly at?: number }>
  }
  const pending: Pending[] = ROUTES.map((route) => {
    const params = [...(route.params ?? []), user, ...(route.meta || route.method !== "get" || route.path === "/events" ? [] : [after, wait]), ...(route.meta ? [] : [version])]
    const withCommandId = route.method === "get" || route.meta ? params : [...params, commandId]
    const responses = Object.entries({ ...commonResponses(route, route.body !== undefined), ...route.responses }).map(([code, reply]) => ({
      code: Number(code),
      reply,
      ...(reply.schema ? { at: slot(reply.schema) } : {}),
    }))
    return {
      route,
      params: withCommandId.map((param) => ({ param, at: slot(param.schema) })),
      ...(route.body ? { body: slot(route.body.schema) } : {}),
      responses,
    }
  })
  const names = new Map(NAMED.map(([name, s]) => [s.ast as unknown, name]))
  const representations = SchemaRepresentation.toRepresentations(schemas.map((s) => s.ast) as [Schema.Top["ast"], ...Array<Schema.Top["ast"]>], {
    referencePolicy: ({ ast, identifier }) => names.get(ast) ?? identifier,
  })
  // Excess properties are errors, as for the decoder (core/decode.ts): a misspelt field is refused, not dropped.
  const multi = JsonSchema.toMultiDocumentOpenApi3_1(SchemaRepresentation.toJsonSchemaMultiDocument(representations, { onExcessProperty: "error" }))
  const jsonOf = (at: number) => plainNumbers(multi.schemas[at]) as Json

  const paths: Record<string, Record<string, unknown>> = {}
  for (const { route, params, body, responses } of pending) {
    const operation = {
      operationId: operationId(route),
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      parameters: params.map(({ param, at }) => ({
        name: param.name,
        in: param.in,
        description: param.description,
        required: param.in === "path" ? true : param.required === true,
        schema: param.repeated ? { type: "array", items: jsonOf(at) } : jsonOf(at),
        ...(param.repeated ? { style: "form", explode: true } : {}),
      })),
      ...(body !== undefined ? { requestBody: { required: true, description: route.body!.description, content: { "application/json": { schema: jsonOf(body) } } } } : {}),
      responses: Object.fromEntries(
        responses.map(({ code, reply, at }) => [
          String(code),
          {
            description: reply.description,
            ...(code < 300 && !route.meta ? { headers: { "Helios-Position": { $ref: "#/components/headers/Helios-Position" } } } : {}),
            ...(reply.media !== undefined || at !== undefined ? { content: { [reply.media ?? "application/json"]: at !== undefined ? { schema: jsonOf(at) } : {} } } : {}),
          },
        ]),
      ),
    }
    ;(paths[route.path] ??= {})[route.method] = operation
  }

  return {
    openapi: "3.1.0",
    info: {
      title: "Helios master API",
      version: serverVersion,
      description:
        "Helios's REST API (jobs, hosts, deployments, deployment groups) on an event-sourced master, plus the log's history, " +
        "time travel (/state?at=) and event stream (/events). Writes answer with the log `position` of their last event; " +
        "a read given `?after=POSITION` waits until this master has applied it (read-your-writes across masters). " +
        "Refusals keep Helios's status names in the body with 400/403/404/409 codes.",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    jsonSchemaDialect: "https://spec.openapis.org/oas/3.1/dialect/base",
    servers: [{ url: "/", description: "this master" }],
    tags: [...new Set(ROUTES.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: plainNumbers(multi.definitions),
      headers: {
        "Helios-Position": { description: "The log position this master has applied (after a write: the position of its last event).", schema: { type: "integer", minimum: 0 } },
      },
    },
  }
}

let cached: { version: string; text: string } | undefined

/** The document as JSON text, built once per process (a few ms). */
export const openApiJson = (serverVersion: string): string => {
  if (cached?.version !== serverVersion) cached = { version: serverVersion, text: JSON.stringify(buildOpenApiDocument(serverVersion)) }
  return cached.text
}
