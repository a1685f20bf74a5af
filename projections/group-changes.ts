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

/**
 * `hosts`: the group's hosts now; `registered`: whether a host is registered now. A host that is
 * not (deregistered since, its labels gone with it) may have been one of the group's when the plan
 * was made: its events count, so a deregistration (and the undeploys it records) refuses the update.
 */
export const changesSince = (events: Iterable<StoredEvent>, group: string, hosts: ReadonlyArray<string>, registered: (host: string) => boolean): GroupChange[] => {
  const ofGroup = new Set(hosts)
  const concerns = (host: string) => ofGroup.has(host) || !registered(host)
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
        if (concerns(event.host)) out.push({ position: e.position, type: event._tag, host: event.host })
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
