import { Schema } from "effect"
import { Text } from "./safe-text.ts"

/** A host's name as agents register it (Helios uses the FQDN). */
export const HostName = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/)),
  Schema.brand("HostName"),
)
export type HostName = typeof HostName.Type

/** An agent's id: 40 hex chars by default (20 random bytes), any token when pinned by `register`. */
export const AgentId = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[A-Za-z0-9._-]{1,128}$/)),
  Schema.brand("AgentId"),
)
export type AgentId = typeof AgentId.Type

/** A whole number of 0 or more (positions, counts, offsets read back from storage). */
export const NonNegativeInt = Schema.Number.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)))

/** The global log position of one event: 1, 2, 3, ... stable forever, monotonic in log order. */
export const Position = Schema.Number.pipe(
  Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)),
  Schema.brand("Position"),
)
export type Position = typeof Position.Type
export const position = (n: number): Position => n as Position

/** What the user wants a deployment to be doing. */
export const Goal = Schema.Literals(["START", "STOP"])
export type Goal = typeof Goal.Type

/**
 * The goal a task report carries: a deployment's goal, or UNDEPLOY for the reports an agent makes
 * while it stops and removes the container of a job undeployed from its host (as in Helios).
 * Wider than Goal, so every TaskStateChanged written before UNDEPLOY existed still decodes.
 */
export const TaskGoal = Schema.Literals(["START", "STOP", "UNDEPLOY"])
export type TaskGoal = typeof TaskGoal.Type

/** The states a task goes through on an agent (Helios's TaskStatus.State, minus UNKNOWN which only the CLI shows). */
export const TaskState = Schema.Literals([
  "PULLING_IMAGE",
  "CREATING",
  "STARTING",
  "HEALTHCHECKING",
  "RUNNING",
  "EXITED",
  "STOPPING",
  "STOPPED",
  "FAILED",
])
export type TaskState = typeof TaskState.Type

/** Why an agent is holding back restarts of a task. */
export const ThrottleState = Schema.Literals(["NO", "FLAPPING", "IMAGE_MISSING", "IMAGE_PULL_FAILED"])
export type ThrottleState = typeof ThrottleState.Type

/** Who caused an event: a user through the API, a master's own background work, or an agent. */
export const Actor = Schema.Struct({
  kind: Schema.Literals(["user", "master", "agent"]),
  name: Text.pipe(Schema.check(Schema.isMaxLength(256))),
})
export type Actor = typeof Actor.Type

export const formatActor = (a: Actor): string => `${a.kind}:${a.name}`
