/**
 * The deployment-group verbs end to end: `helios` (in this process) against a real master on the
 * run's real ZooKeeper, with three real agents (each with its own ZooKeeper session and labels)
 * running containers in the in-memory runtime. The rollouts are executed by the master's leader;
 * the CLI only asks and watches. (The real-Docker acceptance suite is test/ territory.)
 */
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cells, lines, removeTempDirs, runInProcess, spawnCli, tempDir, type CliResult } from "../test/cli-helpers.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { startMemoryAgents, type MemoryAgents } from "../test/memory-agents.ts"
import { uniqueRoot, waitFor } from "../test/services.ts"

const IMAGE = "helios-test/web:latest"
const suffix = randomBytes(3).toString("hex")
const root = uniqueRoot("dg-cli")
const dir = tempDir("dg-cli")
/** h2 and h10 are web hosts (rolled out h2 first: alphanumeric order); h3 is not. */
const H2 = `dg${suffix}-h2`
const H10 = `dg${suffix}-h10`
const H3 = `dg${suffix}-h3`

let master: TestMaster
let fleet: MemoryAgents | undefined
let env: Record<string, string>

beforeAll(async () => {
  master = await startTestMaster(root, "m1")
  env = { HOME: join(dir, "home"), HELIOS_MASTER: master.url }
  fleet = await startMemoryAgents(
    root,
    dir,
    [
      [H2, { role: "web", zone: "a" }],
      [H10, { role: "web", zone: "b" }],
      [H3, { role: "db" }],
    ],
    [IMAGE],
  )
}, 60_000)

afterAll(async () => {
  await fleet?.stop()
  await master?.stop().catch(() => {})
  removeTempDirs()
})

const helios = (args: string[], extra: Parameters<typeof runInProcess>[1] = {}) => runInProcess(args, { env, ...extra })

/** Exit 0, nothing on stderr; returns stdout's lines. */
const ok = async (args: string[], extra: Parameters<typeof runInProcess>[1] = {}): Promise<string[]> => {
  const r = await helios(args, extra)
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" })
  return lines(r.stdout)
}

/** Exit 1 with exactly one line on stderr matching `message`, no stack trace. */
const fails = (r: CliResult, message: string | RegExp) => {
  expect(r.code).toBe(1)
  expect(lines(r.stderr)).toHaveLength(1)
  expect(r.stderr.trimEnd()).toMatch(message)
  expect(r.stderr).not.toMatch(/\n\s+at /)
}

/** The rows of deployment-group-status's table (after the blank line), as [HOST, UP-TO-DATE, JOB, STATE]. */
const statusRows = (out: string[]): string[][] =>
  out.slice(out.indexOf("") + 2).map((l) => {
    const c = cells(l)
    return c.length === 3 ? [c[0]!, "", c[1]!, c[2]!] : c
  })

