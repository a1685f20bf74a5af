/**
 * /metrics on a real master and on a real agent process (`agent/main.ts --metrics-port 0`) on the
 * real ZooKeeper and Docker: scraped, parsed as Prometheus text, and checked to move as `helios`
 * commands run (appends by event type, API requests by route pattern, ZooKeeper round trips,
 * tasks/hosts/rollouts gauges, projection lag; on the agent: reconcile passes, Docker calls and
 * errors, its tasks). Two masters in one process keep separate registries.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HostName } from "../core/ids.ts"
import { dockerAgentFixture, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import { agentProcesses, type AgentProcess } from "../test/agent-process.ts"
import { runInProcess } from "../test/cli-helpers.ts"
import { TEST_IMAGE } from "../test/docker.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { hasMetric, metricValue, scrape, type Sample } from "../test/prometheus.ts"
import { waitFor } from "../test/services.ts"

const HOST = "met-h1" as HostName

let fx: DockerAgentFixture
let master: TestMaster
let other: TestMaster | undefined
const agents = agentProcesses()
let agent: AgentProcess
let agentMetricsUrl: string

beforeAll(async () => {
  fx = await dockerAgentFixture("metrics")
  master = await startTestMaster(fx.root, "met-master")
  agent = agents.spawn(fx, HOST, { args: ["--metrics-port", "0", "--port-range", "47800:47849", "--label", "role=web"] })
  agentMetricsUrl = String((await agent.saw((l) => l["event"] === "started", "agent started"))["metrics"])
  await agent.saw((l) => l["event"] === "registered", "agent registered")
  await waitFor(() => (master.projection.model.state.hosts.get(HOST)?.up ? true : undefined), { what: `${HOST} UP` })
}, 120_000)

afterAll(async () => {
  // Gracefully (its containers stay; the fixture removes them), then for sure.
  agent?.child.kill("SIGTERM")
  await Promise.race([agent?.exited, new Promise((r) => setTimeout(r, 10_000))])
  agents.killAll()
  await other?.stop().catch(() => undefined)
  await master?.stop().catch(() => undefined)
  await fx?.cleanup()
})

const helios = async (...args: string[]): Promise<string> => {
  const r = await runInProcess(["-z", master.url, ...args], { env: { HOME: fx.tmp } })
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" })
  return r.stdout.trim()
}

const masterMetrics = (m: TestMaster = master) => scrape(`${m.url}/metrics`)
const appended = (s: Sample[], type: string) => metricValue(s, "helios_events_appended_total", { type })
const requests = (s: Sample[], method: string, route: string, status: string) =>
  metricValue(s, "helios_http_request_duration_seconds_count", { method, route, status })

/** Polls a scrape until `check` holds for it; the last scrape. */
const until = (url: string, what: string, check: (s: Sample[]) => boolean, timeoutMs = 45_000) =>
  waitFor(
    async () => {
      const s = await scrape(url)
      return check(s) ? s : undefined
    },
    { what, timeoutMs, intervalMs: 250 },
  )

