/**
 * The deployment-group verbs' parsing and formatting, fed with response objects of the shapes the
 * master answers (no master here: cli/deployment-groups-cli.test.ts runs them against one).
 */
import { describe, expect, it } from "vitest"
import type { EventType } from "../core/events.ts"
import { parseArgs } from "./args.ts"
import { historyRows } from "./commands/history.ts"
import rollingUpdateCommand, {
  awaitRollout,
  durationText,
  outcomeText,
  progressLines,
  rolloutOptionsFromArgs,
  rolloutStartedLine,
  type WaitClock,
} from "./commands/rolling-update.ts"
import { watchSeparator } from "./commands/watch-deployment-group.ts"
import { groupFromArgs, groupStatusText, inspectGroupLines } from "./deployment-group.ts"
import { describeEvent } from "./describe-event.ts"
import { CliError } from "./errors.ts"
import { GLOBAL_FLAGS } from "./main.ts"
import type { AuditJson, DeploymentGroupJson, DeploymentGroupStatusJson } from "./wire.ts"
import { freePort, lines, runInProcess } from "../test/cli-helpers.ts"

const V1 = `web:v1:${"a".repeat(40)}`
const V2 = `web:v2:${"b".repeat(40)}`
const OPTIONS = { timeout: 300, parallelism: 2, migrate: false, overlap: true, token: "", ignoreFailures: false }

const group = (extra: Partial<DeploymentGroupJson> = {}): DeploymentGroupJson => ({
  name: "web-group",
  hostSelectors: [
    { label: "role", operator: "EQUALS", operand: "web" },
    { label: "zone", operator: "IN", operand: ["a", "b"] },
  ],
  ...extra,
})

const status = (s: Partial<DeploymentGroupStatusJson> = {}): DeploymentGroupStatusJson => ({
  deploymentGroup: group({ jobId: V2, rolloutOptions: OPTIONS, rollingUpdateReason: "MANUAL" }),
  status: "ROLLING_OUT",
  error: null,
  hostStatuses: [],
  deploymentGroupStatus: { state: "ROLLING_OUT" },
  ...s,
})

describe("create-deployment-group arguments", () => {
  it("parses each selector form into Helios's JSON", () => {
    expect(groupFromArgs("g1", ["role=web", "env!=prod", "zone in (a, b)", "rack notin (r1)"])).toEqual({
      name: "g1",
      hostSelectors: [
        { label: "role", operator: "EQUALS", operand: "web" },
        { label: "env", operator: "NOT_EQUALS", operand: "prod" },
        { label: "zone", operator: "IN", operand: ["a", "b"] },
        { label: "rack", operator: "NOT_IN", operand: ["r1"] },
      ],
    })
  })

  it("refuses a bad selector or name, naming it", () => {
    expect(() => groupFromArgs("g1", ["role=web", "role~web"])).toThrow('invalid selector "role~web": expected label=value')
    expect(() => groupFromArgs("g1", ["role=web", "zone in a,b"])).toThrow(CliError)
    expect(() => groupFromArgs("no/slash", ["role=web"])).toThrow(/^invalid deployment group: name: Expected a deployment group name/)
    try {
      groupFromArgs("g1", ["bad selector!"])
    } catch (e) {
      expect((e as CliError).json).toEqual({ status: "INVALID_SELECTOR", selector: "bad selector!" })
    }
  })
})

