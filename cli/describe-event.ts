import type { EventType } from "../core/events.ts"

/*
 * How `history` and `events` show one event: a short name for what happened, and the host, task
 * state, throttle, container and detail it carries. Works on both wire shapes: an audit entry of
 * /history/jobs/{id} (the event's fields next to `type`, `job` as an id) and an event of /events
 * (`_tag`, `job` as the whole job).
 */

export interface DescribedEvent {
  /** created, deployed, goal-changed, state, undeployed, removed, host-registered, ... */
  readonly what: string
  readonly jobId: string | undefined
  readonly host: string | undefined
  readonly state: string | undefined
  readonly throttled: string | undefined
  readonly containerId: string | undefined
  readonly detail: string
}

/** Every event type's short name (a Record over EventType: a new event type must be named here). */
const NAMES: Readonly<Record<EventType, string>> = {
  JobCreated: "created",
  JobRemoved: "removed",
  JobDeployed: "deployed",
  DeploymentGoalChanged: "goal-changed",
  JobUndeployed: "undeployed",
  TaskStateChanged: "state",
  HostRegistered: "host-registered",
  HostDeregistered: "host-deregistered",
  HostWentUp: "host-up",
  HostWentDown: "host-down",
  DeploymentGroupCreated: "group-created",
  DeploymentGroupRemoved: "group-removed",
  RolloutStarted: "rollout-started",
  RolloutStepStarted: "step-started",
  RolloutStepSucceeded: "step-succeeded",
  RolloutStepSkipped: "step-skipped",
  RolloutStepFailed: "step-failed",
  RolloutFinished: "rollout-finished",
  RolloutStopped: "rollout-stopped",
  RolloutAwaitingPromotion: "awaiting-promotion",
  RolloutPromoted: "promoted",
}

/** An actor for a table: agent ids (40 hex digits) cut to their first 12, like container names. */
export const actorText = (actor: string): string => actor.replace(/^agent:([0-9a-f]{12})[0-9a-f]{28}$/, "agent:$1")

const s = (x: unknown): string | undefined => (typeof x === "string" && x !== "" ? x : undefined)

const portsText = (ports: unknown): string =>
  typeof ports === "object" && ports !== null
    ? Object.entries(ports as Record<string, { internalPort?: number; externalPort?: number }>)
        .map(([name, p]) => `${name}=${p.internalPort ?? ""}:${p.externalPort ?? ""}`)
        .join(" ")
    : ""

/** `G step 3 DEPLOY_NEW_JOB` (steps counted from 1, as a user reads a plan). */
const stepText = (fields: Readonly<Record<string, unknown>>): string =>
  `${String(fields["group"])} step ${Number(fields["step"]) + 1} ${String(fields["kind"])}`

/** What a failed step saw: the task's state (and throttle) and its position in the log, the container's error. */
const evidenceText = (evidence: unknown): string => {
  if (typeof evidence !== "object" || evidence === null) return ""
  const e = evidence as { state?: unknown; throttled?: unknown; position?: unknown; containerError?: unknown }
  const parts = [
    s(e.state) && `state ${String(e.state)}${s(e.throttled) && e.throttled !== "NO" ? ` (${String(e.throttled)})` : ""}${typeof e.position === "number" ? ` at #${e.position}` : ""}`,
    s(e.containerError) && `container error: ${String(e.containerError)}`,
  ].filter((x) => x !== undefined)
  return parts.length > 0 ? ` [${parts.join("; ")}]` : ""
}

/** An event type this client does not know (from a newer master): shown by its name, with no detail. Typed `never`: every known type has a case. */
const unknownType = (_type: never): string => ""

/** The detail column of an event: what it carries beyond its name, job and host. Every event type has a case. */
const detailOf = (type: EventType, fields: Readonly<Record<string, unknown>>): string => {
  const job = fields["job"]
  const jobObject = typeof job === "object" && job !== null ? (job as Record<string, unknown>) : undefined
  const goal = s(fields["goal"])
  switch (type) {
    case "JobCreated":
      return jobObject ? `image ${String(jobObject["image"])}` : ""
    case "JobDeployed":
      return [goal && `goal ${goal}`, s(fields["deploymentGroup"]) && `by group ${String(fields["deploymentGroup"])}`].filter(Boolean).join(", ")
    case "DeploymentGoalChanged":
      return goal ? `goal ${goal}` : ""
    case "TaskStateChanged":
      // A stop or undeploy says so (the ports are of no interest to a task on its way out).
      return s(fields["error"]) ?? s(fields["containerError"]) ?? (goal !== undefined && goal !== "START" ? `goal ${goal}` : portsText(fields["ports"]))
    case "HostRegistered":
    case "HostWentUp":
      return s(fields["agentId"]) ? `agent ${String(fields["agentId"])}` : ""
    case "JobRemoved":
    case "JobUndeployed":
    case "HostDeregistered":
    case "HostWentDown":
      return ""
    case "DeploymentGroupCreated":
    case "DeploymentGroupRemoved": {
      const group = fields["group"]
      return `group ${String(typeof group === "object" && group !== null ? (group as Record<string, unknown>)["name"] : group)}`
    }
    case "RolloutStarted": {
      const steps = Array.isArray(fields["steps"]) ? fields["steps"].length : 0
      const back = typeof fields["rollbackTo"] === "number" ? ` back to rollout ${fields["rollbackTo"]}` : ""
      return `rollout of ${String(fields["group"])} started (${String(fields["reason"])}${back}, ${steps} step${steps === 1 ? "" : "s"})`
    }
    case "RolloutAwaitingPromotion":
      return `rollout of ${String(fields["group"])} awaits promotion before step ${Number(fields["step"]) + 1}`
    case "RolloutPromoted":
      return `rollout of ${String(fields["group"])} promoted`
    case "RolloutStepStarted":
      return `${stepText(fields)} started`
    case "RolloutStepSucceeded":
      return `${stepText(fields)} succeeded`
    case "RolloutStepSkipped":
      return `${stepText(fields)} skipped${s(fields["reason"]) ? `: ${String(fields["reason"])}` : ""}`
    case "RolloutStepFailed":
      return `${stepText(fields)} failed: ${String(fields["error"])}${s(fields["message"]) ? `: ${String(fields["message"])}` : ""}${evidenceText(fields["evidence"])}`
    case "RolloutFinished":
      return `rollout of ${String(fields["group"])} finished ${String(fields["status"])}${s(fields["error"]) ? `: ${String(fields["error"])}` : ""}`
    case "RolloutStopped":
      return `rollout of ${String(fields["group"])} stopped`
    default:
      return unknownType(type)
  }
}

export const describeEvent = (type: string, fields: Readonly<Record<string, unknown>>): DescribedEvent => {
  const job = fields["job"]
  const jobObject = typeof job === "object" && job !== null ? (job as Record<string, unknown>) : undefined
  const jobId = s(job) ?? s(jobObject?.["id"]) ?? s(fields["jobId"])
  const isTask = type === "TaskStateChanged"
  return {
    what: Object.hasOwn(NAMES, type) ? NAMES[type as EventType] : type,
    jobId,
    host: s(fields["host"]),
    state: isTask ? s(fields["state"]) : undefined,
    throttled: isTask ? s(fields["throttled"]) : undefined,
    containerId: isTask ? s(fields["containerId"]) : undefined,
    detail: detailOf(type as EventType, fields),
  }
}
