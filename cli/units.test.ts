import { describe, expect, it } from "vitest"
import { parseArgs, splitAtVerb, UsageError, type FlagSpec } from "./args.ts"
import { normalizeEndpoint, resolveEndpoints } from "./config.ts"
import { actorText, describeEvent } from "./describe-event.ts"
import { CliError } from "./errors.ts"
import { mergeCreateFlags, parseHealthCheck, parsePairs, parsePortFlag, parsePortFlags, parseVolumeFlag, withoutHash } from "./job-flags.ts"
import { formatTable, formatTimestamp, humanDuration } from "./output.ts"
import { pickHost, pickJob } from "./resolve.ts"
import { hostRow, HOST_COLUMNS } from "./commands/hosts.ts"
import { jobsTable } from "./commands/jobs.ts"
import { statusRows } from "./commands/status.ts"
import { historyRows } from "./commands/history.ts"
import { eventLine } from "./commands/events.ts"
import { aJob } from "../test/fixtures.ts"
import type { AuditJson, EventJson, HostStatusJson, JobStatusJson } from "./wire.ts"

const H1 = "a".repeat(40)
const H2 = "b".repeat(40)

describe("port flag parser (-p name=[ip:]internal[:external][/proto])", () => {
  it("parses every form", () => {
    expect(parsePortFlag("http=80")).toEqual(["http", { internalPort: 80, protocol: "tcp" }])
    expect(parsePortFlag("http=80:8080")).toEqual(["http", { internalPort: 80, externalPort: 8080, protocol: "tcp" }])
    expect(parsePortFlag("dns=53:5353/udp")).toEqual(["dns", { internalPort: 53, externalPort: 5353, protocol: "udp" }])
    expect(parsePortFlag("dns=53/udp")).toEqual(["dns", { internalPort: 53, protocol: "udp" }])
    expect(parsePortFlag("admin-port_2=127.0.0.1:8081:9000")).toEqual([
      "admin-port_2",
      { internalPort: 8081, externalPort: 9000, protocol: "tcp", ip: "127.0.0.1" },
    ])
  })

  it("rejects malformed specs with a message naming the spec and the expected form", () => {
    for (const bad of ["http", "http=", "=80", "http=eighty", "http=80:", "http=80:90:100", "http 1=80", "http=80/sctp", "http=80/"]) {
      expect(() => parsePortFlag(bad), bad).toThrow(CliError)
      expect(() => parsePortFlag(bad)).toThrow(/Bad port mapping: '.*'.*name=\[ip:\]internal\[:external\]/)
    }
    expect(() => parsePortFlag("http=80/sctp")).toThrow(/protocol must be tcp or udp/)
  })

  it("rejects a name given twice", () => {
    expect(parsePortFlags(["a=1", "b=2:3"])).toEqual({ a: { internalPort: 1, protocol: "tcp" }, b: { internalPort: 2, externalPort: 3, protocol: "tcp" } })
    expect(() => parsePortFlags(["a=1", "a=2"])).toThrow("Duplicate port mapping name: a")
  })
})

