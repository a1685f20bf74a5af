import { describe, expect, it } from "vitest"
import type { HostStreamEvent } from "../core/event-log.ts"
import type { DomainEvent, StreamId } from "../core/events.ts"
import { position } from "../core/ids.ts"
import { envelope, host, agentId } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { applyHostEvent, emptyDesiredState, foldHostStream, hostStreamVersion } from "./desired-state.ts"

const H = host("h1")
const web = aJob()
const api = aJob({ id: "api:v1" })

/** Host stream events numbered 1, 2, 3...; `bump` marks a batch that bumped host:h1. */
const stream = (...items: Array<DomainEvent | [DomainEvent, "bump"]>): HostStreamEvent[] =>
  items.map((item, i) => {
    const [event, bump] = Array.isArray(item) ? item : [item, undefined]
    return {
      hostPosition: i + 1,
      position: position(100 + i),
      envelope: envelope(event),
      bumped: bump ? ([`host:${H}`] as StreamId[]) : [],
    }
  })

describe("desired state fold", () => {
  it("starts empty, unregistered, at version none", () => {
    const s = emptyDesiredState(H)
    expect(s.deployments).toEqual({})
    expect(s.registeredAgentId).toBeUndefined()
    expect(hostStreamVersion(s)).toBe("none")
  })

  it("folds deploy, goal change and undeploy", () => {
    const s = foldHostStream(
      emptyDesiredState(H),
      stream(
        { _tag: "JobDeployed", job: web, host: H, goal: "START" },
        { _tag: "JobDeployed", job: api, host: H, goal: "STOP" },
        { _tag: "DeploymentGoalChanged", jobId: web.id, host: H, goal: "STOP" },
        { _tag: "JobUndeployed", jobId: api.id, host: H },
      ),
    )
    expect(Object.keys(s.deployments)).toEqual([web.id])
    expect(s.deployments[web.id]).toEqual({ job: web, goal: "STOP" })
    expect(s.hostPosition).toBe(4)
  })

  it("ignores a goal change for a job that is not deployed", () => {
    const s = foldHostStream(emptyDesiredState(H), stream({ _tag: "DeploymentGoalChanged", jobId: web.id, host: H, goal: "STOP" }))
    expect(s.deployments).toEqual({})
  })

  it("drops every deployment and the registration on HostDeregistered", () => {
    const s = foldHostStream(
      emptyDesiredState(H),
      stream(
        [{ _tag: "HostRegistered", host: H, agentId: agentId("a1") }, "bump"],
        { _tag: "HostWentUp", host: H, agentId: agentId("a1") },
        [{ _tag: "JobDeployed", job: web, host: H, goal: "START" }, "bump"],
        [{ _tag: "HostDeregistered", host: H }, "bump"],
      ),
    )
    expect(s.deployments).toEqual({})
    expect(s.registeredAgentId).toBeUndefined()
    expect(s.upAgentId).toBeUndefined()
    expect(hostStreamVersion(s)).toBe(2)
  })

  it("tracks the registered agent, up/down and the stream version from bumps", () => {
    let s = foldHostStream(emptyDesiredState(H), stream([{ _tag: "HostRegistered", host: H, agentId: agentId("a1") }, "bump"]))
    expect(s.registeredAgentId).toBe("a1")
    expect(hostStreamVersion(s)).toBe(0)
    s = foldHostStream(
      s,
      stream(
        [{ _tag: "HostRegistered", host: H, agentId: agentId("a1") }, "bump"],
        { _tag: "HostWentUp", host: H, agentId: agentId("a2") },
        { _tag: "HostWentDown", host: H },
      ).map((e) => ({ ...e, hostPosition: e.hostPosition + 1 })),
    )
    // positions 2..4: a second bumping registration, then up by a2, then down
    expect(s.hostPosition).toBe(4)
    expect(s.upAgentId).toBeUndefined()
    expect(hostStreamVersion(s)).toBe(1)
  })

  it("skips events at or below its checkpoint (replayed deliveries)", () => {
    const events = stream([{ _tag: "JobDeployed", job: web, host: H, goal: "START" }, "bump"])
    const once = foldHostStream(emptyDesiredState(H), events)
    const twice = foldHostStream(once, events)
    expect(twice).toBe(once)
    expect(hostStreamVersion(twice)).toBe(0)
  })

  it("keeps the last task status of deployed jobs only, and forgets it on undeploy", () => {
    const status = (jobId: string, state: "RUNNING" | "EXITED"): DomainEvent => ({
      _tag: "TaskStateChanged",
      jobId: jobId as never,
      host: H,
      state,
      goal: "START",
      throttled: "NO",
      containerId: "c1",
    })
    let s = foldHostStream(
      emptyDesiredState(H),
      stream({ _tag: "JobDeployed", job: web, host: H, goal: "START" }, status(web.id, "RUNNING"), status(api.id, "RUNNING")),
    )
    expect(s.lastStatus[web.id]?.state).toBe("RUNNING")
    expect(s.lastStatus[api.id]).toBeUndefined()
    s = applyHostEvent(s, { ...stream({ _tag: "JobUndeployed", jobId: web.id, host: H })[0]!, hostPosition: 4 })
    expect(s.lastStatus).toEqual({})
  })

  it("is deterministic: folding in one go equals folding event by event", () => {
    const events = stream(
      [{ _tag: "HostRegistered", host: H, agentId: agentId("a1") }, "bump"],
      [{ _tag: "JobDeployed", job: web, host: H, goal: "START" }, "bump"],
      [{ _tag: "DeploymentGoalChanged", jobId: web.id, host: H, goal: "STOP" }, "bump"],
      [{ _tag: "JobDeployed", job: api, host: H, goal: "START" }, "bump"],
    )
    const all = foldHostStream(emptyDesiredState(H), events)
    let step = emptyDesiredState(H)
    for (const e of events) step = applyHostEvent(step, e)
    expect(step).toEqual(all)
    expect(hostStreamVersion(all)).toBe(3)
  })
})
