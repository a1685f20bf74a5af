/**
 * Every verb against a real master (in this process, on an embedded SQLite log; no agent: task
 * states are reported through the master's command bus as an agent would). The CLI runs
 * in-process for speed, and as a child process where the process boundary matters (exit code,
 * exactly one line on stderr, no stack trace).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HostName } from "../core/ids.ts"
import type { JobId } from "../core/job-id.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { cells, freePort, lines, runInProcess, spawnCli, tempDir, removeTempDirs, type CliResult } from "../test/cli-helpers.ts"

let master: RunningMaster
let log: SqliteEventLog
let home: string
let env: Record<string, string>

beforeAll(async () => {
  const dir = tempDir("cli-commands")
  home = join(dir, "home")
  mkdirSync(home)
  log = new SqliteEventLog(join(dir, "events.db"))
  master = await startMaster({ log, port: 0, bindAddress: "127.0.0.1", name: "m-cli" })
  env = { HOME: home, HELIOS_MASTER: master.url }
})
afterAll(async () => {
  await master?.stop()
  await log?.close()
  removeTempDirs()
})

const helios = (args: string[], extra: Parameters<typeof runInProcess>[1] = {}) => runInProcess(args, { env, ...extra })

/** Exit 0, nothing on stderr; returns stdout. */
const ok = async (args: string[], extra: Parameters<typeof runInProcess>[1] = {}): Promise<string> => {
  const r = await helios(args, extra)
  // Interactive runs ask on stderr first.
  const stderr = extra.interactive ? r.stderr.replace(/^This will [^\n]+\nDo you want to continue\? \[y\/N\] $/, "") : r.stderr
  expect({ args, code: r.code, stderr }).toEqual({ args, code: 0, stderr: "" })
  return r.stdout
}

/** Exit 1 with exactly one line on stderr (containing `message`); with --json, stdout is JSON. */
const fails = (r: CliResult, message: string | RegExp) => {
  expect(r.code).toBe(1)
  expect(lines(r.stderr)).toHaveLength(1)
  expect(r.stderr.trimEnd()).toMatch(message)
  expect(r.stderr).not.toMatch(/\n\s+at /)
}

/** Reports a task state as the agent of `host` would. */
const report = async (jobId: string, host: string, state: "RUNNING" | "PULLING_IMAGE", containerId?: string) => {
  await master.bus.execute(
    {
      _tag: "ReportTaskState",
      jobId: jobId as JobId,
      host: host as HostName,
      state,
      goal: "START",
      throttled: "NO",
      ...(containerId ? { containerId, ports: { http: { internalPort: 80, externalPort: 31000, protocol: "tcp" } } } : {}),
    },
    { now: Date.now(), actor: { kind: "agent", name: "agent-1" } },
  )
}