describe("other create flags", () => {
  it("K=V pairs: first = splits, later flags win, no key is an error", () => {
    expect(parsePairs(["A=1", "B=x=y", "A=2", "C="], "env")).toEqual({ A: "2", B: "x=y", C: "" })
    expect(() => parsePairs(["NOVALUE"], "environment variable")).toThrow("Bad format for environment variable: 'NOVALUE', expecting KEY=VALUE")
    expect(() => parsePairs(["=v"], "label")).toThrow(CliError)
  })

  it("volumes: [source:]path[:ro|rw]", () => {
    expect(parseVolumeFlag("/data")).toEqual(["/data", ""])
    expect(parseVolumeFlag("/data:ro")).toEqual(["/data:ro", ""])
    expect(parseVolumeFlag("/srv/data:/data")).toEqual(["/data", "/srv/data"])
    expect(parseVolumeFlag("/srv/data:/data:ro")).toEqual(["/data:ro", "/srv/data"])
    expect(parseVolumeFlag("named:/data:rw")).toEqual(["/data:rw", "named"])
    expect(() => parseVolumeFlag("a:b:c:d")).toThrow("Invalid volume")
  })

  it("health checks: at most one", () => {
    expect(parseHealthCheck("http:/healthz", undefined, undefined)).toEqual({ type: "http", port: "http", path: "/healthz" })
    expect(parseHealthCheck(undefined, "admin", undefined)).toEqual({ type: "tcp", port: "admin" })
    expect(parseHealthCheck(undefined, undefined, " cat  /ok ")).toEqual({ type: "exec", command: ["cat", "/ok"] })
    expect(parseHealthCheck(undefined, undefined, undefined)).toBeUndefined()
    expect(() => parseHealthCheck("http:/", "http", undefined)).toThrow("Only one health check")
    expect(() => parseHealthCheck("/healthz", undefined, undefined)).toThrow("Invalid HTTP health check")
  })

  it("merges flags over a job file: scalars replace, maps merge (flags win), GIT_COMMIT becomes metadata", () => {
    const base = {
      id: `web:v0:${H1}`,
      image: "old/image",
      env: { A: "file", B: "file" },
      metadata: { owner: "team" },
      ports: { admin: { internalPort: 9000 } },
      command: ["old"],
    }
    const merged = mergeCreateFlags(
      base,
      {
        id: "web:v1",
        command: ["sh", "-c", "echo hi"],
        env: ["B=flag", "C=flag"],
        metadata: ["owner=me"],
        labels: ["tier=web"],
        ports: ["http=80:8080"],
        volumes: ["/data"],
        addCapabilities: [],
        dropCapabilities: ["NET_RAW"],
        securityOpt: [],
        gracePeriod: "5",
        httpCheck: "http:/",
      },
      { GIT_COMMIT: "abc123" },
    )
    expect(merged).toEqual({
      id: "web:v1",
      image: "old/image",
      command: ["sh", "-c", "echo hi"],
      env: { A: "file", B: "flag", C: "flag" },
      metadata: { owner: "me", GIT_COMMIT: "abc123" },
      labels: { tier: "web" },
      ports: { admin: { internalPort: 9000 }, http: { internalPort: 80, externalPort: 8080, protocol: "tcp" } },
      volumes: { "/data": "" },
      dropCapabilities: ["NET_RAW"],
      gracePeriod: 5,
      healthCheck: { type: "http", port: "http", path: "/" },
    })
    const empty = { command: [], env: [], metadata: [], labels: [], ports: [], volumes: [], addCapabilities: [], dropCapabilities: [], securityOpt: [] }
    expect(() => mergeCreateFlags({}, { ...empty, gracePeriod: "soon" }, {})).toThrow("--grace-period: expected whole seconds")
    expect(withoutHash(`web:v1:${H1}`)).toBe("web:v1")
  })
})

describe("partial job ids", () => {
  const ids = [`web:v1:${H1}`, `web:v10:${H2}`, `api:v1:${H2}`, `db:v2:${H1}`, `db:v2:${H2}`]

  it("picks the one match, or the one whose name:version or full id is exact", () => {
    expect(pickJob("api", ids)).toBe(`api:v1:${H2}`)
    expect(pickJob("web:v10", ids)).toBe(`web:v10:${H2}`)
    expect(pickJob("web:v1", ids)).toBe(`web:v1:${H1}`) // not ambiguous with web:v10
    expect(pickJob(`db:v2:${H2.slice(0, 7)}`, ids)).toBe(`db:v2:${H2}`)
    expect(pickJob(`db:v2:${H1}`, ids)).toBe(`db:v2:${H1}`)
  })

  it("unknown and ambiguous references fail, naming the matches", () => {
    expect(() => pickJob("nope", ids)).toThrow("Unknown job: nope")
    expect(() => pickJob("db:v2", ids)).toThrow(`Ambiguous job reference: db:v2 (matches: db:v2:${H1}, db:v2:${H2})`)
    expect(() => pickJob("web", ids)).toThrow(/^Ambiguous job reference: web \(matches: web:v10:b+, web:v1:a+\)$/)
    try {
      pickJob("db", ids)
    } catch (e) {
      expect((e as CliError).json).toMatchObject({ status: "AMBIGUOUS_JOB_REFERENCE", matches: [`db:v2:${H1}`, `db:v2:${H2}`] })
    }
  })

  it("hosts: exact name, else a unique prefix", () => {
    const hosts = ["web1", "web10", "db1.example.com"]
    expect(pickHost("web1", hosts)).toBe("web1")
    expect(pickHost("db", hosts)).toBe("db1.example.com")
    expect(() => pickHost("web", hosts)).toThrow("Ambiguous host reference: web (matches: web1, web10)")
    expect(() => pickHost("cache", hosts)).toThrow("Unknown host: cache")
  })
})