describe("deployment-group verbs against a real master and agents on real ZooKeeper", () => {
  it("create, list, inspect, status; CONFLICT for other selectors; unknown groups", async () => {
    expect(await ok(["create-deployment-group", "web", "role=web"])).toEqual([
      'Creating deployment group: {"name":"web","hostSelectors":[{"label":"role","operator":"EQUALS","operand":"web"}]}',
      '{"status":"CREATED"}',
    ])
    expect(await ok(["create-deployment-group", "-q", "web", "role=web"])).toEqual(['{"status":"NOT_MODIFIED"}'])
    expect(JSON.parse((await ok(["--json", "create-deployment-group", "nohosts", "role=web", "zone notin (a, b)"])).join("\n"))).toMatchObject({
      status: "CREATED",
      position: expect.any(Number),
    })

    const conflict = await helios(["create-deployment-group", "web", "role=db"])
    fails(conflict, "CONFLICT: deployment group web already exists with other host selectors")
    expect(lines(conflict.stdout).at(-1)).toBe('{"status":"CONFLICT"}')
    const conflictJson = await helios(["--json", "create-deployment-group", "web", "role=db"])
    expect(conflictJson.code).toBe(1)
    expect(JSON.parse(conflictJson.stdout)).toMatchObject({ status: "CONFLICT", name: "web" })

    expect(await ok(["list-deployment-groups"])).toEqual(["nohosts", "web"])
    expect(JSON.parse((await ok(["list-deployment-groups", "--json"])).join("\n"))).toEqual(["nohosts", "web"])

    expect(await ok(["inspect-deployment-group", "nohosts"])).toEqual(["Name: nohosts", "Host selectors:", "  role = web", "  zone notin [a, b]", "Job: -"])
    expect(JSON.parse((await ok(["--json", "inspect-deployment-group", "web"])).join("\n"))).toMatchObject({
      name: "web",
      hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }],
      jobId: null,
    })

    // Only the group's UP hosts, in rollout order (h2 before h10); h3 has another role.
    const idle = await waitFor(async () => {
      const out = await ok(["deployment-group-status", "web"])
      return statusRows(out).length === 2 ? out : undefined
    }, { timeoutMs: 30_000, intervalMs: 200, what: "both web hosts UP in the group's status" })
    expect(idle.slice(0, 6)).toEqual(["Name: web", "Job Id: -", "Status: IDLE", "Host selectors:", "  role = web", ""])
    expect(cells(idle[6]!)).toEqual(["HOST", "UP-TO-DATE", "JOB", "STATE"])
    expect(statusRows(idle)).toEqual([
      [H2, "", "-", "-"],
      [H10, "", "-", "-"],
    ])

    for (const verb of ["inspect-deployment-group", "deployment-group-status", "stop-deployment-group", "remove-deployment-group"])
      fails(await helios([verb, "nope"]), /^Unknown deployment group: nope$/)
    const unknownJson = await helios(["--json", "deployment-group-status", "nope"])
    expect(JSON.parse(unknownJson.stdout)).toMatchObject({ status: "DEPLOYMENT_GROUP_NOT_FOUND", name: "nope" })
  })

  it("rolling-update: progress host by host, Done.; a second version; --json; --async; an empty group", async () => {
    const v1 = (await ok(["create", "-q", "dgweb:v1", IMAGE]))[0]!
    const v2 = (await ok(["create", "-q", "dgweb:v2", IMAGE, "--env", "V=2"]))[0]!

    const first = await ok(["rolling-update", "dgweb:v1", "web"])
    expect(first[0]).toBe(`Rolling update started: web -> ${v1.slice(0, 16)} (parallelism=1, timeout=300, overlap=false, token=, ignoreFailures=false, migrate=false)`)
    expect(first.slice(1)).toEqual(["", `${H2} -> RUNNING (1/2)`, `${H10} -> RUNNING (2/2)`, "", "Done.", expect.stringMatching(/^Duration: \d+\.\d\d s$/)])

    const active = await ok(["deployment-group-status", "web"])
    expect(active.slice(0, 3)).toEqual(["Name: web", `Job Id: ${v1.slice(0, 16)}`, "Status: ACTIVE"])
    expect(statusRows(active)).toEqual([
      [H2, "X", v1.slice(0, 16), "RUNNING"],
      [H10, "X", v1.slice(0, 16), "RUNNING"],
    ])
    expect(statusRows(await ok(["deployment-group-status", "-f", "web"]))[0]).toEqual([H2, "X", v1, "RUNNING"])
    expect(await ok(["inspect-deployment-group", "web"])).toEqual([
      "Name: web",
      "Host selectors:",
      "  role = web",
      `Job: ${v1}`,
      "Rolling update reason: MANUAL",
      "Rollout options:",
      "  Migrate: false",
      "  Overlap: false",
      "  Parallelism: 1",
      "  Timeout: 300",
      "  Ignore failures: false",
    ])

    // version 2 on every host, two at a time, --json
    const second = JSON.parse((await ok(["--json", "rolling-update", v2.slice(0, 12), "web", "--par", "2", "-t", "120"])).join("\n"))
    expect(second).toEqual({
      status: "DONE",
      error: null,
      duration: expect.any(Number),
      parallelism: 2,
      timeout: 120,
      overlap: false,
      token: "",
      ignoreFailures: false,
      migrate: false,
      name: "web",
      job: v2,
      rollout: 2,
    })
    expect(statusRows(await ok(["deployment-group-status", "web"]))).toEqual([
      [H2, "X", v2.slice(0, 16), "RUNNING"],
      [H10, "X", v2.slice(0, 16), "RUNNING"],
    ])
    // version 1 is gone from the group's hosts (its containers stop after the undeploy)
    await waitFor(async () => ((await ok(["status", "--job", v1])).length === 1 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, what: "v1 gone" })

    // a group with no hosts: an empty plan is ACTIVE at once
    expect((await ok(["rolling-update", v2, "nohosts"])).slice(1)).toEqual(["", "", "Done.", expect.stringMatching(/^Duration: /)])
    expect((await ok(["deployment-group-status", "nohosts"]))[2]).toBe("Status: ACTIVE")
    const async = await ok(["rolling-update", "--async", v1, "nohosts", "--overlap", "--migrate", "--ignore-failures"])
    expect(async).toEqual([`Rolling update (async) started: nohosts -> ${v1.slice(0, 16)} (parallelism=1, timeout=300, overlap=true, token=, ignoreFailures=true, migrate=true)`])
    expect(JSON.parse((await ok(["--json", "rolling-update", "--async", v2, "nohosts"])).join("\n"))).toMatchObject({ status: "OK", job: v2, overlap: false })

    // history of version 1 tells its rollouts: started with the plan, each step, finished
    const history = (await ok(["history", "dgweb:v1"])).slice(2).map((l) => l.split(/\s{2,}/))
    const rollout = history.filter((c) => /^(rollout|step)-/.test(c[4] ?? "")).map((c) => [c[2], c[4], c.at(-1)])
    expect(rollout.slice(0, 3)).toEqual([
      ["-", "rollout-started", "rollout of web started (MANUAL, 6 steps)"],
      [H2, "step-started", "web step 1 UNDEPLOY_OLD_JOBS started"],
      [H2, "step-succeeded", "web step 1 UNDEPLOY_OLD_JOBS succeeded"],
    ])
    expect(rollout).toContainEqual([H10, "step-succeeded", "web step 6 AWAIT_RUNNING succeeded"])
    expect(rollout).toContainEqual(["-", "rollout-finished", "rollout of web finished ACTIVE"])
    expect(history.filter((c) => c[4] === "deployed").map((c) => [c[2], c.at(-1)])).toEqual([
      [H2, "goal START, by group web"],
      [H10, "goal START, by group web"],
    ])
  }, 120_000)

  it("rolling-update failures: unknown job or group, bad token, a step that fails, a changed job; stop; watch; remove keeps deployments", async () => {
    fails(await helios(["rolling-update", "nosuchjob", "web"]), /^Unknown job: nosuchjob$/)
    fails(await helios(["rolling-update", "dgweb:v1", "nope"]), /^Unknown deployment group: nope$/)
    await ok(["create", "-q", "dgsecret:v1", IMAGE, "--token", "s3cret"])
    fails(await helios(["rolling-update", "dgsecret:v1", "web"]), /^FORBIDDEN \(HTTP 403\): rolloutOptions\.token: /)

    // an image no host has: the rollout fails at its first host's AWAIT_RUNNING
    const broken = (await ok(["create", "-q", "dgbroken:v1", "helios-test/missing:latest"]))[0]!
    const failed = await helios(["rolling-update", "dgbroken:v1", "web", "-t", "3"])
    fails(failed, new RegExp(`^Failed: ${H2}: `))
    expect(lines(failed.stdout)[0]).toMatch(/^Rolling update started: web -> dgbroken:v1:[0-9a-f]{7} \(parallelism=1, timeout=3,/)
    expect(lines(failed.stdout).at(-1)).toMatch(/^Duration: /)
    const failedStatus = await ok(["deployment-group-status", "web"])
    expect(failedStatus[2]).toBe("Status: FAILED")
    expect(failedStatus).toContainEqual(expect.stringMatching(new RegExp(`^Error: ${H2}: `)))
    const brokenHistory = (await ok(["history", broken])).join("\n")
    expect(brokenHistory).toMatch(new RegExp(`${H2}\\s+master:m1\\s+step-failed\\s+.*web step 3 AWAIT_RUNNING failed: (IMAGE_MISSING|IMAGE_PULL_FAILED|TIMED_OUT_WAITING_FOR_JOB_TO_REACH_RUNNING): `))
    expect(brokenHistory).toMatch(/rollout-finished\s+.*rollout of web finished FAILED: /)

    // --json on failure: the result on stdout, the reason on stderr
    const failedJson = await helios(["--json", "rolling-update", broken, "web", "-t", "2"])
    fails(failedJson, /^Failed: /)
    expect(JSON.parse(failedJson.stdout)).toMatchObject({ status: "FAILED", error: expect.stringContaining(H2), timeout: 2, name: "web" })

    // the group's job changes underneath a waiting rolling-update: it says so and fails
    const waiting = helios(["rolling-update", broken, "web", "-t", "60"])
    await waitFor(async () => ((await ok(["--json", "deployment-group-status", "web"])).join("").includes('"ROLLING_OUT"') ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 })
    await ok(["rolling-update", "--async", "dgweb:v2", "web"])
    fails(await waiting, /^Failed: Deployment-group job id changed during rolling-update$/)

    // stop: FAILED, "Stopped by user"
    await waitFor(async () => ((await ok(["deployment-group-status", "web"]))[2] === "Status: ACTIVE" ? true : undefined), { timeoutMs: 60_000, intervalMs: 200, what: "web ACTIVE on v2" })
    await ok(["create-deployment-group", "stopme", "role=web"])
    const stopping = helios(["rolling-update", broken, "stopme", "-t", "60"])
    await waitFor(async () => ((await ok(["deployment-group-status", "stopme"]))[2] === "Status: ROLLING_OUT" ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 })
    expect(await ok(["stop-deployment-group", "stopme"])).toEqual(["Deployment-group stopme stopped"])
    fails(await stopping, /^Failed: Stopped by user$/)
    const stopped = await ok(["deployment-group-status", "stopme"])
    expect(stopped.slice(2, 3)).toEqual(["Status: FAILED"])
    expect(stopped).toContain("Error: Stopped by user")
    expect(JSON.parse((await ok(["--json", "stop-deployment-group", "stopme"])).join("\n"))).toEqual({ status: "STOPPED", name: "stopme" })
    expect(await ok(["history", broken])).toContainEqual(expect.stringMatching(/rollout-stopped\s+-\s+-\s+-\s+rollout of stopme stopped$/))

    // watch: the status under a timestamped separator until Ctrl-C
    const abort = new AbortController()
    const watched = await ok(["watch-deployment-group", "web", "--interval", "1"], { signal: abort.signal, onStdout: (out) => out.includes("HOST") && abort.abort() })
    expect(watched[0]).toBe("Control-C to stop")
    expect(watched[1]).toMatch(/^-{54} \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\]$/)
    expect(watched.slice(2, 5)).toEqual(["Name: web", expect.stringMatching(/^Job Id: dgweb:v2:/), "Status: ACTIVE"])
    const abortJson = new AbortController()
    const watchedJson = await ok(["--json", "watch-deployment-group", "web"], { signal: abortJson.signal, onStdout: () => abortJson.abort() })
    expect(JSON.parse(watchedJson[0]!)).toMatchObject({ timestamp: expect.any(Number), status: "ACTIVE", deploymentGroup: { name: "web" } })

    // remove: the group goes, its deployments stay
    expect(await ok(["remove-deployment-group", "web"])).toEqual(["Deployment-group web removed"])
    fails(await helios(["remove-deployment-group", "web"]), /^Unknown deployment group: web$/)
    expect(await ok(["list-deployment-groups"])).toEqual(["nohosts", "stopme"])
    const statusAfter = (await ok(["status", "--job", "dgweb:v2"])).slice(1).map((l) => cells(l).slice(1, 4))
    expect(statusAfter).toEqual([
      [H10, "START", "RUNNING"],
      [H2, "START", "RUNNING"],
    ])
    expect(JSON.parse((await ok(["--json", "remove-deployment-group", "nohosts"])).join("\n"))).toMatchObject({ status: "REMOVED", name: "nohosts" })
  }, 180_000)

  it("as a process: exit codes and one line on stderr", async () => {
    const [done, unknown, badPar] = await Promise.all([
      spawnCli(["list-deployment-groups"], env),
      spawnCli(["deployment-group-status", "nope"], env),
      spawnCli(["rolling-update", "x", "y", "--par", "0"], env),
    ])
    expect([done.code, done.stderr]).toEqual([0, ""])
    expect([unknown.code, unknown.stdout, unknown.stderr]).toEqual([1, "", "Unknown deployment group: nope\n"])
    expect([badPar.code, badPar.stdout, badPar.stderr]).toEqual([
      1,
      "",
      "helios rolling-update: option --par: Expected an integer from 1 to 2147483647, got '0' (see 'helios rolling-update --help')\n",
    ])
  }, 60_000)
})
