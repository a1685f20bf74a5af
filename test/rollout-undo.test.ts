/**
 * Rollouts you can debug and undo, end to end: one real master, four real agents (role=web) on the
 * real Docker engine and a real ZooKeeper. A failed rollout is replayed from the log and reverted
 * automatically; a failure budget lets a rollout past one bad host; a canary waits for promote or
 * is rolled back; a plan is checked against the position it was made at.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HostName } from "../core/ids.ts"
import type { Agent } from "../agent/agent.ts"
import { dockerAgentFixture, type DockerAgentFixture } from "./agent-docker-fixture.ts"
import { startTestMaster, type TestMaster } from "./master-fixture.ts"
import { waitFor } from "./services.ts"
import { TEST_IMAGE } from "./docker.ts"

const HOSTS = ["ru-h1", "ru-h2", "ru-h3", "ru-h4"] as HostName[]
const GROUP = "ru-web"

let fx: DockerAgentFixture
let master: TestMaster
const agents: Agent[] = []

beforeAll(async () => {
  fx = await dockerAgentFixture("rollout-undo")
  master = await startTestMaster(fx.root, "ru-master")
  for (const [i, h] of HOSTS.entries()) {
    const agent = await fx.start(h, { labels: { role: "web" }, portRange: `${47500 + i * 50}:${47549 + i * 50}` })
    agents.push(agent)
    await agent.registered
  }
  await waitFor(() => (HOSTS.every((h) => master.projection.model.state.hosts.get(h)?.up) ? true : undefined), { what: "four hosts UP" })
  expect((await api("POST", "/deployment-group", { name: GROUP, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] })).status).toBe(200)
}, 120_000)

afterAll(async () => {
  for (const a of agents) await a.stop().catch(() => undefined)
  await master?.stop().catch(() => undefined)
  await fx?.cleanup()
})

const api = (method: string, path: string, body?: unknown) => master.call(method, path, body)

const createJob = async (name: string, extra: Record<string, unknown> = {}): Promise<string> => {
  const r = await api("POST", "/jobs", { id: name, image: TEST_IMAGE, ports: { http: { internalPort: 80 } }, ...extra })
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return r.body.id as string
}

const post = async (path: string, body?: unknown, status = 200) => {
  const r = await api("POST", path, body)
  expect(r.status, `${path} ${JSON.stringify(r.body)}`).toBe(status)
  return r.body
}

const groupStatus = async () => (await api("GET", `/deployment-group/${GROUP}/status`)).body

/** Waits until the group's latest rollout has number `n` and is no longer ROLLING_OUT; its status. */
const settled = async (n: number, timeoutMs = 90_000) =>
  waitFor(
    async () => {
      const rollouts = (await api("GET", `/deployment-group/${GROUP}/rollouts`)).body.rollouts as Array<{ number: number; status: string }>
      const last = rollouts.at(-1)
      return last?.number === n && last.status !== "ROLLING_OUT" ? groupStatus() : undefined
    },
    { what: `rollout ${n} of ${GROUP} to settle`, timeoutMs, intervalMs: 200 },
  )

/** Which job (name:version) each host runs for the group. */
const versions = async () =>
  Object.fromEntries(((await groupStatus()).hostStatuses as Array<{ host: string; jobId: string | null; state: string | null }>).map((h) => [h.host, `${h.jobId?.split(":").slice(0, 2).join(":")} ${h.state}`]))

const allOn = (version: string) => Object.fromEntries(HOSTS.map((h) => [h, `${version} RUNNING`]))