describe("/metrics", () => {
  let webId: string

  it("on the master: appends by type, API requests by route pattern, ZooKeeper round trips, tasks and hosts move as commands run", async () => {
    const before = await masterMetrics()
    expect(metricValue(before, "helios_hosts", { status: "UP" })).toBe(1)
    expect(metricValue(before, "helios_hosts", { status: "DOWN" })).toBe(0)
    expect(metricValue(before, "helios_master_info", { name: "met-master" })).toBe(1)

    webId = await helios("-u", "alice", "create", "-q", "met-web:v1", TEST_IMAGE, "-p", "http=80")
    await helios("-u", "alice", "deploy", webId, HOST)
    const after = await until(`${master.url}/metrics`, "web:v1 RUNNING in helios_tasks", (s) => metricValue(s, "helios_tasks", { state: "RUNNING" }) === 1)

    expect(appended(after, "JobCreated") - appended(before, "JobCreated")).toBe(1)
    expect(appended(after, "JobDeployed") - appended(before, "JobDeployed")).toBe(1)
    // The agent's task transitions reach the log through this master (PULLING_IMAGE ... RUNNING).
    expect(appended(after, "TaskStateChanged") - appended(before, "TaskStateChanged")).toBeGreaterThanOrEqual(3)
    const appends = (s: Sample[]) => metricValue(s, "helios_append_duration_seconds_count", { outcome: "ok" })
    expect(appends(after)).toBeGreaterThan(appends(before))

    // By route pattern, never the raw path: the job id is not a label value.
    expect(requests(after, "POST", "/jobs", "200") - requests(before, "POST", "/jobs", "200")).toBe(1)
    expect(requests(after, "PUT", "/hosts/:host/jobs/:jobId", "200") - requests(before, "PUT", "/hosts/:host/jobs/:jobId", "200")).toBe(1)
    expect(requests(after, "POST", "/hosts/:host/events", "200")).toBeGreaterThan(0)
    expect(after.filter((s) => s.name.startsWith("helios_http_") && (s.labels["route"] ?? "").includes(webId.split(":")[2]!))).toEqual([])

    const zk = (s: Sample[]) => metricValue(s, "helios_zookeeper_requests_total")
    expect(zk(after)).toBeGreaterThan(zk(before))
    expect(metricValue(after, "helios_zookeeper_requests_total", { op: "multi", outcome: "ok" })).toBeGreaterThan(0)
    expect(hasMetric(after, "helios_zookeeper_request_duration_seconds_bucket", { op: "multi" })).toBe(true)

    expect(metricValue(after, "helios_jobs")).toBe(1)
    expect(metricValue(after, "helios_deployments", { goal: "START" })).toBe(1)
    // Projection lag: head - applied, both present; an idle master has caught up.
    expect(metricValue(after, "helios_log_head_position")).toBeGreaterThanOrEqual(metricValue(after, "helios_projection_position"))
    expect(metricValue(after, "helios_projection_lag_events")).toBeGreaterThanOrEqual(0)
    await until(`${master.url}/metrics`, "no projection lag when idle", (s) => metricValue(s, "helios_projection_lag_events") === 0)
  })

  it("a job's status polled (asked for twice) is kept ready: counted in helios_polled_jobs, its rounds in helios_status_warm_rounds_total", async () => {
    const before = await masterMetrics()
    expect(metricValue(before, "helios_polled_jobs")).toBe(0)
    for (let i = 0; i < 2; i++) expect((await master.call("GET", `/jobs/${encodeURIComponent(webId)}/status`)).status).toBe(200)
    await until(`${master.url}/metrics`, "a polled job and a round for it", (s) => metricValue(s, "helios_polled_jobs") === 1 && metricValue(s, "helios_status_warm_rounds_total") > metricValue(before, "helios_status_warm_rounds_total"))
  })

  it("answers an unknown route with route=\"unmatched\", and times it", async () => {
    const before = await masterMetrics()
    expect((await master.call("GET", "/no/such/endpoint/12345")).status).toBe(404)
    const after = await masterMetrics()
    expect(requests(after, "GET", "unmatched", "404") - requests(before, "GET", "unmatched", "404")).toBe(1)
    expect(after.some((s) => (s.labels["route"] ?? "").includes("12345"))).toBe(false)
  })

  it("on the agent (--metrics-port, loopback): reconcile passes, Docker calls, its tasks, appends and ZooKeeper round trips", async () => {
    expect(agentMetricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const s = await until(agentMetricsUrl, "the agent's RUNNING task", (x) => metricValue(x, "helios_agent_tasks", { state: "RUNNING" }) === 1)
    expect(metricValue(s, "helios_agent_info", { host: HOST })).toBe(1)
    expect(metricValue(s, "helios_agent_reconcile_duration_seconds_count")).toBeGreaterThan(0)
    for (const op of ["create", "start", "inspect", "list"])
      expect(metricValue(s, "helios_agent_docker_request_duration_seconds_count", { op }), op).toBeGreaterThanOrEqual(1)
    expect(metricValue(s, "helios_agent_events_appended_total", { type: "TaskStateChanged" })).toBeGreaterThanOrEqual(3)
    expect(metricValue(s, "helios_agent_zookeeper_requests_total")).toBeGreaterThan(0)
    expect(metricValue(s, "helios_agent_pending_facts")).toBe(0)
    // The process's own metrics come along (CPU, memory).
    expect(hasMetric(s, "process_cpu_user_seconds_total")).toBe(true)
    // Reconcile passes keep coming (every second in this test: --reconcile-interval-ms 1000).
    const passes = metricValue(s, "helios_agent_reconcile_duration_seconds_count")
    await until(agentMetricsUrl, "another reconcile pass", (x) => metricValue(x, "helios_agent_reconcile_duration_seconds_count") > passes)
    expect((await fetch(agentMetricsUrl.replace(/\/metrics$/, "/other"))).status).toBe(404)
  })

  it("on the agent: a failed Docker call is counted by operation and error", async () => {
    const errors = (x: Sample[]) => metricValue(x, "helios_agent_docker_errors_total", { op: "pullImage" })
    const before = errors(await scrape(agentMetricsUrl))
    const missing = await helios("create", "-q", "met-missing:v1", "helios-test/no-such-image:latest")
    await helios("deploy", missing, HOST)
    const s = await until(agentMetricsUrl, "a failed pull", (x) => errors(x) > before)
    const kinds = s.filter((x) => x.name === "helios_agent_docker_errors_total" && x.labels["op"] === "pullImage").map((x) => x.labels["error"])
    expect(kinds.every((k) => k === "ImageNotFound" || k === "ImagePullFailed" || k === "RuntimeFailure"), JSON.stringify(kinds)).toBe(true)
    await helios("undeploy", "-a", "--yes", missing)
    await helios("remove", "--yes", missing)
  })

  it("counts deployment groups by rollout status", async () => {
    const before = await masterMetrics()
    const r = await master.call("POST", "/deployment-group", { name: "met-web", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    const idle = await until(`${master.url}/metrics`, "one IDLE group", (s) => metricValue(s, "helios_rollouts", { status: "IDLE" }) === metricValue(before, "helios_rollouts", { status: "IDLE" }) + 1)
    expect(metricValue(idle, "helios_rollouts", { status: "ACTIVE" })).toBe(0)
    const v2 = await helios("create", "-q", "met-web:v2", TEST_IMAGE, "-p", "http=80")
    const u = await master.call("POST", "/deployment-group/met-web/rolling-update", { job: v2 })
    expect(u.status, JSON.stringify(u.body)).toBe(200)
    const done = await until(`${master.url}/metrics`, "the rollout ACTIVE", (s) => metricValue(s, "helios_rollouts", { status: "ACTIVE" }) === 1, 60_000)
    expect(metricValue(done, "helios_rollouts", { status: "IDLE" })).toBe(0)
    expect(appended(done, "RolloutStarted")).toBe(1)
    expect(appended(done, "RolloutFinished")).toBe(1)
    expect(appended(done, "RolloutStepSucceeded")).toBeGreaterThanOrEqual(3)
    expect(metricValue(done, "helios_master_leader")).toBe(1)
  })

  it("two masters in one process keep separate registries", async () => {
    other = await startTestMaster(fx.root, "met-other")
    const first = await masterMetrics()
    const second = await masterMetrics(other)
    expect(metricValue(second, "helios_master_info", { name: "met-other" })).toBe(1)
    expect(hasMetric(second, "helios_master_info", { name: "met-master" })).toBe(false)
    expect(metricValue(second, "helios_events_appended_total")).toBe(0)
    // Both read the same fleet from the log.
    expect(metricValue(second, "helios_jobs")).toBe(metricValue(first, "helios_jobs"))

    const r = await runInProcess(["-z", other.url, "create", "-q", "met-other:v1", TEST_IMAGE], { env: { HOME: fx.tmp } })
    expect(r.code, r.stderr).toBe(0)
    expect(appended(await masterMetrics(other), "JobCreated")).toBe(1)
    expect(appended(await masterMetrics(), "JobCreated")).toBe(appended(first, "JobCreated"))
  })
})
