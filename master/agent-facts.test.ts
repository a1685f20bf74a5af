/**
 * POST /hosts/{host}/events: the relay an agent's facts take to the log (master/routes/agent-facts.ts),
 * on a real master and ZooKeeper. It appends what a host's agent may say about its host, and refuses
 * everything else with a 400 naming the field, writing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { envelopeOf } from "../core/envelope.ts"
import type { EventEnvelope } from "../core/events.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot } from "../test/services.ts"
import { fakeJobId, host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"

let m: TestMaster
beforeAll(async () => {
  m = await startTestMaster(uniqueRoot("agent-facts"), "facts-master")
})
afterAll(async () => {
  await m?.stop()
})

const fact = (event: EventEnvelope["event"], actorKind: "agent" | "user" = "agent"): EventEnvelope =>
  envelopeOf(event, {
    at: 1_700_000_000_000,
    actor: { kind: actorKind, name: "agent-1" },
    commandId: `agent-1-${Math.random().toString(36).slice(2)}`,
  })
const registered = (h: string) => fact({ _tag: "HostRegistered", host: host(h), agentId: "agent-1" as never })
const running = (h: string) =>
  fact({ _tag: "TaskStateChanged", jobId: fakeJobId("web"), host: host(h), state: "RUNNING", goal: "START", throttled: "NO" })

describe("POST /hosts/{host}/events", () => {
  it("appends a host's facts and answers with their positions, which the host stream then shows", async () => {
    const res = await m.call("POST", "/hosts/relay-h1/events", { events: [registered("relay-h1"), running("relay-h1")], expected: { "host:relay-h1": "none" } })
    expect(res.status).toBe(200)
    expect(res.body.lastPosition).toBe(res.body.firstPosition + 1)
    const stream = await m.log.readHostStream(host("relay-h1"), 0)
    expect(stream.map((e) => [e.position, e.envelope.event._tag])).toEqual([
      [res.body.firstPosition, "HostRegistered"],
      [res.body.lastPosition, "TaskStateChanged"],
    ])
  })

  it("takes the end of a task whose job was undeployed and removed meanwhile: in the history, not back in the status", async () => {
    const h = "relay-end"
    const job = aJob({ id: "relay-end:v1" })
    const report = (state: "RUNNING" | "STOPPING" | "STOPPED", goal: "START" | "UNDEPLOY") =>
      fact({ _tag: "TaskStateChanged", jobId: job.id, host: host(h), state, goal, throttled: "NO", containerId: "c0ffee" })
    expect((await m.call("POST", `/hosts/${h}/events`, { events: [registered(h)] })).status).toBe(200)
    expect((await m.call("POST", "/jobs", job)).status).toBe(200)
    expect((await m.call("PUT", `/hosts/${h}/jobs/${job.id}`, { goal: "START" })).status).toBe(200)
    expect((await m.call("POST", `/hosts/${h}/events`, { events: [report("RUNNING", "START")] })).status).toBe(200)
    expect((await m.call("DELETE", `/hosts/${h}/jobs/${job.id}`)).status).toBe(200)
    expect((await m.call("DELETE", `/jobs/${job.id}`)).status).toBe(200)

    const res = await m.call("POST", `/hosts/${h}/events`, { events: [report("STOPPING", "UNDEPLOY"), report("STOPPED", "UNDEPLOY")] })
    expect(res.status).toBe(200)
    const after = `?after=${res.body.lastPosition}`
    const history = (await m.call("GET", `/history/jobs/${job.id}${after}`)).body
    expect(history.audit.map((e: { type: string; state?: string; goal?: string }) => (e.state ? `${e.state}/${e.goal}` : e.type))).toEqual([
      "JobCreated",
      "JobDeployed",
      "RUNNING/START",
      "JobUndeployed",
      "JobRemoved",
      "STOPPING/UNDEPLOY",
      "STOPPED/UNDEPLOY",
    ])
    expect(history.events.at(-1).status).toMatchObject({ state: "STOPPED", goal: "UNDEPLOY", containerId: "c0ffee" })
    const hostStatus = (await m.call("GET", `/hosts/${h}/status${after}`)).body
    expect([hostStatus.jobs, hostStatus.statuses]).toEqual([{}, {}])
  })

  it("answers 409 when the host stream is not at the expected version, and writes nothing", async () => {
    await m.call("POST", "/hosts/relay-h2/events", { events: [registered("relay-h2")], expected: { "host:relay-h2": "none" } })
    const head = await m.log.head()
    const res = await m.call("POST", "/hosts/relay-h2/events", { events: [registered("relay-h2")], expected: { "host:relay-h2": "none" } })
    expect(res.status).toBe(409)
    expect(res.body).toMatchObject({ status: "CONCURRENT_CHANGE", stream: "host:relay-h2" })
    expect(await m.log.head()).toBe(head)
  })

  it.each([
    ["a fact about another host", { events: [running("relay-other")] }, "events.0.event.host"],
    ["a master's event", { events: [fact({ _tag: "JobRemoved", jobId: fakeJobId("web") })] }, "events.0.event._tag"],
    ["a user speaking for the agent", { events: [{ ...running("relay-h3"), actor: { kind: "user", name: "eve" } }] }, "events.0.actor.kind"],
    ["a job stream's version", { events: [running("relay-h3")], expected: { "job:web": 0 } }, "expected.job:web"],
    ["a malformed task state", { events: [{ ...running("relay-h3"), event: { ...running("relay-h3").event, state: "DANCING" } }] }, "events.0.event.state"],
    ["a goal no task has", { events: [{ ...running("relay-h3"), event: { ...running("relay-h3").event, goal: "PAUSE" } }] }, "events.0.event.goal"],
    ["no events", { events: [] }, "events"],
    ["an unknown field", { events: [running("relay-h3")], extra: 1 }, "extra"],
    // Written, it would stop every master of this build: none could read it back.
    ["a newer schema version", { events: [{ ...running("relay-h3"), schemaVersion: 2 }] }, "events.0.schemaVersion"],
  ])("refuses %s with a 400 naming %s, writing nothing", async (_what, body, field) => {
    const head = await m.log.head()
    const res = await m.call("POST", "/hosts/relay-h3/events", body)
    expect(res.status).toBe(400)
    expect(JSON.stringify(res.body.errors)).toContain(field)
    expect(await m.log.head()).toBe(head)
  })

  it("stamps a fact from an agent whose clock runs ahead with the master's time, so a query as of now is not cut short until then", async () => {
    const h = "relay-ahead"
    const future = { ...registered(h), at: Date.now() + 365 * 24 * 3600_000 }
    const before = Date.now()
    const res = await m.call("POST", `/hosts/${h}/events`, { events: [future] })
    expect(res.status).toBe(200)
    const [stored] = await m.log.readHostStream(host(h), 0)
    expect(stored!.envelope.at).toBeGreaterThanOrEqual(before)
    expect(stored!.envelope.at).toBeLessThanOrEqual(Date.now())
    const now = await m.call("GET", `/state?at=${encodeURIComponent(new Date().toISOString())}`)
    expect(now.status).toBe(200)
    expect(now.body.position).toBeGreaterThanOrEqual(res.body.lastPosition)
  })

  it("refuses a body that is not JSON, and a bad host name", async () => {
    expect((await m.call("POST", "/hosts/relay-h3/events", "{nope")).status).toBe(400)
    const res = await m.call("POST", `/hosts/${encodeURIComponent("bad host")}/events`, { events: [running("relay-h3")] })
    expect(res.status).toBe(400)
    expect(res.body.errors[0]).toMatch(/^host:/)
  })
})
