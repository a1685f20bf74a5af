import type { StoredEvent } from "../core/events.ts"

/*
 * What changed a deployment group's situation after a position: the check behind
 * `rolling-update --check-position P` (Nomad's `run -check-index`). A change is an event about the
 * group itself (its definition or rollouts), or one that changes a deployment or the registration
 * or liveness of one of its hosts. Task reports are facts about running containers, not changes
 * to what was planned, so they do not count; nor do host labels (host facts, not events).
 */

export interface GroupChange {
  readonly position: number
  readonly type: string
  readonly host?: string
}

export const changesSince = (events: Iterable<StoredEvent>, group: string, hosts: ReadonlyArray<string>): GroupChange[] => {
  const ofGroup = new Set(hosts)
  const out: GroupChange[] = []
  for (const e of events) {
    const event = e.envelope.event
    switch (event._tag) {
      case "DeploymentGroupCreated":
        if (event.group.name === group) out.push({ position: e.position, type: event._tag })
        break
      case "DeploymentGroupRemoved":
        if (event.group === group) out.push({ position: e.position, type: event._tag })
        break
      case "RolloutStarted":
      case "RolloutStepStarted":
      case "RolloutStepSucceeded":
      case "RolloutStepSkipped":
      case "RolloutStepFailed":
      case "RolloutFinished":
      case "RolloutStopped":
      case "RolloutAwaitingPromotion":
      case "RolloutPromoted":
        if (event.group === group) out.push({ position: e.position, type: event._tag })
        break
      case "JobDeployed":
      case "DeploymentGoalChanged":
      case "JobUndeployed":
      case "HostRegistered":
      case "HostDeregistered":
      case "HostWentUp":
      case "HostWentDown":
        if (ofGroup.has(event.host)) out.push({ position: e.position, type: event._tag, host: event.host })
        break
      case "TaskStateChanged":
      case "JobCreated":
      case "JobRemoved":
        break
      default: {
        const unhandled: never = event
        return unhandled
      }
    }
  }
  return out
}
