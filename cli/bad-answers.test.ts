/**
 * A master that answers valid JSON of the wrong shape: the CLI refuses it with one line naming
 * the endpoint and what was wrong, and exits 1, instead of crashing ("internal error") or
 * printing garbage with exit 0.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cells, lines, removeTempDirs, runInProcess, tempDir } from "../test/cli-helpers.ts"

/** What the fake master answers, by `METHOD /path`: a JSON value, or NDJSON lines for a stream. */
let answers: Record<string, unknown> = {}
let server: Server
let env: Record<string, string>

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume()
    const key = `${req.method} ${new URL(req.url ?? "/", "http://x").pathname}`
    if (!(key in answers)) {
      res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ status: "NOT_FOUND" }))
      return
    }
    const answer = answers[key]
    if (key === "GET /events") {
      // A stream: the lines, then held open (as with --follow) until the client goes away.
      res.writeHead(200, { "Content-Type": "application/x-ndjson" })
      res.write((answer as string[]).join("\n") + "\n")
      return
    }
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(answer))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  env = { HOME: tempDir("bad-answers"), HELIOS_MASTER: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  removeTempDirs()
})

/** Runs `helios args` against answers; expects exit 1 and one clear line naming `endpoint`. */
const refused = async (args: string[], given: Record<string, unknown>, endpoint: string, what: string) => {
  answers = given
  const r = await runInProcess(args, { env })
  expect(r.stderr).not.toContain("internal error")
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1)
  expect(r.stderr).toContain(`answered ${endpoint} with something this helios cannot read`)
  expect(r.stderr).toContain(what)
  expect(r.code).toBe(1)
  return r
}

const job = { id: "web:1:abc1234", image: "nginx" }
const event = { position: 1, timestamp: 1, actor: "user:x", commandId: null, type: "JobCreated", event: { _tag: "JobCreated", job } }

describe("a master answering the wrong shape", () => {
  it("masters: a string instead of a list of names", async () => {
    const r = await refused(["masters"], { "GET /masters": "hello" }, "GET /masters", "(root): Expected array")
    expect(r.stdout).toBe("")
  })

  it("version: an object instead of a version string", async () => {
    const r = await refused(["version"], { "GET /version": { a: 1 } }, "GET /version", "(root)")
    expect(r.stdout).not.toContain("[object Object]")
  })

  it("list-deployment-groups: a string instead of a list of names", async () => {
    await refused(["list-deployment-groups"], { "GET /deployment-group": "groups" }, "GET /deployment-group", "(root)")
  })

  it("jobs: jobs that are not objects", async () => {
    await refused(["jobs"], { "GET /jobs": { a: 1 } }, "GET /jobs", "a:")
  })

  it("jobs: null statuses", async () => {
    await refused(["jobs"], { "GET /jobs": { [job.id]: job }, "POST /jobs/statuses": null }, "POST /jobs/statuses", "(root)")
  })

  it("status: a status without its job", async () => {
    await refused(
      ["status"],
      { "GET /jobs": { [job.id]: job }, "POST /jobs/statuses": { [job.id]: { deployments: {}, taskStatuses: {} } } },
      "POST /jobs/statuses",
      `${job.id}.job`,
    )
  })

  it("events --follow: an HTML line in the stream", async () => {
    const r = await refused(["events", "--follow"], { "GET /events": [JSON.stringify(event), "<html>"] }, "GET /events", "not JSON")
    expect(r.stdout).toContain("#1")
  })

  it("events --follow: a line without its event", async () => {
    await refused(["events", "--follow"], { "GET /events": [JSON.stringify({ ...event, event: undefined })] }, "GET /events", "event")
  })
})

/*
 * A newer master may add a rollout reason, a rollout or step outcome, a step kind, an error code or
 * a task state: the CLI only prints those, so it shows them instead of refusing the answer. What it
 * relies on (the arrays it iterates, a string where it prints one) is still checked, and a refusal
 * names that, not the new value next to it.
 */
