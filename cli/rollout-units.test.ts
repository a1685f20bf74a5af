/**
 * The rollout verbs' parsing and text (rollout history, rollout replay, rolling-update's canary,
 * revert, plan and check-position, rollback, promote), fed with response objects of the shapes the
 * master answers; no master here (cli/rollout-undo-cli.test.ts runs them against one).
 */
import { describe, expect, it } from "vitest"
import { parseArgs } from "./args.ts"
import type { HeliosClient } from "./client.ts"
import { makeContext } from "./command.ts"
import rollbackCommand, { rollbackStartedLine, toRolloutFromArgs } from "./commands/rollback.ts"
import rollingUpdateCommand, {
  afterJobChanged,
  awaitRollout,
  checkPositionFromArgs,
  outcomeText,
  revertText,
  rolloutOptionsFromArgs,
  rolloutStartedLine,
  type WaitClock,
} from "./commands/rolling-update.ts"
import replayCommand, { fleetLines, statusesOnHosts } from "./commands/rollout-replay.ts"
import { CliError } from "./errors.ts"
import { GLOBAL_FLAGS } from "./main.ts"
import { formatTimestamp } from "./output.ts"
import {
  changeLines,
  formatDuration,
  optionsText,
  planLines,
  planPartitions,
  replayLines,
  rolloutAt,
  rolloutHistoryRows,
  stepBlock,
  stepLine,
} from "./rollout.ts"
import type { DeploymentGroupStatusJson, JobStatusJson, PlanJson, ReplayJson, ReplayStepJson, RolloutSummaryJson, RolloutsJson, StateJson } from "./wire.ts"
import { freePort, lines, runInProcess } from "../test/cli-helpers.ts"

const V1 = `web:v1:${"a".repeat(40)}`
const V2 = `web:v2:${"b".repeat(40)}`
const OPTIONS = { timeout: 300, parallelism: 1, migrate: false, overlap: false, token: "", ignoreFailures: false }
/** A fixed instant; times are printed in local time, so expectations are built with formatTimestamp. */
const T0 = Date.UTC(2026, 0, 2, 10, 0, 0)
const clock = (ms: number) => formatTimestamp(ms).slice(11)
const full = (ms: number) => formatTimestamp(ms)

const summary = (number: number, extra: Record<string, unknown> = {}): RolloutSummaryJson =>
  ({
    number,
    startedAt: 10 * number,
    startedAtTime: T0 + number * 60_000,
    actor: "user:alice",
    jobId: V1,
    reason: "MANUAL",
    options: OPTIONS,
    status: "ACTIVE",
    endedAt: 10 * number + 5,
    endedAtTime: T0 + number * 60_000 + 4_210,
    failedSteps: 0,
    durationMs: 4_210,
    ...extra,
  }) as unknown as RolloutSummaryJson