describe("tables and formats", () => {
  it("pads every column to its widest cell plus 4 spaces, trims line ends", () => {
    expect(formatTable([["A", "BB", "C"], ["xxx", "", "z"], ["y", "w", ""]])).toBe("A      BB    C\nxxx          z\ny      w\n")
    expect(formatTable([])).toBe("")
  })

  it("durations take the largest whole unit", () => {
    expect(humanDuration(0)).toBe("0 seconds")
    expect(humanDuration(1_500)).toBe("1 second")
    expect(humanDuration(59_999)).toBe("59 seconds")
    expect(humanDuration(2 * 3_600_000 + 5)).toBe("2 hours")
    expect(humanDuration(3 * 86_400_000 + 7_200_000)).toBe("3 days")
    expect(humanDuration(-5)).toBe("0 seconds")
  })

  it("timestamps are yyyy-MM-dd HH:mm:ss.SSS", () => {
    expect(formatTimestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 6), true)).toBe("2026-01-02 03:04:05.006")
    expect(formatTimestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 6))).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.006$/)
  })

  it("jobs: JOB ID (short), NAME, VERSION, HOSTS, COMMAND, ENVIRONMENT", () => {
    const job = aJob({ id: "web:v1", command: ["sh", "-c", "x"], env: { A: "1", B: "2" } })
    const text = jobsTable([job], { [job.id]: 2 }, false)
    const [header, row] = text.trimEnd().split("\n")
    expect(header!.split(/\s{2,}/)).toEqual(["JOB ID", "NAME", "VERSION", "HOSTS", "COMMAND", "ENVIRONMENT"])
    expect(row!.split(/\s{2,}/)).toEqual([job.id.slice(0, "web:v1:".length + 7), "web", "v1", "2", "sh -c x", "A=1 B=2"])
    expect(jobsTable([job], {}, true)).toContain(job.id)
  })

  it("status: goal, state with throttle, 7-char container id, ports name=internal:external", () => {
    const job = aJob({})
    const status = {
      job,
      deployments: { h1: { jobId: job.id, goal: "START" }, h2: { jobId: job.id, goal: "STOP" } },
      taskStatuses: {
        h1: { state: "RUNNING", goal: "START", throttled: "NO", containerId: "0123456789abcdef", ports: { http: { internalPort: 80, externalPort: 31000, protocol: "tcp" } } },
        h3: { state: "FAILED", goal: "START", throttled: "FLAPPING", containerId: null, ports: {} },
      },
    } as unknown as JobStatusJson
    const short = job.id.slice(0, 14)
    expect(statusRows(job.id, status, () => true, false)).toEqual([
      [short, "h1", "START", "RUNNING", "0123456", "http=80:31000"],
      [short, "h2", "STOP", "", "", ""],
      [short, "h3", "START", "FAILED (FLAPPING)", "", ""],
    ])
    expect(statusRows(job.id, status, (h) => h === "h1", true)[0]).toEqual([job.id, "h1", "START", "RUNNING", "0123456789abcdef", "http=80:31000"])
  })

  it("hosts: '-' for every fact the agent has not reported", () => {
    const now = Date.UTC(2026, 0, 4)
    const bare = { status: "UP", statusSince: now - 3 * 86_400_000, jobs: {}, statuses: {}, hostInfo: null, agentInfo: null, labels: {} } as unknown as HostStatusJson
    expect(HOST_COLUMNS).toEqual(["HOST", "STATUS", "DEPLOYED", "RUNNING", "CPUS", "MEM (GB)", "LOAD AVG", "MEM USAGE", "OS", "HELIOS", "DOCKER", "LABELS"])
    expect(hostRow("h1", bare, now)).toEqual(["h1", "Up 3 days", "0", "0", "-", "-", "-", "-", "-", "-", "-", ""])
    const full = {
      status: "DOWN",
      statusSince: now - 2 * 3_600_000,
      jobs: { a: {}, b: {} },
      statuses: { a: { state: "RUNNING" }, b: { state: "STOPPED" } },
      hostInfo: {
        cpus: 8,
        memoryTotalBytes: 16 * 2 ** 30,
        memoryFreeBytes: 4 * 2 ** 30,
        loadAvg: [0.5, 0.25, 0.1],
        osName: "Linux",
        osVersion: "6.1",
        dockerVersion: { version: "20.10.24", apiVersion: "1.41" },
      },
      agentInfo: { version: "0.1.0" },
      labels: { role: "web", zone: "a" },
    } as unknown as HostStatusJson
    expect(hostRow("h2", full, now)).toEqual(["h2", "Down 2 hours", "2", "1", "8", "16.0", "0.50", "0.75", "Linux 6.1", "0.1.0", "20.10.24 (1.41)", "role=web, zone=a"])
  })

  it("history: one row per audit entry, who did what where", () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 6)
    const id = `web:v1:${H1}`
    const agent = `agent:${"c".repeat(40)}`
    const audit = [
      { position: 3, timestamp: at, actor: "user:alice", type: "JobCreated", host: null, job: id },
      { position: 4, timestamp: at, actor: "user:bob", type: "JobDeployed", host: "h1", job: id, goal: "START" },
      { position: 5, timestamp: at, actor: agent, type: "TaskStateChanged", host: "h1", jobId: id, state: "RUNNING", goal: "START", throttled: "NO", containerId: "0123456789ab", ports: { http: { internalPort: 80, externalPort: 8080 } } },
      { position: 6, timestamp: at, actor: agent, type: "TaskStateChanged", host: "h1", jobId: id, state: "FAILED", goal: "START", throttled: "IMAGE_MISSING", error: "no such image" },
      { position: 7, timestamp: at, actor: "user:bob", type: "DeploymentGoalChanged", host: "h1", jobId: id, goal: "STOP" },
      { position: 8, timestamp: at, actor: "user:carol", type: "JobUndeployed", host: "h1", jobId: id },
      { position: 9, timestamp: at, actor: agent, type: "TaskStateChanged", host: "h1", jobId: id, state: "STOPPED", goal: "UNDEPLOY", throttled: "NO", containerId: "0123456789ab", ports: { http: { internalPort: 80, externalPort: 8080 } } },
      { position: 10, timestamp: at, actor: "user:carol", type: "JobRemoved", host: null, jobId: id },
    ] as unknown as AuditJson[]
    const rows = historyRows(audit, false).map((r) => r.slice(1))
    expect(rows).toEqual([
      ["3", "-", "user:alice", "created", "-", "-", "-", ""],
      ["4", "h1", "user:bob", "deployed", "-", "-", "-", "goal START"],
      ["5", "h1", "agent:cccccccccccc", "state", "RUNNING", "NO", "0123456", "http=80:8080"],
      ["6", "h1", "agent:cccccccccccc", "state", "FAILED", "IMAGE_MISSING", "-", "no such image"],
      ["7", "h1", "user:bob", "goal-changed", "-", "-", "-", "goal STOP"],
      ["8", "h1", "user:carol", "undeployed", "-", "-", "-", ""],
      ["9", "h1", "agent:cccccccccccc", "state", "STOPPED", "NO", "0123456", "goal UNDEPLOY"],
      ["10", "-", "user:carol", "removed", "-", "-", "-", ""],
    ])
    expect(actorText("agent:pinned-id")).toBe("agent:pinned-id")
  })

  it("events: one line per event", () => {
    const job = aJob({})
    const e = { position: 12, timestamp: Date.UTC(2026, 0, 2), actor: "user:alice", commandId: null, type: "JobCreated", event: { _tag: "JobCreated", job } } as unknown as EventJson
    expect(eventLine(e)).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d [\\d:.]+  #12  created  ${job.id.slice(0, 14)}  image helios-test/web:latest  by user:alice$`))
    expect(describeEvent("HostWentUp", { host: "h1", agentId: "x" })).toMatchObject({ what: "host-up", host: "h1", detail: "agent x" })
  })
})