const OPTIONS = { timeout: 300, parallelism: 1, migrate: false, overlap: false, ignoreFailures: false }
const rollouts = {
  name: "web",
  position: 20,
  rollouts: [
    { number: 3, startedAt: 10, startedAtTime: Date.UTC(2026, 0, 2), actor: "master:m1", jobId: job.id, reason: "SCHEDULED", options: OPTIONS, status: "PAUSED", failedSteps: 0, durationMs: null },
  ],
}
const moment = (position: number) => ({ position, time: Date.UTC(2026, 0, 2) + position * 1000 })
const replay = {
  group: "web",
  number: 3,
  jobId: job.id,
  reason: "SCHEDULED",
  actor: "master:m1",
  options: OPTIONS,
  hosts: ["h1"],
  started: moment(10),
  ended: moment(14),
  outcome: "PAUSED",
  durationMs: 4000,
  steps: [
    {
      index: 0,
      host: "h1",
      kind: "DRAIN_CONNECTIONS",
      started: moment(11),
      ended: moment(12),
      durationMs: 1000,
      outcome: "SUCCEEDED",
      transitions: [{ ...moment(11), jobId: job.id, state: "RESTARTING", throttled: "BACKOFF" }],
    },
    { index: 1, host: "h1", kind: "AWAIT_RUNNING", started: moment(12), ended: moment(14), durationMs: 2000, outcome: "FAILED", error: "OUT_OF_MEMORY", message: "killed", evidence: { state: "OOM_KILLED" }, transitions: [] },
  ],
  position: 20,
}
const plan = { status: "OK", name: "web", position: 20, jobId: job.id, options: OPTIONS, hosts: ["h1"], steps: [{ host: "h1", kind: "DRAIN_CONNECTIONS" }, { host: "h1", kind: "DEPLOY_NEW_JOB" }] }
const groupStatus = {
  deploymentGroup: { name: "web", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }], jobId: job.id, rolloutOptions: OPTIONS, rollingUpdateReason: "SCHEDULED" },
  status: "ROLLING_OUT",
  error: null,
  hostStatuses: [{ host: "h1", jobId: job.id, state: "RUNNING" }],
  deploymentGroupStatus: { state: "ROLLING_OUT" },
  rollout: {
    number: 3,
    startedAt: 10,
    jobId: job.id,
    reason: "SCHEDULED",
    options: OPTIONS,
    steps: [{ host: "h1", kind: "DRAIN_CONNECTIONS" }],
    nextStep: 1,
    failures: [{ step: 0, host: "h1", error: "OUT_OF_MEMORY", message: "killed" }],
  },
  position: 20,
}

/** Runs `helios args` against answers; expects exit 0 and nothing on stderr; returns stdout's lines. */
const printed = async (args: string[], given: Record<string, unknown>): Promise<string[]> => {
  answers = given
  const r = await runInProcess(args, { env })
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" })
  return lines(r.stdout)
}

