/**
 * Deployment groups and rolling updates end to end: one real master and four real agents on the
 * real Docker engine and a real ZooKeeper (their own root, container label and port ranges), driven
 * through Helios's HTTP API. Each test states the part of Helios's behaviour (reference §6) a user
 * relies on, and checks it in the containers and in the log the rollout left.
 *
 * Hosts (natural order dg-h1 < dg-h2 < dg-h3 < dg-h10):
 *   dg-h1  role=web zone=a      dg-h2  role=web zone=b
 *   dg-h10 role=web (no zone)   dg-h3  role=db  zone=a
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { DomainEvent, StoredEvent } from "../core/events.ts"
import { position, type HostName } from "../core/ids.ts"
import type { Agent, AgentOptions } from "../agent/agent.ts"
import { dockerAgentFixture, type DockerAgentFixture } from "./agent-docker-fixture.ts"
import { startTestMaster, type TestMaster } from "./master-fixture.ts"
import { waitFor } from "./services.ts"
import { TEST_IMAGE } from "./docker.ts"

const H1 = "dg-h1" as HostName
const H2 = "dg-h2" as HostName
const H3 = "dg-h3" as HostName
const H10 = "dg-h10" as HostName
const LABELS: Record<string, Record<string, string>> = {
  [H1]: { role: "web", zone: "a" },
  [H2]: { role: "web", zone: "b" },
  [H10]: { role: "web" },
  [H3]: { role: "db", zone: "a" },
}
const PORTS: Record<string, string> = { [H1]: "47100:47149", [H2]: "47150:47199", [H10]: "47200:47249", [H3]: "47250:47299" }

let fx: DockerAgentFixture
let master: TestMaster
const agents = new Map<string, Agent>()

const startAgent = async (host: HostName, labels: Record<string, string>, extra: Partial<AgentOptions> = {}) => {
  const agent = await fx.start(host, { labels, portRange: PORTS[host]!, ...extra })
  agents.set(host, agent)
  await agent.registered
  return agent
}

beforeAll(async () => {
  fx = await dockerAgentFixture("deployment-groups")
  master = await startTestMaster(fx.root, "dg-master")
  for (const h of [H1, H2, H10, H3]) await startAgent(h, LABELS[h]!)
  await waitFor(async () => ((await master.call("GET", "/hosts")).body.length === 4 && [H1, H2, H10, H3].every((h) => master.projection.model.state.hosts.get(h)?.up) ? true : undefined), {
    what: "four hosts UP",
  })
  // Labels are host facts the agent writes with its host info, apart from the events: it writes
  // them before it marks its host UP, so a rollout planned as soon as the hosts are UP sees them.
  for (const h of [H1, H2, H10, H3]) expect((await master.call("GET", `/hosts/${h}/status`)).body?.labels, h).toEqual(LABELS[h])
}, 120_000)

afterAll(async () => {
  for (const a of agents.values()) await a.stop().catch(() => undefined)
  await master?.stop().catch(() => undefined)
  await fx?.cleanup()
})

const api = (method: string, path: string, body?: unknown) => master.call(method, path, body)

const createJob = async (name: string, image = TEST_IMAGE, extra: Record<string, unknown> = {}): Promise<string> => {
  const r = await api("POST", "/jobs", { id: name, image, ports: { http: { internalPort: 80 } }, ...extra })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return r.body.id as string
}

const createGroup = async (name: string, ...selectors: Array<[string, string, string | string[]]>) => {
  const r = await api("POST", "/deployment-group", { name, hostSelectors: selectors.map(([label, operator, operand]) => ({ label, operator, operand })) })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return r.body
}

const rollingUpdate = async (group: string, job: string, rolloutOptions: Record<string, unknown> = {}) => {
  const r = await api("POST", `/deployment-group/${group}/rolling-update`, { job, rolloutOptions })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return r.body.position as number
}

const groupStatus = async (group: string) => (await api("GET", `/deployment-group/${group}/status`)).body

/** Waits until the group's rollout of `job` ends; its status. */
const finished = async (group: string, job: string, timeoutMs = 90_000) =>
  waitFor(
    async () => {
      const s = await groupStatus(group)
      return s.deploymentGroup.jobId === job && (s.status === "ACTIVE" || s.status === "FAILED") ? s : undefined
    },
    { what: `rollout of ${job} on ${group} to end`, timeoutMs, intervalMs: 200 },
  )