describe("inspect-deployment-group and deployment-group-status layouts", () => {
  it("inspect: Name, Host selectors, Job, reason, rollout options (Token only when set)", () => {
    expect(inspectGroupLines(group())).toEqual(["Name: web-group", "Host selectors:", "  role = web", "  zone in [a, b]", "Job: -"])
    expect(inspectGroupLines(group({ jobId: V1, rollingUpdateReason: "HOSTS_CHANGED", rolloutOptions: { ...OPTIONS, token: "s3cret" } }))).toEqual([
      "Name: web-group",
      "Host selectors:",
      "  role = web",
      "  zone in [a, b]",
      `Job: ${V1}`,
      "Rolling update reason: HOSTS_CHANGED",
      "Rollout options:",
      "  Migrate: false",
      "  Overlap: true",
      "  Parallelism: 2",
      "  Timeout: 300",
      "  Token: s3cret",
      "  Ignore failures: false",
    ])
    // nulls as Helios's JSON writes them
    expect(inspectGroupLines(group({ jobId: null, rolloutOptions: null, rollingUpdateReason: null }))).toEqual(inspectGroupLines(group()))
  })

  it("status: header lines, Error when set, then HOST UP-TO-DATE JOB STATE with X for the group's job", () => {
    const s = status({
      status: "FAILED",
      error: "h3: IMAGE_MISSING",
      hostStatuses: [
        { host: "h2", jobId: V2, state: "RUNNING" },
        { host: "h10", jobId: V1, state: "RUNNING" },
        { host: "h3", jobId: null, state: null },
      ],
    })
    expect(lines(groupStatusText("web-group", s, false))).toEqual([
      "Name: web-group",
      "Job Id: web:v2:bbbbbbb",
      "Status: FAILED",
      "Host selectors:",
      "  role = web",
      "  zone in [a, b]",
      "Error: h3: IMAGE_MISSING",
      "",
      "HOST    UP-TO-DATE    JOB               STATE",
      "h2      X             web:v2:bbbbbbb    RUNNING",
      "h10                   web:v1:aaaaaaa    RUNNING",
      "h3                    -                 -",
    ])
    const full = lines(groupStatusText("web-group", s, true))
    expect(full[1]).toBe(`Job Id: ${V2}`)
    expect(full.at(-3)).toMatch(new RegExp(`^h2 +X +${V2} +RUNNING$`))
  })

  it("status of a group never rolled out: no job, IDLE, no Error line, an empty table", () => {
    const idle = status({ deploymentGroup: group(), status: "IDLE", deploymentGroupStatus: null })
    expect(lines(groupStatusText("web-group", idle, false))).toEqual([
      "Name: web-group",
      "Job Id: -",
      "Status: IDLE",
      "Host selectors:",
      "  role = web",
      "  zone in [a, b]",
      "",
      "HOST    UP-TO-DATE    JOB    STATE",
    ])
  })

  it("watch: an 80-column separator ending in the UTC time", () => {
    const line = watchSeparator(Date.UTC(2026, 0, 2, 3, 4, 5))
    expect(line).toBe(`${"-".repeat(54)} [2026-01-02 03:04:05 UTC]`)
    expect(line).toHaveLength(80)
  })
})

describe("rolling-update flags", () => {
  const parse = (argv: string[]) =>
    parseArgs(argv, [...rollingUpdateCommand.flags, ...GLOBAL_FLAGS], rollingUpdateCommand.positionals, { command: "rolling-update" })

  it("sends only the options given", () => {
    expect(rolloutOptionsFromArgs(parse(["web:v1", "g"]))).toEqual({})
    expect(rolloutOptionsFromArgs(parse(["web:v1", "g", "-t", "60", "--par=3", "--migrate", "--overlap", "--token", "t", "--ignore-failures"]))).toEqual({
      timeout: 60,
      parallelism: 3,
      migrate: true,
      overlap: true,
      token: "t",
      ignoreFailures: true,
    })
  })

  it("refuses bad numbers by the API's schema, naming the flag", () => {
    const fails = (argv: string[]) => () => rolloutOptionsFromArgs(parse(["web:v1", "g", ...argv]))
    expect(fails(["--par", "0"])).toThrow("helios rolling-update: option --par: Expected an integer from 1 to 2147483647, got '0' (see 'helios rolling-update --help')")
    expect(fails(["-p", "-2"])).toThrow(/option --par: Expected an integer from 1 to 2147483647, got '-2'/)
    expect(fails(["-p", "3000000000"])).toThrow(/option --par: Expected an integer from 1 to/)
    expect(fails(["--timeout", "0"])).toThrow(/option --timeout: Expected an integer from 1 to \d+, got '0'/)
    expect(fails(["-t", "ten"])).toThrow("helios rolling-update: option --timeout: expected an integer, got 'ten'")
    expect(fails(["--par", "1.5"])).toThrow("option --par: expected an integer, got '1.5'")
  })

  it("the started line, the outcome and the duration, as Helios prints them", () => {
    expect(rolloutStartedLine("web-group", V2, OPTIONS, false)).toBe(
      "Rolling update started: web-group -> web:v2:bbbbbbb (parallelism=2, timeout=300, overlap=true, token=, ignoreFailures=false, migrate=false)",
    )
    expect(rolloutStartedLine("g", V2, OPTIONS, true)).toMatch(/^Rolling update \(async\) started: g -> /)
    expect(outcomeText({ status: "DONE" })).toBe("Done.")
    expect(outcomeText({ status: "FAILED", error: "h1: boom" })).toBe("Failed: h1: boom")
    expect(outcomeText({ status: "TIMEOUT" })).toBe("Timed out! (rolling-update still in progress)")
    expect(durationText(3_456)).toBe("Duration: 3.46 s")
  })
})