describe("argument parser", () => {
  const flags: FlagSpec[] = [
    { name: "port", short: "p", type: "string", multiple: true, help: "" },
    { name: "quiet", short: "q", type: "boolean", help: "" },
    { name: "all", short: "a", type: "boolean", help: "" },
    { name: "file", short: "f", type: "string", help: "" },
  ]
  const pos = [{ name: "JOB", required: true }, { name: "HOST", variadic: true }]

  it("long, short, attached values, clusters, repeats, -- rest", () => {
    const a = parseArgs(["-qa", "j", "--port", "a=1", "-pb=2", "-p=c=3", "--file=x.json", "h1", "h2", "--", "-x", "y"], flags, pos, { command: "t", allowRest: true })
    expect(a.flags).toEqual({ quiet: true, all: true, port: ["a=1", "b=2", "c=3"], file: "x.json" })
    expect(a.positionals).toEqual({ JOB: "j", HOST: ["h1", "h2"] })
    expect(a.rest).toEqual(["-x", "y"])
  })

  it("errors are one line naming the command", () => {
    const bad = (argv: string[], message: string) => {
      expect(() => parseArgs(argv, flags, pos, { command: "deploy" })).toThrow(UsageError)
      expect(() => parseArgs(argv, flags, pos, { command: "deploy" })).toThrow(`helios deploy: ${message} (see 'helios deploy --help')`)
    }
    bad(["--nope", "j"], "unknown option --nope")
    bad(["-x", "j"], "unknown option -x")
    bad(["j", "--file"], "option -f/--file needs a value")
    bad(["--quiet=yes", "j"], "option --quiet takes no value")
    bad([], "missing argument JOB")
    bad(["j", "--", "x"], "unexpected argument after --: x")
    expect(() => parseArgs(["a", "b"], flags, [{ name: "A" }], { command: "x" })).toThrow("unexpected argument: b")
  })

  it("global flags before the verb", () => {
    const globals: FlagSpec[] = [{ name: "master", short: "z", type: "string", help: "" }, { name: "json", type: "boolean", help: "" }]
    expect(splitAtVerb(["-z", "http://m", "--json", "jobs", "-q"], globals)).toEqual({ before: ["-z", "http://m", "--json"], verb: "jobs", after: ["-q"] })
    expect(splitAtVerb(["--json"], globals)).toEqual({ before: ["--json"], verb: undefined, after: [] })
  })
})