/** Every event the log holds after `after`. */
const eventsAfter = async (after = 0): Promise<StoredEvent[]> => {
  const out: StoredEvent[] = []
  for (let at = after; ; ) {
    const page = await master.log.read(position(at), 2000)
    if (page.length === 0) return out
    out.push(...page)
    at = page[page.length - 1]!.position
  }
}
const ofTag = <T extends DomainEvent["_tag"]>(events: StoredEvent[], tag: T) =>
  events.filter((e) => e.envelope.event._tag === tag).map((e) => ({ position: e.position, event: e.envelope.event as Extract<DomainEvent, { _tag: T }> }))

/** The jobs deployed on a host, as the master sees them, with the group that deployed each. */
const deployedOn = (host: HostName): Record<string, string | undefined> =>
  Object.fromEntries([...(master.projection.model.state.deployments.get(host)?.values() ?? [])].map((d) => [d.jobId.split(":").slice(0, 2).join(":"), d.deploymentGroup]))

/** The running containers of the run, as `host job-name:version`. */
const runningContainers = async () =>
  (await fx.containers()).filter((c) => c.running).map((c) => c.host).sort()

describe("deployment groups on real agents and Docker", () => {
  it("matches hosts by every selector's label (a host without the label never matches, even for !=)", async () => {
    await createGroup("dg-zones", ["zone", "NOT_EQUALS", "b"])
    const job = await createJob("dg-zone-job:v1")
    const from = master.projection.position
    await rollingUpdate("dg-zones", job)
    const s = await finished("dg-zones", job)
    expect(s.status).toBe("ACTIVE")
    // dg-h10 has no zone label, dg-h2 has zone b: only dg-h1 and dg-h3, in that order.
    expect(ofTag(await eventsAfter(from), "RolloutStarted")[0]!.event.hosts).toEqual([H1, H3])
    expect(s.hostStatuses).toEqual([
      { host: H1, jobId: job, state: "RUNNING" },
      { host: H3, jobId: job, state: "RUNNING" },
    ])
    // Removing a group leaves what it deployed.
    expect((await api("DELETE", "/deployment-group/dg-zones")).body.status).toBe("REMOVED")
    expect((await api("GET", "/deployment-group/dg-zones")).status).toBe(404)
    expect(deployedOn(H1)).toEqual({ "dg-zone-job:v1": "dg-zones" })
    expect(deployedOn(H3)).toEqual({ "dg-zone-job:v1": "dg-zones" })
    for (const h of [H1, H3]) expect((await api("DELETE", `/hosts/${h}/jobs/${job}`)).status).toBe(200)
  }, 120_000)

  it("rolls out host by host in alphanumeric order (h2 before h10), then replaces v1 with v2 two hosts at a time", async () => {
    await createGroup("dg-web", ["role", "EQUALS", "web"])
    const v1 = await createJob("dg-web:v1")
    const v2 = await createJob("dg-web:v2")
    const from = master.projection.position
    await rollingUpdate("dg-web", v1)
    expect((await finished("dg-web", v1)).status).toBe("ACTIVE")
    let events = await eventsAfter(from)
    const deploys = ofTag(events, "JobDeployed")
    expect(deploys.map((d) => d.event.host)).toEqual([H1, H2, H10])
    // Parallelism 1: a host is deployed to only once the previous one reported RUNNING.
    const running = ofTag(events, "TaskStateChanged").filter((t) => t.event.state === "RUNNING" && t.event.jobId === v1)
    const firstRunning = (h: string) => running.find((t) => t.event.host === h)!.position
    expect(deploys[1]!.position).toBeGreaterThan(firstRunning(H1))
    expect(deploys[2]!.position).toBeGreaterThan(firstRunning(H2))

    const from2 = master.projection.position
    await rollingUpdate("dg-web", v2, { parallelism: 2 })
    const s = await finished("dg-web", v2)
    expect(s.status).toBe("ACTIVE")
    events = await eventsAfter(from2)
    expect(ofTag(events, "RolloutStarted")[0]!.event.steps.map((st) => `${st.kind} ${st.host}`)).toEqual([
      `UNDEPLOY_OLD_JOBS ${H1}`,
      `DEPLOY_NEW_JOB ${H1}`,
      `UNDEPLOY_OLD_JOBS ${H2}`,
      `DEPLOY_NEW_JOB ${H2}`,
      `AWAIT_RUNNING ${H1}`,
      `AWAIT_RUNNING ${H2}`,
      `UNDEPLOY_OLD_JOBS ${H10}`,
      `DEPLOY_NEW_JOB ${H10}`,
      `AWAIT_RUNNING ${H10}`,
    ])
    // dg-h1 and dg-h2 were deployed to before either ran: one partition.
    const v2Deploys = ofTag(events, "JobDeployed")
    const v2Running = ofTag(events, "TaskStateChanged").filter((t) => t.event.state === "RUNNING" && t.event.jobId === v2)
    expect(v2Deploys[1]!.position).toBeLessThan(v2Running[0]!.position)
    for (const h of [H1, H2, H10]) expect(deployedOn(h)).toEqual({ "dg-web:v2": "dg-web" })
    expect(s.hostStatuses).toEqual([H1, H2, H10].map((host) => ({ host, jobId: v2, state: "RUNNING" })))
    // Only the v2 containers still run (the agents removed v1's).
    await waitFor(async () => ((await runningContainers()).join(",") === [H1, H10, H2].join(",") ? true : undefined), { what: "only v2 containers running", timeoutMs: 60_000 })
  }, 240_000)

  it("with overlap starts the new job and waits for it to run before undeploying the old one", async () => {
    const v3 = await createJob("dg-web:v3")
    const from = master.projection.position
    await rollingUpdate("dg-web", v3, { overlap: true, parallelism: 3 })
    expect((await finished("dg-web", v3)).status).toBe("ACTIVE")
    const events = await eventsAfter(from)
    for (const h of [H1, H2, H10]) {
      const running = ofTag(events, "TaskStateChanged").find((t) => t.event.host === h && t.event.jobId === v3 && t.event.state === "RUNNING")!
      const undeployOld = ofTag(events, "JobUndeployed").find((u) => u.event.host === h)!
      expect(undeployOld.event.jobId).toMatch(/^dg-web:v2:/)
      expect(running.position).toBeLessThan(undeployOld.position)
      expect(deployedOn(h)).toEqual({ "dg-web:v3": "dg-web" })
    }
  }, 120_000)

  it("with migrate takes over a hand-made deployment of the rollout's job", async () => {
    const v4 = await createJob("dg-web:v4")
    expect((await api("PUT", `/hosts/${H10}/jobs/${v4}`, { job: v4, goal: "START" })).status).toBe(200)
    expect(deployedOn(H10)).toEqual({ "dg-web:v3": "dg-web", "dg-web:v4": undefined })
    await rollingUpdate("dg-web", v4, { migrate: true, parallelism: 3 })
    expect((await finished("dg-web", v4)).status).toBe("ACTIVE")
    for (const h of [H1, H2, H10]) expect(deployedOn(h)).toEqual({ "dg-web:v4": "dg-web" })
  }, 120_000)

  it("a host gaining the label gets the group's job and one losing it is undeployed (HOSTS_CHANGED)", async () => {
    const v4 = master.projection.model.state.groups.get("dg-web")!.rollout!.jobId
    const from = master.projection.position
    // Relabel by restarting the agents (as an operator would): dg-h3 joins the group, dg-h10 leaves it.
    for (const [h, labels] of [[H3, { role: "web", zone: "a" }], [H10, { role: "old" }]] as const) {
      await agents.get(h)!.stop()
      await startAgent(h, labels)
    }
    await waitFor(() => (deployedOn(H3)["dg-web:v4"] === "dg-web" && deployedOn(H10)["dg-web:v4"] === undefined ? true : undefined), {
      what: "dg-h3 to get the group's job and dg-h10 to lose it",
      timeoutMs: 90_000,
      intervalMs: 200,
    })
    const s = await finished("dg-web", v4)
    expect(s.status).toBe("ACTIVE")
    expect(s.deploymentGroup.rollingUpdateReason).toBe("HOSTS_CHANGED")
    expect(s.hostStatuses.map((h: { host: string }) => h.host)).toEqual([H1, H2, H3])
    const started = ofTag(await eventsAfter(from), "RolloutStarted").map((e) => e.event)
    expect(started.every((e) => e.reason === "HOSTS_CHANGED")).toBe(true)
    expect(started.at(-1)!.steps.filter((st) => st.kind === "FORCE_UNDEPLOY_JOBS").map((st) => st.host)).toEqual([H10])
  }, 180_000)

  it("fails a rollout whose image is missing, naming the step, host and state; ignoreFailures goes on; stop ends it", async () => {
    await createGroup("dg-a", ["zone", "EQUALS", "a"])
    const missing = await createJob("dg-missing:v1", "helios-test/no-such-image:latest")
    const from = master.projection.position
    await rollingUpdate("dg-a", missing, { timeout: 10 })
    const s = await finished("dg-a", missing)
    expect(s.status).toBe("FAILED")
    const failed = ofTag(await eventsAfter(from), "RolloutStepFailed").map((e) => e.event)
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ host: H1, kind: "AWAIT_RUNNING" })
    expect(["IMAGE_MISSING", "IMAGE_PULL_FAILED"]).toContain(failed[0]!.error)
    expect(failed[0]!.evidence?.state).toBeDefined()
    expect(s.error).toMatch(new RegExp(`^${H1}: timed out waiting for job dg-missing:v1:\\w+ to reach state RUNNING .*terminal job state ${failed[0]!.evidence!.state}`))
    // dg-h3 (second in order) was never touched.
    expect(deployedOn(H3)["dg-missing:v1"]).toBeUndefined()

    const from2 = master.projection.position
    await rollingUpdate("dg-a", missing, { timeout: 10, ignoreFailures: true })
    const s2 = await finished("dg-a", missing)
    expect(s2.status).toBe("ACTIVE")
    expect(ofTag(await eventsAfter(from2), "RolloutStepFailed").map((e) => e.event.host)).toEqual([H1, H3])
    expect(s2.rollout.failures.map((f: { host: string }) => f.host)).toEqual([H1, H3])

    await rollingUpdate("dg-a", missing, { timeout: 600 })
    await waitFor(async () => ((await groupStatus("dg-a")).status === "ROLLING_OUT" ? true : undefined))
    expect((await api("POST", "/deployment-group/dg-a/stop")).status).toBe(204)
    const stopped = await groupStatus("dg-a")
    expect(stopped).toMatchObject({ status: "FAILED", error: "Stopped by user" })
    // Removing the group leaves its deployments; clean them up by hand.
    expect((await api("DELETE", "/deployment-group/dg-a")).status).toBe(200)
    for (const h of [H1, H3]) if (deployedOn(h)["dg-missing:v1"] !== undefined) expect((await api("DELETE", `/hosts/${h}/jobs/${missing}`)).status).toBe(200)
  }, 120_000)

  it("refuses bad input with a clear 4xx naming the field, writing nothing", async () => {
    const job = master.projection.model.state.groups.get("dg-web")!.rollout!.jobId
    const before = master.projection.position
    const cases: Array<[string, string, unknown, number, string]> = [
      ["POST", "/deployment-group", { name: "bad", hostSelectors: [{ label: "role", operator: "LIKE", operand: "x" }] }, 400, "hostSelectors.0"],
      ["POST", "/deployment-group", { name: "bad/name", hostSelectors: [] }, 400, "name"],
      ["POST", "/deployment-group", { name: "dg-web", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "db" }] }, 409, ""],
      ["POST", "/deployment-group/dg-nope/rolling-update", { job }, 404, "name"],
      ["POST", "/deployment-group/dg-web/rolling-update", { job: "dg-web:v9:" + "0".repeat(40) }, 404, "job"],
      ["POST", "/deployment-group/dg-web/rolling-update", { job: "dg-web" }, 400, "job"],
      ["POST", "/deployment-group/dg-web/rolling-update", { job, rolloutOptions: { parallelism: 0 } }, 400, "rolloutOptions.parallelism"],
      ["POST", "/deployment-group/dg-web/rolling-update", { job, rolloutOptions: { token: "nope" } }, 403, "rolloutOptions.token"],
      ["POST", "/deployment-group/dg-nope/stop", undefined, 404, "name"],
      ["DELETE", "/deployment-group/dg-nope", undefined, 404, "name"],
      ["GET", "/deployment-group/dg-nope/status", undefined, 404, "name"],
    ]
    for (const [method, path, body, status, field] of cases) {
      const r = await api(method, path, body)
      expect(r.status, `${method} ${path} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`).toBe(status)
      if (field !== "") expect(JSON.stringify(r.body.errors)).toContain(field)
    }
    expect(master.projection.position).toBe(before)
    expect((await api("GET", "/deployment-group")).body).toEqual(["dg-web"])
  }, 60_000)
})