describe("rolling-update waiting", () => {
  it("progress: each host once, when it runs the rollout's job, counted against the group's UP hosts", () => {
    const reported = new Set<string>()
    const at = (states: Array<[string, string | null, "RUNNING" | "PULLING_IMAGE" | null]>) =>
      status({ hostStatuses: states.map(([host, jobId, state]) => ({ host, jobId, state })) })
    expect(progressLines(at([["h1", V2, "PULLING_IMAGE"], ["h2", V1, "RUNNING"], ["h3", null, null]]), V2, reported)).toEqual([])
    expect(progressLines(at([["h1", V2, "RUNNING"], ["h2", V1, "RUNNING"], ["h3", null, null]]), V2, reported)).toEqual(["h1 -> RUNNING (1/3)"])
    expect(progressLines(at([["h1", V2, "RUNNING"], ["h2", V2, "RUNNING"], ["h3", V2, "RUNNING"]]), V2, reported)).toEqual([
      "h2 -> RUNNING (2/3)",
      "h3 -> RUNNING (3/3)",
    ])
  })

  /** A clock that moves only when the wait sleeps; the statuses are answered in turn (the last one repeats). */
  const scripted = (answers: ReadonlyArray<DeploymentGroupStatusJson | Error>) => {
    let now = 1_000_000
    let i = 0
    const clock: WaitClock = {
      now: () => now,
      sleep: async (ms) => {
        now += ms
      },
    }
    const progress: string[] = []
    const options = {
      fetchStatus: async () => {
        const a = answers[Math.min(i++, answers.length - 1)]!
        if (a instanceof Error) throw a
        return a
      },
      jobId: V2,
      startedAt: now,
      rolloutTimeoutMs: 60_000,
      pollIntervalMs: 1000,
      clock,
      signal: new AbortController().signal,
      onProgress: (line: string) => progress.push(line),
    }
    return { options, progress, polls: () => i, elapsed: () => now - 1_000_000 }
  }
  const host = (h: string, jobId: string | null, state: "RUNNING" | "STARTING" | null) => ({ host: h, jobId, state })

  it("DONE when the group is ACTIVE, with each host's progress on the way", async () => {
    const s = scripted([
      status({ hostStatuses: [host("h1", V1, "RUNNING"), host("h2", V1, "RUNNING")] }),
      status({ hostStatuses: [host("h1", V2, "RUNNING"), host("h2", V1, "RUNNING")] }),
      status({ status: "ACTIVE", hostStatuses: [host("h1", V2, "RUNNING"), host("h2", V2, "RUNNING")] }),
    ])
    expect(await awaitRollout(s.options)).toEqual({ status: "DONE" })
    expect(s.progress).toEqual(["h1 -> RUNNING (1/2)", "h2 -> RUNNING (2/2)"])
    expect([s.polls(), s.elapsed()]).toEqual([3, 2000])
  })

  it("FAILED with the group's error; FAILED when the group's job changes underneath", async () => {
    const failed = scripted([status(), status({ status: "FAILED", error: "h2: TIMED_OUT_WAITING_FOR_JOB_TO_REACH_RUNNING" })])
    expect(await awaitRollout(failed.options)).toEqual({ status: "FAILED", error: "h2: TIMED_OUT_WAITING_FOR_JOB_TO_REACH_RUNNING" })
    const replaced = scripted([status(), status({ deploymentGroup: group({ jobId: V1 }) })])
    expect(await awaitRollout(replaced.options)).toEqual({ status: "FAILED", error: "Deployment-group job id changed during rolling-update" })
    const gone = scripted([status(), new CliError("Unknown deployment group: web-group")])
    expect(await awaitRollout(gone.options)).toEqual({ status: "FAILED", error: "Failed to fetch deployment-group status: Unknown deployment group: web-group" })
  })

  it("FAILED, not DONE, when the group is IDLE or in a status this helios does not know (a newer master's): a script is not told it succeeded", async () => {
    for (const unknown of ["IDLE", "PAUSED"]) {
      const s = scripted([status(), status({ status: unknown as never })])
      expect(await awaitRollout(s.options)).toEqual({ status: "FAILED", error: expect.stringContaining(`status is ${unknown}`) })
    }
  })

  it("TIMEOUT once the rollout timeout has passed while still ROLLING_OUT (checked after each poll)", async () => {
    const s = scripted([status()])
    expect(await awaitRollout(s.options)).toEqual({ status: "TIMEOUT" })
    expect(s.elapsed()).toBe(61_000)
    expect(s.polls()).toBe(62)
  })

  it("INTERRUPTED on Ctrl-C: stops polling at once", async () => {
    const s = scripted([status()])
    const abort = new AbortController()
    let sleeps = 0
    const clock: WaitClock = { now: () => 0, sleep: async () => void (++sleeps === 3 && abort.abort()) }
    expect(await awaitRollout({ ...s.options, clock, startedAt: 0, signal: abort.signal })).toEqual({ status: "INTERRUPTED" })
    expect(s.polls()).toBe(3)
  })
})