describe("rollout history", () => {
  it("one row per rollout: number, short job, reason (ROLLBACK→N), actor, start, duration, outcome with failed steps", () => {
    const rows = rolloutHistoryRows(
      [
        summary(1),
        summary(2, { jobId: V2, status: "FAILED", failedSteps: 1, durationMs: 185_000 }),
        summary(3, { reason: "ROLLBACK", rollbackTo: 1, actor: "master:m1", durationMs: 7_380_000 }),
        summary(4, { jobId: V2, status: "ACTIVE", failedSteps: 2 }),
        summary(5, { jobId: V2, reason: "HOSTS_CHANGED", status: "ROLLING_OUT", durationMs: null }),
      ],
      false,
    )
    expect(rows).toEqual([
      ["1", "web:v1:aaaaaaa", "MANUAL", "user:alice", formatTimestamp(T0 + 60_000).slice(0, 19), "4.21 s", "ACTIVE"],
      ["2", "web:v2:bbbbbbb", "MANUAL", "user:alice", expect.any(String), "3 min 05 s", "FAILED (1 failed step)"],
      ["3", "web:v1:aaaaaaa", "ROLLBACK→1", "master:m1", expect.any(String), "2 h 03 min", "ACTIVE"],
      ["4", "web:v2:bbbbbbb", "MANUAL", "user:alice", expect.any(String), "4.21 s", "ACTIVE (2 failed steps)"],
      ["5", "web:v2:bbbbbbb", "HOSTS_CHANGED", "user:alice", expect.any(String), "-", "ROLLING_OUT"],
    ])
    expect(rows[0]![4]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    expect(rolloutHistoryRows([summary(1)], true)[0]![1]).toBe(V1)
  })

  it("durations: seconds with two decimals under a minute, then minutes and seconds, then hours and minutes", () => {
    expect([0, 4_210, 59_994, 60_000, 185_000, 3_599_000, 3_600_000, 7_380_000].map(formatDuration)).toEqual([
      "0.00 s",
      "4.21 s",
      "59.99 s",
      "1 min 00 s",
      "3 min 05 s",
      "59 min 59 s",
      "1 h 00 min",
      "2 h 03 min",
    ])
  })

  it("the rollout a write started: the latest started at or before the write's position", () => {
    const rollouts: RolloutsJson = { name: "g", rollouts: [summary(1), summary(2), summary(3)], position: 40 }
    expect(rolloutAt(rollouts, 25)?.number).toBe(2)
    expect(rolloutAt(rollouts, 20)?.number).toBe(2)
    expect(rolloutAt(rollouts, 9)).toBeUndefined()
  })
})

const transition = (position: number, dt: number, jobId: string, state: string, extra: Record<string, unknown> = {}) => ({
  position,
  time: T0 + dt,
  jobId,
  state,
  throttled: "NO",
  ...extra,
})

const step = (index: number, host: string, kind: ReplayStepJson["kind"], extra: Record<string, unknown> = {}): ReplayStepJson =>
  ({ index, host, kind, transitions: [], durationMs: null, ...extra }) as unknown as ReplayStepJson

/** Rollout 2 of web: v2 failed at h1's AWAIT_RUNNING (IMAGE_MISSING); h2's steps never started. */
const failedReplay = (): ReplayJson =>
  ({
    group: "web",
    number: 2,
    jobId: V2,
    reason: "MANUAL",
    actor: "user:alice",
    options: { ...OPTIONS, timeout: 4, autoRevert: true },
    hosts: ["h1", "h2"],
    started: { position: 45, time: T0 },
    ended: { position: 74, time: T0 + 4_030 },
    outcome: "FAILED",
    error: "h1: timed out waiting for job to reach state RUNNING due to missing Docker image",
    durationMs: 4_030,
    position: 120,
    steps: [
      step(0, "h1", "UNDEPLOY_OLD_JOBS", { started: { position: 46, time: T0 }, ended: { position: 48, time: T0 + 26 }, durationMs: 26, outcome: "SUCCEEDED" }),
      step(1, "h1", "DEPLOY_NEW_JOB", { started: { position: 49, time: T0 + 26 }, ended: { position: 51, time: T0 + 26 }, durationMs: 0, outcome: "SUCCEEDED" }),
      step(2, "h1", "AWAIT_RUNNING", {
        started: { position: 52, time: T0 + 26 },
        ended: { position: 73, time: T0 + 4_030 },
        durationMs: 4_004,
        outcome: "FAILED",
        error: "IMAGE_MISSING",
        message: "timed out waiting for job to reach state RUNNING due to missing Docker image",
        evidence: {
          state: "FAILED",
          throttled: "IMAGE_MISSING",
          containerError: "ImageNotFound: repository web:2 not found",
          position: 72,
          previousStates: [
            { state: "PULLING_IMAGE", position: 53 },
            { state: "FAILED", position: 55 },
          ],
        },
        transitions: [
          transition(53, 300, V2, "PULLING_IMAGE"),
          transition(54, 305, V1, "STOPPED", { containerId: "0296ba3c0ffee" }),
          transition(55, 310, V2, "FAILED", { throttled: "IMAGE_MISSING", error: "ImageNotFound: repository web:2 not found" }),
        ],
      }),
      step(3, "h2", "UNDEPLOY_OLD_JOBS"),
      step(4, "h2", "DEPLOY_NEW_JOB"),
      step(5, "h2", "AWAIT_RUNNING"),
    ],
  }) as unknown as ReplayJson

describe("rollout replay", () => {
  it("the header, then each step: times, positions, duration, outcome; transitions; the failure with its evidence; steps not started", () => {
    expect(replayLines(failedReplay(), false)).toEqual([
      "Rollout 2 of web: web:v2:bbbbbbb",
      "Reason:    MANUAL",
      "Actor:     user:alice",
      `Started:   ${full(T0)} at position 45`,
      `Ended:     ${full(T0 + 4_030)} at position 74 (4.03 s)`,
      "Outcome:   FAILED: h1: timed out waiting for job to reach state RUNNING due to missing Docker image",
      "Options:   parallelism=1, timeout=4, overlap=false, token=, ignoreFailures=false, migrate=false, autoRevert=true",
      "Hosts:     h1, h2",
      "",
      `#1 UNDEPLOY_OLD_JOBS h1  ${clock(T0)}→${clock(T0 + 26)} (positions 46→48) 0.03 s SUCCEEDED`,
      `#2 DEPLOY_NEW_JOB h1  ${clock(T0 + 26)}→${clock(T0 + 26)} (positions 49→51) 0.00 s SUCCEEDED`,
      `#3 AWAIT_RUNNING h1  ${clock(T0 + 26)}→${clock(T0 + 4_030)} (positions 52→73) 4.00 s FAILED`,
      "    TIME            POSITION    JOB               STATE            THROTTLED        CONTAINER ID    ERROR",
      `    ${clock(T0 + 300)}    53          web:v2:bbbbbbb    PULLING_IMAGE    NO               -               -`,
      `    ${clock(T0 + 305)}    54          web:v1:aaaaaaa    STOPPED          NO               0296ba3         -`,
      `    ${clock(T0 + 310)}    55          web:v2:bbbbbbb    FAILED           IMAGE_MISSING    -               ImageNotFound: repository web:2 not found`,
      "    Failed: IMAGE_MISSING: timed out waiting for job to reach state RUNNING due to missing Docker image",
      "    Evidence: state FAILED; throttled IMAGE_MISSING; container error: ImageNotFound: repository web:2 not found; reported at position 72",
      "    Previous states: PULLING_IMAGE (position 53), FAILED (position 55)",
      "#4 UNDEPLOY_OLD_JOBS h2  not started",
      "#5 DEPLOY_NEW_JOB h2  not started",
      "#6 AWAIT_RUNNING h2  not started",
    ])
    const long = replayLines(failedReplay(), true)
    expect(long[0]).toBe(`Rollout 2 of web: ${V2}`)
    expect(long[14]).toContain("0296ba3c0ffee")
  })

  it("a rollout in progress, a rollback, a superseded canary that waited for promotion", () => {
    const r = failedReplay()
    const inProgress = {
      ...r,
      ended: undefined,
      outcome: undefined,
      error: undefined,
      durationMs: null,
      steps: [step(0, "h1", "AWAIT_RUNNING", { started: { position: 52, time: T0 } })],
    } as unknown as ReplayJson
    const text = replayLines(inProgress, false)
    expect(text.slice(4, 6)).toEqual(["Ended:     - (in progress)", "Outcome:   ROLLING_OUT (in progress)"])
    expect(text.slice(-2)).toEqual([`#1 AWAIT_RUNNING h1  ${clock(T0)}→… (positions 52→…) in progress`, "    (no task reports on the host during the step)"])

    const rollback = { ...r, reason: "ROLLBACK", rollbackTo: 1, actor: "master:m1", outcome: "ACTIVE", error: undefined } as unknown as ReplayJson
    expect(replayLines(rollback, false).slice(1, 3)).toEqual(["Reason:    ROLLBACK to rollout 1", "Actor:     master:m1"])
    expect(replayLines(rollback, false)[5]).toBe("Outcome:   ACTIVE")

    const canary = {
      ...r,
      outcome: "SUPERSEDED",
      error: undefined,
      canaryUntilStep: 3,
      awaitingPromotion: { position: 60, time: T0 + 5_000, step: 3 },
      options: { ...OPTIONS, canary: 1 },
    } as unknown as ReplayJson
    const c = replayLines(canary, false)
    expect(c[5]).toBe("Outcome:   SUPERSEDED (another rollout of the group started before it ended)")
    expect(c[6]).toBe("Options:   parallelism=1, timeout=300, overlap=false, token=, ignoreFailures=false, migrate=false, canary=1")
    expect(c[8]).toBe(`Canary:    steps #1-#3; awaited promotion from ${full(T0 + 5_000)} at position 60`)
    expect(c[c.indexOf("#4 UNDEPLOY_OLD_JOBS h2  not started") - 1]).toBe(`-- canary done: awaited promotion from ${clock(T0 + 5_000)} (position 60); never promoted`)
    const promoted = replayLines({ ...canary, outcome: "ACTIVE", promoted: { position: 66, time: T0 + 9_000 } } as ReplayJson, false)
    expect(promoted).toContain(`-- canary done: awaited promotion from ${clock(T0 + 5_000)} (position 60); promoted ${clock(T0 + 9_000)} (position 66)`)

    expect(replayLines({ ...r, steps: [] } as unknown as ReplayJson, false).at(-1)).toBe("No steps (the group had no UP hosts).")
    // a failure budget let the rollout go on: the host's later steps were skipped
    const skipped = step(3, "h1", "AWAIT_RUNNING", {
      started: { position: 80, time: T0 + 5_000 },
      ended: { position: 80, time: T0 + 5_000 },
      durationMs: 0,
      outcome: "SKIPPED",
      reason: "step 2 on h1 failed",
    })
    expect(stepBlock(skipped, false)).toEqual([`#4 AWAIT_RUNNING h1  ${clock(T0 + 5_000)}→${clock(T0 + 5_000)} (positions 80→80) 0.00 s SKIPPED`, "    (no task reports on the host during the step)", "    Skipped: step 2 on h1 failed"])
    expect(stepLine(step(7, "h9", "FORCE_UNDEPLOY_JOBS"))).toBe("#8 FORCE_UNDEPLOY_JOBS h9  not started")
  })

  const jobStatus = (jobId: string, hosts: Record<string, string>): JobStatusJson =>
    ({
      job: { id: jobId, image: "web" },
      deployments: Object.fromEntries(Object.keys(hosts).map((h) => [h, { jobId, goal: "START", deployerUser: null, deployerMaster: null, deploymentGroupName: "web", position: 1 }])),
      taskStatuses: Object.fromEntries(
        Object.entries(hosts).map(([h, state]) => [
          h,
          { job: null, goal: "START", state, containerId: "c0ffee1234567", throttled: "NO", ports: {}, env: {}, containerError: null, timestamp: T0, position: 1 },
        ]),
      ),
    }) as unknown as JobStatusJson

  it("the fleet after a step: the rollout's hosts only, in status's layout", () => {
    const jobs = { [V1]: jobStatus(V1, { h2: "RUNNING", other: "RUNNING" }), [V2]: jobStatus(V2, { h1: "FAILED" }), "db:v1:c": jobStatus("db:v1:c", { other: "RUNNING" }) }
    const narrowed = statusesOnHosts(jobs, new Set(["h1", "h2"]))
    expect(Object.keys(narrowed)).toEqual([V1, V2])
    expect(Object.keys(narrowed[V1]!.taskStatuses)).toEqual(["h2"])
    expect(fleetLines("Fleet as of position 73 (end of step #3):", narrowed, false)).toEqual([
      "Fleet as of position 73 (end of step #3):",
      "  JOB ID            HOST    GOAL     STATE      CONTAINER ID    PORTS",
      "  web:v1:aaaaaaa    h2      START    RUNNING    c0ffee1",
      "  web:v2:bbbbbbb    h1      START    FAILED     c0ffee1",
    ])
    expect(fleetLines("Fleet:", {}, false)).toEqual(["Fleet:", "  (nothing deployed on the rollout's hosts)"])
  })

  /** `rollout replay web -r 2 --step` with a fake master: the replay, and the state at any position. */
  const walk = async (interactive: boolean, answers: string[], json = false) => {
    const asked: string[] = []
    const positions: string[] = []
    let out = ""
    const client = {
      getDecoded: async (path: string, _answer: unknown, query: Record<string, string>) => {
        if (path === "/deployment-group/web/rollouts/2/replay") return failedReplay()
        if (path === "/state") {
          positions.push(query["at"]!)
          return { position: Number(query["at"]), jobs: { [V2]: jobStatus(V2, { h1: "FAILED" }) }, hosts: {} } satisfies StateJson
        }
        throw new Error(`unexpected GET ${path}`)
      },
    } as unknown as HeliosClient
    const args = parseArgs(["web", "-r", "2", "--step"], [...replayCommand.flags, ...GLOBAL_FLAGS], replayCommand.positionals, { command: replayCommand.name })
    const ctx = makeContext({
      command: replayCommand.name,
      args,
      json,
      user: "alice",
      client: () => client,
      io: {
        stdout: (t) => (out += t),
        stderr: () => {},
        interactive,
        prompt: async (q) => {
          asked.push(q)
          return answers.shift() ?? ""
        },
        env: {},
        signal: new AbortController().signal,
      },
    })
    await replayCommand.run(ctx)
    return { out, asked, positions }
  }

  it("--step: after each started step, the fleet as of its end; at a terminal, Enter between steps (none after the last), q stops", async () => {
    const all = await walk(false, [])
    expect(all.asked).toEqual([])
    expect(all.positions).toEqual(["48", "51", "73"])
    const text = lines(all.out)
    expect(text.filter((l) => l.startsWith("Fleet"))).toEqual([
      "Fleet as of position 48 (end of step #1):",
      "Fleet as of position 51 (end of step #2):",
      "Fleet as of position 73 (end of step #3):",
    ])
    expect(text.slice(-3)).toEqual(["#4 UNDEPLOY_OLD_JOBS h2  not started", "#5 DEPLOY_NEW_JOB h2  not started", "#6 AWAIT_RUNNING h2  not started"])

    const stepped = await walk(true, ["", ""])
    expect(stepped.asked).toEqual(["-- Enter: next step, q: stop -- ", "-- Enter: next step, q: stop -- "])
    expect(stepped.positions).toHaveLength(3)
    const quit = await walk(true, ["q"])
    expect(quit.positions).toEqual(["48"])
    expect(lines(quit.out).at(-1)).toMatch(/^ {2}web:v2:bbbbbbb +h1 +START +FAILED/)

    const json = JSON.parse((await walk(true, [], true)).out)
    expect(json.steps.map((s: { fleet?: { position: number } }) => s.fleet?.position)).toEqual([48, 51, 73, undefined, undefined, undefined])
    expect(json.steps[2].fleet.jobs[V2].taskStatuses.h1.state).toBe("FAILED")
  })
})

describe("rolling-update --plan", () => {
  const plan = (hosts: string[], extra: Partial<PlanJson> = {}, parallelism = 1, overlap = false): PlanJson => {
    const steps: Array<PlanJson["steps"][number]> = []
    for (let i = 0; i < hosts.length; i += parallelism) {
      const part = hosts.slice(i, i + parallelism)
      if (overlap) for (const kind of ["DEPLOY_NEW_JOB", "AWAIT_RUNNING", "UNDEPLOY_OLD_JOBS"] as const) steps.push(...part.map((host) => ({ host, kind })))
      else {
        for (const host of part) steps.push({ host, kind: "UNDEPLOY_OLD_JOBS" }, { host, kind: "DEPLOY_NEW_JOB" })
        steps.push(...part.map((host) => ({ host, kind: "AWAIT_RUNNING" as const })))
      }
    }
    return { status: "OK", name: "web", position: 77, jobId: V2, options: { ...OPTIONS, parallelism, overlap }, hosts, steps, ...extra }
  }

  it("cuts the steps back into the planner's partitions", () => {
    const hostsOf = (p: PlanJson) => planPartitions(p).map((x) => `${x.canary ? "canary " : ""}${x.hosts.join(",")}:${x.steps.length}`)
    expect(hostsOf(plan(["h1", "h2", "h3"]))).toEqual(["h1:3", "h2:3", "h3:3"])
    expect(hostsOf(plan(["h1", "h2", "h3"], {}, 2))).toEqual(["h1,h2:6", "h3:3"])
    expect(hostsOf(plan(["h1", "h2", "h3", "h4", "h5"], {}, 2, true))).toEqual(["h1,h2:6", "h3,h4:6", "h5:3"])
    // canary 1 of 4, parallelism 3: the canary host alone, then the others together
    const canary = plan(["h1"], {}, 3)
    const rest = plan(["h2", "h3", "h4"], {}, 3)
    expect(hostsOf({ ...canary, steps: [...canary.steps, ...rest.steps], canaryUntilStep: 3 })).toEqual(["canary h1:3", "h2,h3,h4:9"])
    // hosts that left the group first, in chunks of parallelism, then the update
    const leaving: PlanJson["steps"] = ["x1", "x2", "x3"].map((host) => ({ host, kind: "FORCE_UNDEPLOY_JOBS" as const }))
    const two = plan(["h1", "h2"], {}, 2)
    expect(hostsOf({ ...two, steps: [...leaving, ...two.steps] })).toEqual(["x1,x2:2", "x3:1", "h1,h2:6"])
  })

  it("partition by partition, each step with what it undeploys and deploys on its host, and the position it was planned at", () => {
    const deployments = {
      h1: [
        { jobId: V1, goal: "START", deploymentGroupName: "web" },
        { jobId: "db:v1:ccc", goal: "START", deploymentGroupName: null },
      ],
      h2: [{ jobId: V2, goal: "START", deploymentGroupName: null }],
      h3: [],
    }
    const text = planLines(plan(["h1", "h2", "h3"], {}, 2), deployments, false)
    expect(text).toEqual([
      "Plan: web -> web:v2:bbbbbbb (parallelism=2, timeout=300, overlap=false, token=, ignoreFailures=false, migrate=false)",
      "Planned at position 77; nothing was written.",
      "",
      "Partition 1 of 2: h1, h2",
      "  #1    UNDEPLOY_OLD_JOBS    h1    undeploy web:v1:aaaaaaa",
      "  #2    DEPLOY_NEW_JOB       h1    deploy web:v2:bbbbbbb",
      "  #3    UNDEPLOY_OLD_JOBS    h2    nothing to undeploy",
      "  #4    DEPLOY_NEW_JOB       h2    web:v2:bbbbbbb is deployed outside the group: left as is (AWAIT_RUNNING fails with JOB_ALREADY_DEPLOYED; see --migrate)",
      "  #5    AWAIT_RUNNING        h1    wait until web:v2:bbbbbbb is RUNNING",
      "  #6    AWAIT_RUNNING        h2    wait until web:v2:bbbbbbb is RUNNING",
      "Partition 2 of 2: h3",
      "  #7    UNDEPLOY_OLD_JOBS    h3    nothing to undeploy",
      "  #8    DEPLOY_NEW_JOB       h3    deploy web:v2:bbbbbbb",
      "  #9    AWAIT_RUNNING        h3    wait until web:v2:bbbbbbb is RUNNING",
      "",
      "To run this plan only if nothing changed since: the same rolling-update without --plan, with --check-position 77",
    ])
    // --migrate also undeploys a hand-made deployment of the job (to deploy it as the group's);
    // with --overlap it is taken over at DEPLOY_NEW_JOB instead
    const migrating = planLines({ ...plan(["h2"]), options: { ...OPTIONS, migrate: true } }, deployments, false)
    expect(migrating.slice(4, 6).map((l) => l.split(/ {2,}/).at(-1))).toEqual(["undeploy web:v2:bbbbbbb", "deploy web:v2:bbbbbbb"])
    const takeOver = planLines({ ...plan(["h2"], {}, 1, true), options: { ...OPTIONS, migrate: true, overlap: true } }, deployments, false)
    expect(takeOver.slice(4, 7).map((l) => l.split(/ {2,}/).at(-1))).toEqual([
      "take web:v2:bbbbbbb over for the group (deployed outside it)",
      "wait until web:v2:bbbbbbb is RUNNING",
      "nothing to undeploy",
    ])
    // the group's own START deployment of the job stays; a STOP copy is started
    expect(planLines(plan(["h1"]), { h1: [{ jobId: V2, goal: "START", deploymentGroupName: "web" }] }, false).slice(4, 6).map((l) => l.split(/ {2,}/).at(-1))).toEqual([
      "nothing to undeploy",
      "keep web:v2:bbbbbbb (already deployed)",
    ])
    expect(planLines(plan(["h1"]), { h1: [{ jobId: V2, goal: "STOP", deploymentGroupName: "web" }] }, false)[5]).toMatch(/start web:v2:bbbbbbb \(deployed, goal STOP\)$/)
    // a canary: where it waits for promote
    const canary = planLines({ ...plan(["h1", "h2"]), canaryUntilStep: 3 }, {}, false)
    expect(canary.filter((l) => !l.startsWith("  "))).toEqual([
      expect.stringMatching(/^Plan: /),
      "Planned at position 77; nothing was written.",
      "",
      "Partition 1 of 2 (canary): h1",
      '-- then wait for "helios promote web" (or "helios rollback web")',
      "Partition 2 of 2: h2",
      "",
      expect.stringMatching(/^To run this plan/),
    ])
    expect(canary[4]).toMatch(/UNDEPLOY_OLD_JOBS +h1 +undeploy the group's other jobs$/)
    // hosts that left, and an empty plan
    const left = planLines({ ...plan([]), steps: [{ host: "x1", kind: "FORCE_UNDEPLOY_JOBS" }] }, { x1: [{ jobId: V1, goal: "START", deploymentGroupName: "web" }] }, true)
    expect(left[4]).toBe(`  #1    FORCE_UNDEPLOY_JOBS    x1    the host left the group: undeploy ${V1}`)
    expect(planLines(plan([]), {}, false).at(-1)).toBe("No steps: the group has no UP hosts (the rollout would be ACTIVE at once).")
  })

  it("a refusal after --check-position lists the first changes", () => {
    const changes = Array.from({ length: 7 }, (_, i) => ({ position: 80 + i, type: i === 0 ? "JobDeployed" : "HostWentDown", ...(i < 2 ? { host: `h${i}` } : {}) }))
    expect(changeLines({ status: "CHANGED_SINCE_POSITION", message: "changed", checkPosition: 77, changes })).toEqual([
      "Changes after position 77:",
      "  position 80: JobDeployed on h0",
      "  position 81: HostWentDown on h1",
      "  position 82: HostWentDown",
      "  position 83: HostWentDown",
      "  position 84: HostWentDown",
      "  ... and 2 more",
    ])
  })
})

describe("rollout flags", () => {
  const parse = (command: typeof rollingUpdateCommand, argv: string[]) =>
    parseArgs(argv, [...command.flags, ...GLOBAL_FLAGS], command.positionals, { command: command.name })

  it("rolling-update: canary, auto-revert, failure budget, check-position; only those given", () => {
    expect(rolloutOptionsFromArgs(parse(rollingUpdateCommand, ["j", "g", "--canary", "1", "--auto-revert", "--max-failures", "0", "--failure-ratio", ".25"]))).toEqual({
      canary: 1,
      autoRevert: true,
      maxFailures: 0,
      failureRatio: 0.25,
    })
    expect(checkPositionFromArgs(parse(rollingUpdateCommand, ["j", "g", "--check-position", "0"]))).toBe(0)
    expect(checkPositionFromArgs(parse(rollingUpdateCommand, ["j", "g"]))).toBeUndefined()
    expect(rolloutStartedLine("g", V2, { ...OPTIONS, canary: 2, autoRevert: true, maxFailures: 1, failureRatio: 0.5 }, false)).toBe(
      "Rolling update started: g -> web:v2:bbbbbbb (parallelism=1, timeout=300, overlap=false, token=, ignoreFailures=false, migrate=false, canary=2, autoRevert=true, maxFailures=1, failureRatio=0.5)",
    )
    expect(optionsText(OPTIONS)).toBe("parallelism=1, timeout=300, overlap=false, token=, ignoreFailures=false, migrate=false")
  })

  it("bad values are refused by the API's schemas, naming the flag", () => {
    const fails = (argv: string[]) => () => {
      const args = parse(rollingUpdateCommand, ["j", "g", ...argv])
      rolloutOptionsFromArgs(args)
      checkPositionFromArgs(args)
    }
    expect(fails(["--canary", "0"])).toThrow("helios rolling-update: option --canary: Expected an integer from 1 to 2147483647, got '0' (see 'helios rolling-update --help')")
    expect(fails(["--max-failures", "-1"])).toThrow("option --max-failures: Expected an integer from 0 to 2147483647, got '-1'")
    expect(fails(["--max-failures", "two"])).toThrow("option --max-failures: expected an integer, got 'two'")
    expect(fails(["--failure-ratio", "1.5"])).toThrow("option --failure-ratio: Expected a value between 0 and 1, got '1.5'")
    expect(fails(["--failure-ratio", "half"])).toThrow("option --failure-ratio: expected a number, got 'half'")
    expect(fails(["--check-position", "-3"])).toThrow("option --check-position: Expected a value greater than or equal to 0, got '-3'")
    expect(fails(["--check-position", "x"])).toThrow("option --check-position: expected an integer, got 'x'")
  })

  it("rollback: --to-rollout and the rolling-update options it shares (no canary, no auto-revert)", () => {
    const args = parse(rollbackCommand as typeof rollingUpdateCommand, ["g", "--to-rollout", "3", "--par", "4", "--max-failures", "1"])
    expect([toRolloutFromArgs(args), rolloutOptionsFromArgs(args, "rollback")]).toEqual([3, { parallelism: 4, maxFailures: 1 }])
    expect(() => toRolloutFromArgs(parse(rollbackCommand as typeof rollingUpdateCommand, ["g", "--to-rollout", "0"]))).toThrow(
      "helios rollback: option --to-rollout: Expected an integer from 1 to 2147483647, got '0' (see 'helios rollback --help')",
    )
    expect(() => rolloutOptionsFromArgs(parse(rollbackCommand as typeof rollingUpdateCommand, ["g", "-p", "0"]), "rollback")).toThrow(/^helios rollback: option --par: /)
    expect(() => parse(rollbackCommand as typeof rollingUpdateCommand, ["g", "--canary", "1"])).toThrow("helios rollback: unknown option --canary")
    expect(rollbackStartedLine("g", { number: 6, jobId: V1, rollbackTo: 4, options: OPTIONS }, false)).toBe(
      "Rolling back: g -> web:v1:aaaaaaa (rollout 6 restores rollout 4) (parallelism=1, timeout=300, overlap=false, token=, ignoreFailures=false, migrate=false)",
    )
  })
})

describe("waiting for a canary or an automatic rollback", () => {
  const status = (s: Partial<DeploymentGroupStatusJson>, jobId = V2): DeploymentGroupStatusJson => ({
    deploymentGroup: { name: "web", hostSelectors: [], jobId },
    status: "ROLLING_OUT",
    error: null,
    hostStatuses: [],
    deploymentGroupStatus: null,
    ...s,
  })
  const wait = (answers: DeploymentGroupStatusJson[], whenJobChanged?: () => Promise<any>) => {
    let i = 0
    const progress: string[] = []
    const clock: WaitClock = { now: () => 0, sleep: async () => {} }
    return {
      progress,
      result: awaitRollout({
        fetchStatus: async () => answers[Math.min(i++, answers.length - 1)]!,
        jobId: V2,
        startedAt: 0,
        rolloutTimeoutMs: 60_000,
        pollIntervalMs: 1000,
        clock,
        signal: new AbortController().signal,
        onProgress: (l) => progress.push(l),
        ...(whenJobChanged ? { whenJobChanged } : {}),
      }),
    }
  }

  it("AWAITING_PROMOTION ends the wait once the canary hosts run the job, and says what to do next", async () => {
    const w = wait([
      status({ hostStatuses: [{ host: "h1", jobId: V2, state: "STARTING" }, { host: "h2", jobId: V1, state: "RUNNING" }] }),
      status({ status: "AWAITING_PROMOTION", hostStatuses: [{ host: "h1", jobId: V2, state: "RUNNING" }, { host: "h2", jobId: V1, state: "RUNNING" }] }),
    ])
    const result = await w.result
    expect(result).toEqual({ status: "AWAITING_PROMOTION", group: "web", jobId: V2 })
    expect(w.progress).toEqual(["h1 -> RUNNING (1/2)"])
    expect(outcomeText(result)).toBe(
      'Awaiting promotion: the canary hosts run web:v2:bbbbbbb; run "helios promote web" to continue or "helios rollback web" to undo.',
    )
  })

  it("the group's job changed: REVERTED when the rollout failed and the master rolled back, else job id changed", async () => {
    const reverted = { status: "REVERTED", error: "h1: image missing", rollback: { number: 3, rollbackTo: 1, jobId: V1 } } as const
    expect(await wait([status({}), status({}, V1)], async () => reverted).result).toEqual(reverted)
    expect(outcomeText(reverted)).toBe("Failed: h1: image missing")
    expect(revertText(reverted)).toBe("Rolling back automatically to rollout 1 (web:v1:aaaaaaa)")
    const changed = { status: "FAILED", error: "Deployment-group job id changed during rolling-update" }
    expect(await wait([status({}, V1)], async () => undefined).result).toEqual(changed)
    expect(await wait([status({}, V1)]).result).toEqual(changed)
    expect(
      await wait([status({}, V1)], async () => {
        throw new CliError("cannot reach master")
      }).result,
    ).toEqual(changed)
  })

  /** A master answering the rollouts list and a replay's error. */
  const master = (rollouts: RolloutSummaryJson[]) =>
    ({
      getDecoded: async (path: string) => {
        if (path === "/deployment-group/web/rollouts") return { name: "web", rollouts, position: 99 }
        if (path === "/deployment-group/web/rollouts/2/replay") return { ...failedReplay(), error: "h1: image missing" }
        throw new Error(`unexpected GET ${path}`)
      },
    }) as unknown as HeliosClient

  it("what became of the rollout: reverted by the master, failed then replaced, or superseded", async () => {
    const signal = new AbortController().signal
    const failed = summary(2, { jobId: V2, status: "FAILED", failedSteps: 1 })
    const revert = summary(3, { reason: "ROLLBACK", rollbackTo: 1, actor: "master:m1" })
    expect(await afterJobChanged(master([summary(1), failed, revert]), "web", 2, signal)).toEqual({
      status: "REVERTED",
      error: "h1: image missing",
      rollback: { number: 3, rollbackTo: 1, jobId: V1 },
    })
    expect(await afterJobChanged(master([summary(1), failed, summary(3, { actor: "user:bob" })]), "web", 2, signal)).toEqual({ status: "FAILED", error: "h1: image missing" })
    expect(await afterJobChanged(master([summary(1), summary(2, { status: "SUPERSEDED" }), summary(3)]), "web", 2, signal)).toBeUndefined()
  })
})

describe("the verbs without a master", () => {
  it("help lists rollout history, rollout replay, rollback and promote; rollout names its sub-verbs", async () => {
    const help = (await runInProcess(["--help"])).stdout
    for (const verb of ["rollout history", "rollout replay", "rollback", "promote"]) expect(help).toMatch(new RegExp(`^  ${verb} +\\S`, "m"))
    const rollout = await runInProcess(["rollout", "--help"])
    expect(lines(rollout.stdout).slice(0, 1)).toEqual(["usage: helios rollout COMMAND GROUP [flags] [global flags]"])
    expect(rollout.stdout).toMatch(/^ {2}history {2}list a deployment group's rollouts/m)
    expect(rollout.stdout).toMatch(/^ {2}replay {3}replay a rollout from the log/m)
    const replay = await runInProcess(["help", "rollout", "replay"])
    expect(lines(replay.stdout)[0]).toBe("usage: helios rollout replay GROUP [global flags]")
    for (const flag of ["-r, --rollout N", "--step", "-f, --full"]) expect(replay.stdout).toContain(flag)
    expect(lines((await runInProcess(["rollout", "history", "-h"])).stdout)[0]).toBe("usage: helios rollout history GROUP [global flags]")
    const ru = (await runInProcess(["rolling-update", "--help"])).stdout
    for (const flag of ["--canary N", "--auto-revert", "--max-failures N", "--failure-ratio F", "--plan", "--check-position P"]) expect(ru).toContain(flag)
    const rb = (await runInProcess(["rollback", "--help"])).stdout
    for (const flag of ["--to-rollout N", "-p, --par N", "--async", "--max-failures N"]) expect(rb).toContain(flag)
    expect(rb).not.toContain("--canary")
  })

  it("bad input is refused before anything is sent: one line naming the flag, exit 1", async () => {
    const env = { HELIOS_MASTER: `http://127.0.0.1:${await freePort()}` }
    const cases: Array<[string[], string]> = [
      [["rollout"], "helios rollout: missing command: history or replay (see 'helios rollout --help')"],
      [["rollout", "undo", "g"], "helios rollout: unknown command 'undo': expected history or replay"],
      [["rollout", "history"], "helios rollout history: missing argument GROUP"],
      [["rollout", "history", "g", "--step"], "helios rollout history: unknown option --step"],
      [["rollout", "replay", "g", "--rollout", "0"], "helios rollout replay: option --rollout: expected a rollout number >= 1 or 'latest', got '0'"],
      [["rolling-update", "j", "g", "--canary", "0"], "helios rolling-update: option --canary: Expected an integer from 1 to 2147483647, got '0'"],
      [["rolling-update", "j", "g", "--failure-ratio", "2"], "helios rolling-update: option --failure-ratio: Expected a value between 0 and 1, got '2'"],
      [["rolling-update", "j", "g", "--max-failures", "x"], "helios rolling-update: option --max-failures: expected an integer, got 'x'"],
      [["rolling-update", "j", "g", "--check-position", "-1"], "helios rolling-update: option --check-position: Expected a value greater than or equal to 0"],
      [["rolling-update", "j", "g", "--plan", "--check-position", "3"], "helios rolling-update: --plan and --check-position do not go together"],
      [["rollback", "g", "--to-rollout", "x"], "helios rollback: option --to-rollout: expected an integer, got 'x'"],
      [["rollback", "g", "--failure-ratio", "-0.1"], "helios rollback: option --failure-ratio: Expected a value between 0 and 1, got '-0.1'"],
      [["rollback", "g", "-T", "0"], "helios rollback: option --rollout-timeout: expected an integer from 1 to 35791, got '0'"],
      [["promote"], "helios promote: missing argument GROUP"],
      [["promote", "g", "-T", "x"], "helios promote: option --rollout-timeout: expected an integer from 1 to 35791, got 'x'"],
    ]
    for (const [args, message] of cases) {
      const r = await runInProcess(args, { env })
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 1, stdout: "" })
      expect(lines(r.stderr)).toHaveLength(1)
      expect(r.stderr).toContain(message)
    }
    const json = await runInProcess(["--json", "rolling-update", "j", "g", "--failure-ratio", "2"], { env })
    expect(JSON.parse(json.stdout)).toMatchObject({ status: "USAGE_ERROR", error: expect.stringContaining("--failure-ratio") })
  })
})