describe("rollouts you can debug and undo", () => {
  it("a rollout whose image is missing fails at its first host, is replayed from the log, and autoRevert puts every host back on v1", async () => {
    const v1 = await createJob("ru-web:v1")
    await post(`/deployment-group/${GROUP}/rolling-update`, { job: v1, rolloutOptions: { parallelism: 4 } })
    await settled(1)
    expect(await versions()).toEqual(allOn("ru-web:v1"))

    const v2 = await createJob("ru-web:v2", { image: "helios-test/not-there:latest" })
    await post(`/deployment-group/${GROUP}/rolling-update`, { job: v2, rolloutOptions: { timeout: 10, autoRevert: true } })
    // Nobody touches anything: rollout 2 fails (10 s per step: long enough for a busy agent to report the failed pull), rollout 3 (ROLLBACK) restores v1.
    await settled(3)
    await waitFor(async () => (JSON.stringify(await versions()) === JSON.stringify(allOn("ru-web:v1")) ? true : undefined), { what: "every host back on v1", timeoutMs: 60_000 })
    const rollouts = (await api("GET", `/deployment-group/${GROUP}/rollouts`)).body.rollouts
    expect(rollouts.map((r: { number: number; reason: string; status: string }) => `${r.number} ${r.reason} ${r.status}`)).toEqual(["1 MANUAL ACTIVE", "2 MANUAL FAILED", "3 ROLLBACK ACTIVE"])
    expect(rollouts[2].rollbackTo).toBe(1)

    const replay = (await api("GET", `/deployment-group/${GROUP}/rollouts/2/replay`)).body
    expect(replay).toMatchObject({ number: 2, jobId: v2, reason: "MANUAL", outcome: "FAILED", actor: "user:anonymous" })
    const failed = replay.steps.filter((s: { outcome?: string }) => s.outcome === "FAILED")
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ host: HOSTS[0], kind: "AWAIT_RUNNING" })
    expect(["IMAGE_MISSING", "IMAGE_PULL_FAILED"]).toContain(failed[0].error)
    // The transitions on the host while it waited, with their positions, and the time spent.
    const throttled = failed[0].transitions.filter((t: { jobId: string; throttled: string }) => t.jobId === v2 && t.throttled === failed[0].error)
    expect(throttled.length).toBeGreaterThan(0)
    for (const t of throttled) expect(t.position).toBeGreaterThan(failed[0].started.position)
    expect(failed[0].durationMs).toBeGreaterThanOrEqual(10_000)
    expect(failed[0].evidence.previousStates.length).toBeGreaterThan(0)
    // Later hosts were never touched by rollout 2.
    expect(replay.steps.filter((s: { started?: unknown }) => s.started !== undefined).every((s: { host: string }) => s.host === HOSTS[0])).toBe(true)
    const revert = (await api("GET", `/deployment-group/${GROUP}/rollouts/latest/replay`)).body
    expect(revert).toMatchObject({ number: 3, reason: "ROLLBACK", rollbackTo: 1, jobId: v1, outcome: "ACTIVE", actor: "master:ru-master" })
  }, 240_000)

  it("maxFailures 1 goes on past one bad host and counts it; a second bad host fails the rollout", async () => {
    // A hand-made deployment of the rollout's job (no migrate) makes a host bad: JOB_ALREADY_DEPLOYED.
    const handDeploy = async (job: string, host: string) => expect((await api("PUT", `/hosts/${host}/jobs/${job}`, { job, goal: "START" })).status).toBe(200)
    const v3 = await createJob("ru-web:v3")
    await handDeploy(v3, HOSTS[1]!)
    await post(`/deployment-group/${GROUP}/rolling-update`, { job: v3, rolloutOptions: { maxFailures: 1 } })
    const s = await settled(4)
    expect(s.status).toBe("ACTIVE")
    expect(s.rollout.failures.map((f: { host: string; error: string }) => `${f.host} ${f.error}`)).toEqual([`${HOSTS[1]} JOB_ALREADY_DEPLOYED`])
    expect((await api("GET", `/deployment-group/${GROUP}/rollouts`)).body.rollouts[3].failedSteps).toBe(1)

    const v4 = await createJob("ru-web:v4")
    await handDeploy(v4, HOSTS[1]!)
    await handDeploy(v4, HOSTS[2]!)
    await post(`/deployment-group/${GROUP}/rolling-update`, { job: v4, rolloutOptions: { maxFailures: 1 } })
    const s2 = await settled(5)
    expect(s2.status).toBe("FAILED")
    expect(s2.rollout.failures.map((f: { host: string }) => f.host)).toEqual([HOSTS[1], HOSTS[2]])
    // Back to a known state for the next test: no hand-made deployments, v1 everywhere.
    for (const [job, host] of [[v3, HOSTS[1]], [v4, HOSTS[1]], [v4, HOSTS[2]]] as const)
      if (master.projection.model.state.deployments.get(host!)?.get(job)?.deploymentGroup === undefined) expect((await api("DELETE", `/hosts/${host}/jobs/${job}`)).status).toBe(200)
    await post(`/deployment-group/${GROUP}/rollback`, { toRollout: 1, rolloutOptions: { parallelism: 4 } })
    await settled(6)
    expect(await versions()).toEqual(allOn("ru-web:v1"))
  }, 240_000)

  it("a canary of 1 changes only the first host until promote; rollback instead restores it", async () => {
    const v5 = await createJob("ru-web:v5")
    await post(`/deployment-group/${GROUP}/rolling-update`, { job: v5, rolloutOptions: { canary: 1, parallelism: 3 } })
    const waiting = await settled(7)
    expect(waiting.status).toBe("AWAITING_PROMOTION")
    expect(await versions()).toEqual({ ...allOn("ru-web:v1"), [HOSTS[0]!]: "ru-web:v5 RUNNING" })
    await post(`/deployment-group/${GROUP}/promote`)
    expect((await settled(7)).status).toBe("ACTIVE")
    expect(await versions()).toEqual(allOn("ru-web:v5"))

    const v6 = await createJob("ru-web:v6")
    await post(`/deployment-group/${GROUP}/rolling-update`, { job: v6, rolloutOptions: { canary: 1 } })
    expect((await settled(8)).status).toBe("AWAITING_PROMOTION")
    expect((await versions())[HOSTS[0]!]).toBe("ru-web:v6 RUNNING")
    await post(`/deployment-group/${GROUP}/rollback`)
    expect((await settled(9)).status).toBe("ACTIVE")
    expect(await versions()).toEqual(allOn("ru-web:v5"))
    expect((await api("GET", `/deployment-group/${GROUP}/rollouts`)).body.rollouts.slice(-2).map((r: { status: string; reason: string }) => `${r.reason} ${r.status}`)).toEqual([
      "MANUAL SUPERSEDED",
      "ROLLBACK ACTIVE",
    ])
    expect((await api("POST", `/deployment-group/${GROUP}/promote`)).status).toBe(409)
  }, 240_000)

  it("a plan writes nothing and names its position; --check-position refuses after a concurrent change and accepts when nothing changed", async () => {
    const v7 = await createJob("ru-web:v7")
    const before = master.projection.position
    const plan = await post(`/deployment-group/${GROUP}/plan`, { job: v7, rolloutOptions: { parallelism: 2 } })
    expect(master.projection.position).toBe(before)
    expect(plan.position).toBe(before)
    expect(plan.hosts).toEqual(HOSTS)
    expect(plan.steps).toHaveLength(12)

    // Someone deploys by hand to one of the group's hosts after the plan: the update is refused.
    const other = await createJob("ru-other:v1")
    expect((await api("PUT", `/hosts/${HOSTS[3]}/jobs/${other}`, { job: other, goal: "START" })).status).toBe(200)
    const refused = await api("POST", `/deployment-group/${GROUP}/rolling-update`, { job: v7, checkPosition: plan.position })
    expect(refused.status).toBe(409)
    expect(refused.body).toMatchObject({ status: "CHANGED_SINCE_POSITION", changes: [{ type: "JobDeployed", host: HOSTS[3] }] })
    const rollouts = (await api("GET", `/deployment-group/${GROUP}/rollouts`)).body.rollouts.length

    // Plan again; nothing changes in between: accepted.
    const again = await post(`/deployment-group/${GROUP}/plan`, { job: v7 })
    await post(`/deployment-group/${GROUP}/rolling-update`, { job: v7, checkPosition: again.position, rolloutOptions: { parallelism: 4 } })
    expect((await settled(rollouts + 1)).status).toBe("ACTIVE")
  }, 240_000)
})