describe("history and events show every rollout event", () => {
  /** One sample per event type (a Record over every type: a new one must be added here). */
  const SAMPLES: Readonly<Record<EventType, Record<string, unknown>>> = {
    JobCreated: { job: { id: V2, image: "web:2" } },
    JobRemoved: { jobId: V2 },
    JobDeployed: { job: V2, host: "h1", goal: "START", deploymentGroup: "web-group" },
    DeploymentGoalChanged: { jobId: V2, host: "h1", goal: "STOP" },
    JobUndeployed: { jobId: V1, host: "h1" },
    HostRegistered: { host: "h1", agentId: "x" },
    HostDeregistered: { host: "h1" },
    HostWentUp: { host: "h1", agentId: "x" },
    HostWentDown: { host: "h1" },
    TaskStateChanged: { jobId: V2, host: "h1", state: "RUNNING", goal: "START", throttled: "NO" },
    DeploymentGroupCreated: { group: group() },
    DeploymentGroupRemoved: { group: "web-group" },
    RolloutStarted: { group: "web-group", jobId: V2, reason: "MANUAL", options: OPTIONS, hosts: ["h1"], steps: [{ host: "h1", kind: "UNDEPLOY_OLD_JOBS" }, { host: "h1", kind: "DEPLOY_NEW_JOB" }, { host: "h1", kind: "AWAIT_RUNNING" }] },
    RolloutStepStarted: { group: "web-group", jobId: V2, step: 1, host: "h1", kind: "DEPLOY_NEW_JOB" },
    RolloutStepSucceeded: { group: "web-group", jobId: V2, step: 1, host: "h1", kind: "DEPLOY_NEW_JOB" },
    RolloutStepSkipped: { group: "web-group", jobId: V2, step: 2, host: "h1", kind: "AWAIT_RUNNING", reason: "step 2 on h1 failed" },
    RolloutStepFailed: {
      group: "web-group",
      jobId: V2,
      step: 2,
      host: "h1",
      kind: "AWAIT_RUNNING",
      error: "IMAGE_MISSING",
      message: "image web:2 not found",
      evidence: { state: "FAILED", throttled: "IMAGE_MISSING", position: 41, containerError: "no such image" },
    },
    RolloutFinished: { group: "web-group", jobId: V2, status: "FAILED", error: "h1: image web:2 not found" },
    RolloutStopped: { group: "web-group", jobId: V2 },
    RolloutAwaitingPromotion: { group: "web-group", jobId: V2, step: 3 },
    RolloutPromoted: { group: "web-group", jobId: V2 },
  }

  it("every event type has a name and its detail", () => {
    const described = Object.fromEntries(Object.entries(SAMPLES).map(([type, fields]) => [type, describeEvent(type, fields)]))
    for (const [type, d] of Object.entries(described)) expect(d.what, type).not.toBe(type)
    expect(new Set(Object.values(described).map((d) => d.what)).size).toBe(Object.keys(SAMPLES).length)
    expect(Object.fromEntries(Object.entries(described).map(([t, d]) => [t, d.detail]))).toMatchObject({
      JobDeployed: "goal START, by group web-group",
      RolloutStarted: "rollout of web-group started (MANUAL, 3 steps)",
      RolloutStepStarted: "web-group step 2 DEPLOY_NEW_JOB started",
      RolloutStepSucceeded: "web-group step 2 DEPLOY_NEW_JOB succeeded",
      RolloutStepSkipped: "web-group step 3 AWAIT_RUNNING skipped: step 2 on h1 failed",
      RolloutStepFailed: "web-group step 3 AWAIT_RUNNING failed: IMAGE_MISSING: image web:2 not found [state FAILED (IMAGE_MISSING) at #41; container error: no such image]",
      RolloutFinished: "rollout of web-group finished FAILED: h1: image web:2 not found",
      RolloutStopped: "rollout of web-group stopped",
      RolloutAwaitingPromotion: "rollout of web-group awaits promotion before step 4",
      RolloutPromoted: "rollout of web-group promoted",
      DeploymentGroupCreated: "group web-group",
    })
    expect(describeEvent("RolloutFinished", { group: "g", jobId: V2, status: "ACTIVE" }).detail).toBe("rollout of g finished ACTIVE")
    expect(describeEvent("SomethingNew", { host: "h1" })).toMatchObject({ what: "SomethingNew", host: "h1", detail: "" })
  })

  it("history rows: the step's host in HOST, the step in DETAIL", () => {
    const at = Date.UTC(2026, 0, 2)
    const audit = (["RolloutStarted", "RolloutStepStarted", "RolloutStepFailed", "RolloutFinished"] as const).map((type, i) => {
      const { host, ...rest } = SAMPLES[type] as { host?: string }
      return { position: 10 + i, timestamp: at, actor: "master:m1", type, host: host ?? null, ...rest }
    }) as unknown as AuditJson[]
    expect(historyRows(audit, false).map((r) => [r[2], r[4], r[8]])).toEqual([
      ["-", "rollout-started", "rollout of web-group started (MANUAL, 3 steps)"],
      ["h1", "step-started", "web-group step 2 DEPLOY_NEW_JOB started"],
      ["h1", "step-failed", expect.stringMatching(/^web-group step 3 AWAIT_RUNNING failed: IMAGE_MISSING: /)],
      ["-", "rollout-finished", "rollout of web-group finished FAILED: h1: image web:2 not found"],
    ])
  })
})