describe("master endpoints", () => {
  it("normalizes host:port and URLs", () => {
    expect(normalizeEndpoint("127.0.0.1:5801", "-z")).toBe("http://127.0.0.1:5801")
    expect(normalizeEndpoint("master.example.com", "-z")).toBe("http://master.example.com:5801")
    expect(normalizeEndpoint("https://m.example.com/", "-z")).toBe("https://m.example.com")
    expect(() => normalizeEndpoint("domain://prod", "HELIOS_MASTER")).toThrow("not supported")
    expect(() => normalizeEndpoint("ftp://x", "-z")).toThrow("not an http(s) URL")
    expect(() => normalizeEndpoint("http://m:1/path", "-z")).toThrow("has no path")
  })

  it("flags, then HELIOS_MASTER, then ~/.helios/config; none is an error", () => {
    const home = { HOME: "/nonexistent-helios-home" }
    expect(resolveEndpoints(["a:1", "b:2,a:1"], { ...home, HELIOS_MASTER: "c:3" })).toEqual(["http://a:1", "http://b:2"])
    expect(resolveEndpoints([], { ...home, HELIOS_MASTER: "c:3,d:4" })).toEqual(["http://c:3", "http://d:4"])
    expect(() => resolveEndpoints([], home)).toThrow(/^no masters specified/)
  })
})
