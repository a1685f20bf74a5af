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

const NAMES: Readonly<Record<string, string>> = {
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
  RolloutStepFailed: "step-failed",
  RolloutFinished: "rollout-finished",
  RolloutStopped: "rollout-stopped",
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

export const describeEvent = (type: string, fields: Readonly<Record<string, unknown>>): DescribedEvent => {
  const job = fields["job"]
  const jobObject = typeof job === "object" && job !== null ? (job as Record<string, unknown>) : undefined
  const jobId = s(job) ?? s(jobObject?.["id"]) ?? s(fields["jobId"])
  const goal = s(fields["goal"])
  let detail = ""
  switch (type) {
    case "JobCreated":
      detail = jobObject ? `image ${String(jobObject["image"])}` : ""
      break
    case "JobDeployed":
    case "DeploymentGoalChanged":
      detail = goal ? `goal ${goal}` : ""
      break
    case "TaskStateChanged":
      // A stop or undeploy says so (the ports are of no interest to a task on its way out).
      detail = s(fields["error"]) ?? s(fields["containerError"]) ?? (goal !== undefined && goal !== "START" ? `goal ${goal}` : portsText(fields["ports"]))
      break
    case "HostRegistered":
    case "HostWentUp":
      detail = s(fields["agentId"]) ? `agent ${String(fields["agentId"])}` : ""
      break
    case "DeploymentGroupCreated":
    case "DeploymentGroupRemoved": {
      const group = fields["group"]
      detail = `group ${String(typeof group === "object" && group !== null ? (group as Record<string, unknown>)["name"] : group)}`
      break
    }
    case "RolloutStarted": {
      const steps = Array.isArray(fields["steps"]) ? fields["steps"].length : 0
      detail = `group ${String(fields["group"])} ${String(fields["reason"])}: ${steps} steps`
      break
    }
    case "RolloutStepStarted":
    case "RolloutStepSucceeded":
      detail = `group ${String(fields["group"])} step ${Number(fields["step"]) + 1} ${String(fields["kind"])}`
      break
    case "RolloutStepFailed":
      detail = `group ${String(fields["group"])} step ${Number(fields["step"]) + 1} ${String(fields["kind"])}: ${String(fields["error"])} ${String(fields["message"])}`
      break
    case "RolloutFinished":
      detail = `group ${String(fields["group"])} ${String(fields["status"])}${s(fields["error"]) ? `: ${String(fields["error"])}` : ""}`
      break
    case "RolloutStopped":
      detail = `group ${String(fields["group"])} stopped`
      break
  }
  const isTask = type === "TaskStateChanged"
  return {
    what: NAMES[type] ?? type,
    jobId,
    host: s(fields["host"]),
    state: isTask ? s(fields["state"]) : undefined,
    throttled: isTask ? s(fields["throttled"]) : undefined,
    containerId: isTask ? s(fields["containerId"]) : undefined,
    detail,
  }
}