describe("the verbs without a master", () => {
  it("help lists every deployment-group verb; each has its own help", async () => {
    const help = await runInProcess(["--help"])
    for (const verb of ["create-deployment-group", "list-deployment-groups", "inspect-deployment-group", "deployment-group-status", "watch-deployment-group", "rolling-update", "stop-deployment-group", "remove-deployment-group"])
      expect(help.stdout).toMatch(new RegExp(`^  ${verb} +\\S`, "m"))
    const ru = await runInProcess(["rolling-update", "--help"])
    expect(ru.stdout).toMatch(/^usage: helios rolling-update JOB GROUP/)
    for (const flag of ["-t, --timeout S", "-p, --par N", "--async", "-T, --rollout-timeout MIN", "--migrate", "--overlap", "--token TOKEN", "--ignore-failures"])
      expect(ru.stdout).toContain(flag)
  })

  it("bad input is refused before anything is sent: one line naming the flag or selector, exit 1", async () => {
    // A master that cannot be reached: had anything been sent, the error would say so.
    const env = { HELIOS_MASTER: `http://127.0.0.1:${await freePort()}` }
    const cases: Array<[string[], string]> = [
      [["rolling-update", "web:v1", "g", "--par", "0"], "helios rolling-update: option --par: Expected an integer from 1 to 2147483647, got '0'"],
      [["rolling-update", "web:v1", "g", "--timeout", "-5"], "helios rolling-update: option --timeout: Expected an integer from 1 to"],
      [["rolling-update", "web:v1", "g", "-T", "0"], "helios rolling-update: option --rollout-timeout: expected an integer from 1 to 35791, got '0'"],
      // Past the longest timer (2^31-1 ms) a wait would fire at once, again and again.
      [["rolling-update", "web:v1", "g", "-T", "35792"], "helios rolling-update: option --rollout-timeout: expected an integer from 1 to 35791, got '35792'"],
      [["rolling-update", "web:v1", "g", "--parallel", "2"], "helios rolling-update: unknown option --parallel"],
      [["rolling-update", "web:v1"], "helios rolling-update: missing argument GROUP"],
      [["create-deployment-group", "g", "role=web", "zone in a"], 'invalid selector "zone in a"'],
      [["create-deployment-group", "g"], "helios create-deployment-group: missing argument SELECTOR"],
      [["create-deployment-group", "g/h", "role=web"], "invalid deployment group: name: "],
      [["watch-deployment-group", "g", "--interval", "0"], "option --interval: expected an integer from 1 to 2147483"],
      [["watch-deployment-group", "g", "--interval", "3000000"], "option --interval: expected an integer from 1 to 2147483, got '3000000'"],
      [["deployment-group-status", "g", "--bogus"], "helios deployment-group-status: unknown option --bogus"],
    ]
    for (const [args, message] of cases) {
      const r = await runInProcess(args, { env })
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 1, stdout: "" })
      expect(lines(r.stderr)).toHaveLength(1)
      expect(r.stderr).toContain(message)
    }
    const json = await runInProcess(["--json", "rolling-update", "web:v1", "g", "-p", "0"], { env })
    expect(JSON.parse(json.stdout)).toMatchObject({ status: "USAGE_ERROR", error: expect.stringContaining("--par") })
    const badSelector = await runInProcess(["--json", "create-deployment-group", "g", "a=b", "!"], { env })
    expect(JSON.parse(badSelector.stdout)).toMatchObject({ status: "INVALID_SELECTOR", selector: "!" })
  })
})