describe("a newer master's rollout answers: values this helios does not know are printed, not refused", () => {
  it("rollout history: a new reason and status", async () => {
    const out = await printed(["rollout", "history", "web"], { "GET /deployment-group/web/rollouts": rollouts })
    expect(cells(out[1]!)).toEqual(["3", job.id, "SCHEDULED", "master:m1", expect.any(String), "-", "PAUSED"])
  })

  it("rollout replay: a new reason, outcome, step kind, task state, throttle state and error code", async () => {
    const out = await printed(["rollout", "replay", "web"], { "GET /deployment-group/web/rollouts/latest/replay": replay })
    expect(out).toContain("Reason:    SCHEDULED")
    expect(out).toContain("Outcome:   PAUSED")
    expect(out.find((l) => l.startsWith("#1 "))).toMatch(/^#1 DRAIN_CONNECTIONS h1 .* SUCCEEDED$/)
    expect(out.some((l) => /RESTARTING\s+BACKOFF/.test(l))).toBe(true)
    expect(out).toContain("    Failed: OUT_OF_MEMORY: killed")
    expect(out).toContain("    Evidence: state OOM_KILLED")
  })

  it("rolling-update --plan: a new step kind, named as such", async () => {
    const out = await printed(["rolling-update", "web:1", "web", "--plan"], {
      "GET /jobs": { [job.id]: job },
      "POST /deployment-group/web/plan": plan,
      "POST /hosts/statuses": {},
    })
    expect(out.map((l) => cells(l))).toContainEqual(["#1", "DRAIN_CONNECTIONS", "h1", "a step this helios does not know"])
    expect(out.map((l) => cells(l))).toContainEqual(["#2", "DEPLOY_NEW_JOB", "h1", `deploy ${job.id}`])
  })

  it("inspect-deployment-group and deployment-group-status: a host selector with a new operator is shown as sent; known ones as Helios prints them", async () => {
    const group = { ...groupStatus.deploymentGroup, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }, { label: "zone", operator: "MATCHES", operand: "eu-*" }] }
    const inspected = await printed(["inspect-deployment-group", "web"], { "GET /deployment-group/web": group })
    expect(inspected).toEqual(expect.arrayContaining(["  role = web", '  zone MATCHES "eu-*"']))
    const status = await printed(["deployment-group-status", "web"], { "GET /deployment-group/web/status": { ...groupStatus, deploymentGroup: group } })
    expect(status).toContain('  zone MATCHES "eu-*"')
  })

  it("deployment-group-status: a rollout with a new reason, step kind and error code (--json prints it as sent)", async () => {
    const given = { "GET /deployment-group/web/status": groupStatus }
    expect(await printed(["deployment-group-status", "web"], given)).toContain("Status: ROLLING_OUT")
    expect(JSON.parse((await printed(["deployment-group-status", "web", "--json"], given)).join("\n"))).toEqual(groupStatus)
  })
})

describe("a newer master's rollout answers: what the CLI relies on is still checked", () => {
  it("rollout replay: no steps to walk is refused for the steps, not for the new reason", async () => {
    const { steps: _steps, ...noSteps } = replay
    const r = await refused(["rollout", "replay", "web"], { "GET /deployment-group/web/rollouts/latest/replay": noSteps }, "GET /deployment-group/web/rollouts/latest/replay", "steps: Missing key")
    expect(r.stderr).not.toContain("reason")
    expect(r.stdout).toBe("")
  })

  it("rollout history: a rollout without its job is refused, naming the field, not the new status", async () => {
    const { jobId: _jobId, ...noJob } = rollouts.rollouts[0]!
    const r = await refused(["rollout", "history", "web"], { "GET /deployment-group/web/rollouts": { ...rollouts, rollouts: [noJob] } }, "GET /deployment-group/web/rollouts", "rollouts.0.jobId: Missing key")
    expect(r.stderr).not.toMatch(/status|reason/)
  })

  it("rolling-update --plan: a step kind that is not a string is refused (--json: BAD_ANSWER), the unknown plan status is not", async () => {
    const bad = { ...plan, status: "PLANNED", steps: [{ host: "h1", kind: 7 }] }
    const given = { "GET /jobs": { [job.id]: job }, "POST /deployment-group/web/plan": bad }
    const r = await refused(["rolling-update", "web:1", "web", "--plan"], given, "POST /deployment-group/web/plan", "steps.0.kind: Expected string")
    expect(r.stderr).not.toContain("status")
    const json = await refused(["rolling-update", "web:1", "web", "--plan", "--json"], given, "POST /deployment-group/web/plan", "steps.0.kind")
    expect(JSON.parse(json.stdout)).toMatchObject({ status: "BAD_ANSWER", endpoint: "POST /deployment-group/web/plan" })
  })
})