describe("helios against a real master", () => {
  it("every command: text output, then --json output that parses", async () => {
    expect(await ok(["register", "h1", "agent-1"])).toBe("Registering host h1 with id agent-1: done\n")
    expect(JSON.parse(await ok(["register", "h2", "agent-2", "--json"]))).toMatchObject({ status: "OK", host: "h2" })

    const created = lines(await ok(["-u", "alice", "create", "web:v1", "helios-test/web:latest", "-p", "http=80:8080", "--env", "A=1"], { env: { ...env, GIT_COMMIT: "c0ffee" } }))
    expect(created).toHaveLength(3)
    expect(created[0]).toMatch(/^Creating job: \{"id":"web:v1:[0-9a-f]{40}","image":"helios-test\/web:latest"/)
    expect(created[1]).toBe("Done.")
    const id = created[2]!
    expect(id).toMatch(/^web:v1:[0-9a-f]{40}$/)
    expect(JSON.parse(created[0]!.slice("Creating job: ".length))).toMatchObject({ metadata: { GIT_COMMIT: "c0ffee" }, env: { A: "1" } })

    const quiet = await ok(["create", "-q", "web:v2", "helios-test/web:latest", "--", "sh", "-c", "echo hi"])
    expect(quiet).toMatch(/^web:v2:[0-9a-f]{40}\n$/)
    const createJson = JSON.parse(await ok(["create", "--json", "api:v1", "helios-test/web:latest"]))
    expect(createJson).toMatchObject({ status: "OK", errors: [] })
    expect(createJson.id).toMatch(/^api:v1:/)
    expect(createJson.position).toBeGreaterThan(0)

    // inspect
    const inspect = await ok(["inspect", "web:v1"])
    expect(inspect).toContain(`Id: ${id}\n`)
    expect(inspect).toContain("Creating user: alice\n")
    expect(inspect).toContain("Metadata: GIT_COMMIT=c0ffee\n")
    expect(inspect).toContain("Ports: http=80:8080/tcp\n")
    expect(JSON.parse(await ok(["inspect", "--json", "web:v1"]))).toMatchObject({ id, creatingUser: "alice" })

    // deploy, start, stop
    expect(await ok(["deploy", "web:v1", "h1", "h2"])).toBe(`Deploying ${id}|START on [h1, h2]\nh1: done\nh2: done\n`)
    const deployJson = JSON.parse(await ok(["deploy", "--json", "--no-start", "api", "h"+"1"]))
    expect(deployJson).toMatchObject({ job: expect.stringMatching(/^api:v1:/), hosts: { h1: { status: "OK" } } })
    expect(await ok(["stop", "web:v1", "h2"])).toBe(`Stopping ${id} on [h2]\nh2: done\n`)
    expect(JSON.parse(await ok(["start", "--json", "web:v1", "h2"]))).toMatchObject({ job: id, hosts: { h2: { status: "OK" } } })
    expect(JSON.parse(await ok(["stop", "--json", "web:v1", "h2"]))).toMatchObject({ job: id, hosts: { h2: { status: "OK" } } })

    // jobs
    const jobs = lines(await ok(["jobs"]))
    expect(cells(jobs[0]!)).toEqual(["JOB ID", "NAME", "VERSION", "HOSTS", "COMMAND", "ENVIRONMENT"])
    expect(jobs.slice(1).map((l) => cells(l).slice(0, 4))).toEqual([
      [expect.stringMatching(/^api:v1:[0-9a-f]{7}$/), "api", "v1", "1"],
      [id.slice(0, 14), "web", "v1", "2"],
      [expect.stringMatching(/^web:v2:[0-9a-f]{7}$/), "web", "v2", "0"],
    ])
    expect(lines(await ok(["jobs", "-y", "-q"]))).toEqual([expect.stringMatching(/^api:v1:/), id])
    expect(Object.keys(JSON.parse(await ok(["jobs", "--json", "web"])))).toHaveLength(2)
    expect(JSON.parse(await ok(["jobs", "-q", "--json"]))).toHaveLength(3)

    // status, with states reported as an agent would
    const before = master.projection.position
    await report(id, "h1", "PULLING_IMAGE")
    await report(id, "h1", "RUNNING", "0123456789abcdef0123")
    const status = lines(await ok(["status", "--job", "web:v1"]))
    expect(cells(status[0]!)).toEqual(["JOB ID", "HOST", "GOAL", "STATE", "CONTAINER ID", "PORTS"])
    expect(cells(status[1]!)).toEqual([id.slice(0, 14), "h1", "START", "RUNNING", "0123456", "http=80:31000"])
    expect(cells(status[2]!)).toEqual([id.slice(0, 14), "h2", "STOP"])
    expect(lines(await ok(["status", "--host", "h2"])).slice(1).map((l) => cells(l).slice(0, 2))).toEqual([[id.slice(0, 14), "h2"]])
    const statusJson = JSON.parse(await ok(["status", "--json", "-j", id]))
    expect(statusJson[id].taskStatuses.h1).toMatchObject({ state: "RUNNING", containerId: "0123456789abcdef0123" })
    // --at: the status as of a position (before the task reports)
    const past = lines(await ok(["status", "-j", "web:v1", "--at", String(before)]))
    expect(cells(past[1]!)).toEqual([id.slice(0, 14), "h1", "START"])
    expect(JSON.parse(await ok(["status", "--json", "--at", new Date(Date.now() + 60_000).toISOString()]))[id].taskStatuses.h1.state).toBe("RUNNING")

    // hosts (no agent has reported facts: "-")
    const hosts = lines(await ok(["hosts"]))
    expect(cells(hosts[0]!)).toEqual(["HOST", "STATUS", "DEPLOYED", "RUNNING", "CPUS", "MEM (GB)", "LOAD AVG", "MEM USAGE", "OS", "HELIOS", "DOCKER", "LABELS"])
    expect(cells(hosts[1]!)).toEqual(["h1", expect.stringMatching(/^Down \d+ seconds?$/), "2", "1", "-", "-", "-", "-", "-", "-", "-"])
    expect(lines(await ok(["hosts", "-q"]))).toEqual(["h1", "h2"])
    expect(await ok(["hosts", "-q", "--status", "UP"])).toBe("")
    expect(Object.keys(JSON.parse(await ok(["hosts", "--json", "h1"])))).toEqual(["h1"])
    expect(JSON.parse(await ok(["hosts", "-q", "--json"]))).toEqual(["h1", "h2"])

    // watch (in-process: aborted after its first report)
    const abort = new AbortController()
    const watched = await ok(["watch", "web:v1", "--interval", "1"], { signal: abort.signal, onStdout: (out) => out.includes("RUNNING") && abort.abort() })
    expect(lines(watched).slice(0, 2)).toEqual(["Control-C to stop", "JOB                  HOST                           STATE    THROTTLED?"])
    expect(watched).toMatch(new RegExp(`${id.slice(0, 14)}\\s+h1\\s+RUNNING\\s+NO`))
    const abortJson = new AbortController()
    const watchJson = await ok(["watch", "--json", "web:v1", "h1", "--exact"], { signal: abortJson.signal, onStdout: () => abortJson.abort() })
    expect(JSON.parse(watchJson)).toMatchObject({ job: id, hosts: { h1: { state: "RUNNING", throttled: "NO" } } })

    // undeploy (-a needs confirmation), remove
    expect(await ok(["undeploy", "web:v1", "h2"])).toBe(`Undeploying ${id} from [h2]\nh2: done\n`)
    expect(await ok(["undeploy", "-a", "web:v1"], { interactive: true, answer: "y" })).toBe(`Undeploying ${id} from [h1]\nh1: done\n`)
    expect(JSON.parse(await ok(["undeploy", "--json", "-a", "--yes", "api"]))).toMatchObject({ hosts: { h1: { status: "OK" } } })
    expect(await ok(["remove", "web:v1"], { interactive: true, answer: "yes" })).toBe(`Removing job ${id}: done\n`)
    expect(JSON.parse(await ok(["remove", "--json", "--yes", "web:v2"]))).toMatchObject({ status: "OK" })

    // history works after removal: the whole story, oldest first
    const history = lines(await ok(["history", "web:v1"]))
    expect(history[0]).toBe(`History of ${id}:`)
    expect(cells(history[1]!)).toEqual(["TIMESTAMP", "POSITION", "HOST", "ACTOR", "EVENT", "STATE", "THROTTLED", "CONTAINER ID", "DETAIL/ERROR"])
    const story = history.slice(2).map((l) => cells(l).slice(2, 6))
    expect(story).toEqual([
      ["-", "user:alice", "created", "-"],
      ["h1", expect.stringMatching(/^user:/), "deployed", "-"],
      ["h2", expect.stringMatching(/^user:/), "deployed", "-"],
      ["h2", expect.stringMatching(/^user:/), "goal-changed", "-"],
      ["h2", expect.stringMatching(/^user:/), "goal-changed", "-"],
      ["h2", expect.stringMatching(/^user:/), "goal-changed", "-"],
      ["h1", "agent:agent-1", "state", "PULLING_IMAGE"],
      ["h1", "agent:agent-1", "state", "RUNNING"],
      ["h2", expect.stringMatching(/^user:/), "undeployed", "-"],
      ["h1", expect.stringMatching(/^user:/), "undeployed", "-"],
      ["-", expect.stringMatching(/^user:/), "removed", "-"],
    ])
    // --tail N: the last N events only
    const tail = lines(await ok(["history", "web:v1", "--tail", "2"]))
    expect(tail.slice(2).map((l) => cells(l).slice(2, 6))).toEqual(story.slice(-2))
    fails(await helios(["history", "web:v1", "--tail", "0"]), /--tail/)
    const historyJson = JSON.parse(await ok(["history", "--json", id.slice(0, 12)]))
    expect(historyJson.job).toBe(id)
    expect(historyJson.audit.map((a: { type: string }) => a.type)).toEqual([
      "JobCreated", "JobDeployed", "JobDeployed", "DeploymentGoalChanged", "DeploymentGoalChanged", "DeploymentGoalChanged",
      "TaskStateChanged", "TaskStateChanged", "JobUndeployed", "JobUndeployed", "JobRemoved",
    ])

    // events
    const events = lines(await ok(["events", "--job", "web:v1:"]))
    expect(events[0]).toMatch(/#\d+ {2}created {2}web:v1:[0-9a-f]{7} {2}image helios-test\/web:latest {2}by user:alice$/)
    expect(events.at(-1)).toMatch(/removed {2}web:v1:/)
    const eventsJson = JSON.parse(await ok(["events", "--json", "--host", "h2", "--from", "2"]))
    expect(eventsJson.length).toBeGreaterThan(2)
    expect(eventsJson.every((e: { event: { host: string } }) => e.event.host === "h2")).toBe(true)
    // --follow: stays open for live events until Ctrl-C (here: aborted once the awaited event came)
    const stopFollowing = new AbortController()
    const following = helios(["events", "--follow", "--json", "--job", "late:v1"], {
      signal: stopFollowing.signal,
      onStdout: (out) => out.includes("JobCreated") && stopFollowing.abort(),
    })
    await ok(["create", "-q", "late:v1", "helios-test/web:latest"])
    const followResult = await following
    expect(followResult.code).toBe(0)
    expect(JSON.parse(lines(followResult.stdout)[0]!)).toMatchObject({ type: "JobCreated" })

    // deploy --watch: deploys, then watches those hosts until Ctrl-C
    const stopWatching = new AbortController()
    const deployWatch = lines(
      await ok(["deploy", "--watch", "--no-start", "late:v1", "h1"], { signal: stopWatching.signal, onStdout: (out) => / h1 +UNKNOWN/.test(out) && stopWatching.abort() }),
    )
    expect(deployWatch[0]).toMatch(/^Deploying late:v1:[0-9a-f]{40}\|STOP on \[h1\]$/)
    expect(deployWatch.slice(1, 4)).toEqual(["h1: done", "Control-C to stop", "JOB                  HOST                           STATE    THROTTLED?"])
    expect(deployWatch[5]).toMatch(/^late:v1:[0-9a-f]{7} +h1 +UNKNOWN +UNKNOWN$/)

    // masters, version, deregister
    expect(await ok(["masters"])).toBe("m-cli\n")
    expect(JSON.parse(await ok(["masters", "--json"]))).toEqual(["m-cli"])
    expect(lines(await ok(["version"]))).toEqual([expect.stringMatching(/^Client Version: \d+\.\d+\.\d+/), expect.stringMatching(/^Master Version: \d+\.\d+\.\d+/)])
    expect(JSON.parse(await ok(["version", "--json"]))).toMatchObject({ clientVersion: expect.any(String), masterVersion: expect.any(String) })
    expect(await ok(["deregister", "--yes", "h2"])).toBe("Deregistering host h2: done\n")
    expect(JSON.parse(await ok(["deregister", "--json", "h1"], { interactive: true, answer: "y" }))).toMatchObject({ status: "OK", host: "h1" })
  })

  it("create: job files, templates, flags win, local validation names the field", async () => {
    const dir = tempDir("cli-jobfile")
    const file = join(dir, "job.json")
    writeFileSync(file, JSON.stringify({ id: "file:v1", image: "helios-test/web:latest", env: { A: "file", B: "file" }, ports: { http: { internalPort: 80 } } }))
    const id = (await ok(["create", "-q", "-f", file, "--env", "B=flag"])).trim()
    expect(JSON.parse(await ok(["inspect", "--json", id]))).toMatchObject({ env: { A: "file", B: "flag" }, ports: { http: { internalPort: 80, protocol: "tcp" } } })
    const copy = (await ok(["create", "-q", "-t", id, "file:v2", "--env", "C=3"])).trim()
    expect(copy).toMatch(/^file:v2:/)
    expect(JSON.parse(await ok(["inspect", "--json", copy]))).toMatchObject({ image: "helios-test/web:latest", env: { A: "file", B: "flag", C: "3" } })

    fails(await helios(["create", "bad:v1", "helios-test/web:latest", "-p", "http=99999"]), /^invalid job: ports\.http\.internalPort: /)
    fails(await helios(["create", "bad:v1", "Not/An/Image!"]), /^invalid job: image: /)
    fails(await helios(["create", "bad:v1", "helios-test/web:latest", "--http-check", "nope:/x"]), /^invalid job: healthCheck\.port: Health check port 'nope' not defined/)
    fails(await helios(["create", "bad:v1", "helios-test/web:latest", "--expires", "soon"]), /^invalid job: expires: /)
    fails(await helios(["create", "bad", "helios-test/web:latest"]), /^invalid job: id: /)
    fails(await helios(["create", "-f", join(dir, "missing.json")]), /^cannot read job file .*missing\.json: ENOENT/)
    writeFileSync(join(dir, "broken.json"), "{")
    fails(await helios(["create", "-f", join(dir, "broken.json")]), /^job file .*broken\.json is not valid JSON/)
    fails(await helios(["create", "-f", file, "-t", id]), "not both")
    fails(await helios(["create", "helios-test/web:latest"]), /^no image given/)
    const invalidJson = await helios(["create", "--json", "bad:v1", "helios-test/web:latest", "-p", "http=80:1:2"])
    fails(invalidJson, /^Bad port mapping/)
    expect(JSON.parse(invalidJson.stdout)).toMatchObject({ status: "ERROR", error: expect.stringMatching(/^Bad port mapping/) })
    const invalid = await helios(["create", "--json", "bad:v1", "helios-test/web:latest", "--grace-period", "5", "-p", "http=80:8080"])
    fails(invalid, /^invalid job: gracePeriod: /)
    expect(JSON.parse(invalid.stdout)).toMatchObject({ status: "INVALID_JOB_DEFINITION", id: "bad:v1", errors: [expect.stringMatching(/^gracePeriod: /)] })
    // the master's own answer: a duplicate
    const dup = await helios(["create", "--json", "-f", file, "--env", "B=flag"])
    fails(dup, /^JOB_ALREADY_EXISTS \(HTTP 409\): job file:v1:[0-9a-f]{40} already exists$/)
    expect(JSON.parse(dup.stdout)).toMatchObject({ status: "JOB_ALREADY_EXISTS" })
  })

  it("errors: one line on stderr, exit 1, JSON on stdout with --json", async () => {
    await ok(["register", "e-host1", "agent-e"])
    await ok(["register", "e-host2", "agent-e2"])
    const a = (await ok(["create", "-q", "amb:v1", "helios-test/web:latest"])).trim()
    const b = (await ok(["create", "-q", "amb:v1", "helios-test/web:latest", "--env", "X=1"])).trim()
    fails(await helios(["inspect", "nosuchjob"]), /^Unknown job: nosuchjob$/)
    fails(await helios(["inspect", "amb:v1"]), `Ambiguous job reference: amb:v1 (matches: ${[a, b].sort().join(", ")})`)
    fails(await helios(["deploy", a, "nosuchhost"]), /^Unknown host: nosuchhost$/)
    fails(await helios(["deploy", a, "e-host"]), /^Ambiguous host reference: e-host \(matches: e-host1, e-host2\)$/)
    expect(await ok(["deploy", a, "e-host1"])).toContain("e-host1: done")
    // a per-host failure: the host's line on stderr
    const again = await helios(["deploy", a, "e-host1"])
    expect(again.stdout).toBe(`Deploying ${a}|START on [e-host1]\n`)
    fails(again, /^e-host1: failed: JOB_ALREADY_DEPLOYED \(HTTP 409\): job amb:v1:[0-9a-f]+ is already deployed on e-host1$/)
    fails(await helios(["remove", "--yes", a]), /^STILL_IN_USE \(HTTP 409\): job amb:v1:[0-9a-f]+ is still deployed on e-host1$/)
    fails(await helios(["undeploy", "-a", a]), /^refusing to undeploy .* without confirmation: no terminal to ask on; pass --yes$/)
    const declined = await helios(["undeploy", "-a", a], { interactive: true, answer: "n" })
    expect([declined.code, declined.stdout]).toEqual([1, ""])
    expect(declined.stderr).toBe(`This will undeploy ${a} from [e-host1]\nDo you want to continue? [y/N] Aborted.\n`)
    fails(await helios(["remove", b]), /^refusing to remove the job .* without confirmation/)
    fails(await helios(["undeploy", a]), /^no hosts given/)
    fails(await helios(["undeploy", "-a", a, "e-host1"]), "not both")
    fails(await helios(["jobs", "zzz"]), /^job pattern zzz matched no jobs$/)
    fails(await helios(["hosts", "zzz"]), /^host pattern zzz matched no hosts$/)
    fails(await helios(["hosts", "--status", "SIDEWAYS"]), /^--status: expected UP or DOWN/)
    fails(await helios(["hosts", "-s", "bad selector!"]), /^INVALID_SELECTOR \(HTTP 400\): selector: invalid selector/)
    fails(await helios(["status", "--at", "yesterday-ish"]), /^INVALID_AT \(HTTP 400\): at: /)
    fails(await helios(["deregister", "e-host"]), /^Unknown host: e-host \(did you mean: e-host1, e-host2\?\)$/)
    fails(await helios(["register", "h!", "x"]), /^INVALID_HOST \(HTTP 400\)/)
    fails(await helios(["deploy", "--no-such-flag", a, "e-host1"]), /^helios deploy: unknown option --no-such-flag \(see 'helios deploy --help'\)$/)
    fails(await helios(["deploy", a]), /^helios deploy: missing argument HOST/)
    fails(await helios(["frobnicate"]), /^helios: unknown command 'frobnicate'/)
    fails(await helios(["watch", a, "--interval", "0"]), /option --interval: expected an integer from 1 to 2147483/)
    const json = await helios(["--json", "inspect", "nosuchjob"])
    fails(json, /^Unknown job: nosuchjob$/)
    expect(JSON.parse(json.stdout)).toEqual({ status: "JOB_NOT_FOUND", job: "nosuchjob", error: "Unknown job: nosuchjob" })
    const usage = await helios(["jobs", "--json", "--bogus"])
    expect(JSON.parse(usage.stdout)).toMatchObject({ status: "USAGE_ERROR" })
  })

  it("masters: tried in turn; HELIOS_MASTER and ~/.helios/config; unreachable is one line", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`
    // the dead endpoint first: the CLI moves on to the live one
    expect(await ok(["-z", dead, "-z", master.url, "masters"], { env: { HOME: home } })).toBe("m-cli\n")
    expect(await ok(["masters"], { env: { HOME: home, HELIOS_MASTER: `${dead},${master.url}` } })).toBe("m-cli\n")
    const configHome = tempDir("cli-config")
    mkdirSync(join(configHome, ".helios"))
    writeFileSync(join(configHome, ".helios", "config"), JSON.stringify({ masterEndpoints: [master.url] }))
    expect(await ok(["masters"], { env: { HOME: configHome } })).toBe("m-cli\n")
    fails(await helios(["masters"], { env: { HOME: tempDir("cli-nohome") } }), /^no masters specified/)
    fails(await helios(["jobs"], { env: { HOME: home, HELIOS_MASTER: dead } }), new RegExp(`^cannot reach master at ${dead}: connect ECONNREFUSED`))
    const version = await helios(["version"], { env: { HOME: home, HELIOS_MASTER: dead } })
    expect(version.stdout).toMatch(/^Client Version: /)
    fails(version, /^cannot reach master at /)
  })

  it("as a process: bad flags, unknown job, unknown host, unreachable master (exit 1, one line, no stack)", async () => {
    await ok(["register", "p-host", "agent-p"])
    await ok(["create", "-q", "proc:v1", "helios-test/web:latest"])
    const dead = `http://127.0.0.1:${await freePort()}`
    const results = await Promise.all([
      spawnCli(["create", "--bogus"], env),
      spawnCli(["inspect", "no-such-job"], env),
      spawnCli(["deploy", "proc:v1", "no-such-host"], env),
      spawnCli(["jobs"], { ...env, HELIOS_MASTER: dead }),
      spawnCli(["--json", "status", "-j", "no-such-job"], env),
      spawnCli(["--help"], env),
      spawnCli(["deploy", "--help"], env),
    ])
    const [badFlag, unknownJob, unknownHost, unreachable, jsonError, help, deployHelp] = results
    expect(badFlag!.stderr).toBe("helios create: unknown option --bogus (see 'helios create --help')\n")
    expect(unknownJob!.stderr).toBe("Unknown job: no-such-job\n")
    expect(unknownHost!.stderr).toBe("Unknown host: no-such-host\n")
    expect(unreachable!.stderr).toMatch(new RegExp(`^cannot reach master at ${dead}: connect ECONNREFUSED [^\\n]+\\n$`))
    expect(jsonError!.stderr).toBe("job pattern no-such-job matched no jobs\n")
    for (const r of [badFlag, unknownJob, unknownHost, unreachable, jsonError]) {
      expect(r!.code).toBe(1)
      expect(r!.stdout === "" || r === jsonError).toBe(true)
    }
    expect(JSON.parse(jsonError!.stdout)).toMatchObject({ status: "NO_MATCH" })
    expect(help!.code).toBe(0)
    for (const verb of ["create", "inspect", "jobs", "deploy", "undeploy", "start", "stop", "remove", "status", "history", "events", "watch", "hosts", "register", "deregister", "masters", "version", "solo"])
      expect(help!.stdout).toMatch(new RegExp(`^  ${verb} +\\S`, "m"))
    expect(deployHelp!.code).toBe(0)
    expect(deployHelp!.stdout).toMatch(/^usage: helios deploy JOB HOST\.\.\./)
    expect(deployHelp!.stdout).toContain("--no-start")
  })
})
