/**
 * Rollouts you can debug and undo, from the CLI: `helios` (in this process) against a real master
 * on the run's real ZooKeeper, with three real agents running containers in the in-memory runtime
 * (an image it does not have makes a task fail). A failed rollout is reverted automatically and
 * then listed and replayed; a canary is promoted, another rolled back; a plan writes nothing; a
 * rolling update checked against a plan's position is refused after a concurrent change.
 * (The real-Docker acceptance suite is master/rollout-undo.test.ts.)
 */
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cells, lines, removeTempDirs, runInProcess, tempDir, type CliResult } from "../test/cli-helpers.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { startMemoryAgents, type MemoryAgents } from "../test/memory-agents.ts"
import { uniqueRoot, waitFor } from "../test/services.ts"

const IMAGE = "helios-test/web:latest"
const MISSING = "helios-test/not-there:latest"
const suffix = randomBytes(3).toString("hex")
const root = uniqueRoot("undo-cli")
const dir = tempDir("undo-cli")
/** Three web hosts, rolled out in this order. */
const H1 = `ru${suffix}-h1`
const H2 = `ru${suffix}-h2`
const H3 = `ru${suffix}-h3`
const HOSTS = [H1, H2, H3]
const GROUP = "web"

let master: TestMaster
let fleet: MemoryAgents | undefined
let env: Record<string, string>

beforeAll(async () => {
  master = await startTestMaster(root, "m1")
  env = { HOME: join(dir, "home"), HELIOS_MASTER: master.url }
  fleet = await startMemoryAgents(root, dir, HOSTS.map((h) => [h, { role: "web" }] as const), [IMAGE])
  await waitFor(() => (HOSTS.every((h) => master.projection.model.state.hosts.get(h as never)?.up) ? true : undefined), { what: "three hosts UP" })
}, 60_000)

afterAll(async () => {
  await fleet?.stop()
  await master?.stop().catch(() => {})
  removeTempDirs()
})

/** `helios -u alice ARGS` in this process. */
const helios = (args: string[], extra: Parameters<typeof runInProcess>[1] = {}) => runInProcess(["-u", "alice", ...args], { env, ...extra })

/** Exit 0, nothing on stderr; returns stdout's lines. */
const ok = async (args: string[], extra: Parameters<typeof runInProcess>[1] = {}): Promise<string[]> => {
  const r = await helios(args, extra)
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" })
  return lines(r.stdout)
}

const json = async (args: string[]): Promise<any> => JSON.parse((await ok(["--json", ...args])).join("\n"))

/** Exit 1 with exactly one line on stderr matching `message`, no stack trace. */
const fails = (r: CliResult, message: string | RegExp) => {
  expect(r.code).toBe(1)
  expect(lines(r.stderr)).toHaveLength(1)
  expect(r.stderr.trimEnd()).toMatch(message)
  expect(r.stderr).not.toMatch(/\n\s+at /)
}

/** Waits until rollout `n` of the group exists and is no longer ROLLING_OUT; its summary. */
const settled = (n: number) =>
  waitFor(
    async () => {
      const r = (await json(["rollout", "history", GROUP])).rollouts.find((x: { number: number }) => x.number === n)
      return r !== undefined && r.status !== "ROLLING_OUT" ? r : undefined
    },
    { what: `rollout ${n} of ${GROUP} to settle`, timeoutMs: 60_000, intervalMs: 200 },
  )

/** Which job (name:version) runs on each host for the group, with its state. */
const versions = async (): Promise<Record<string, string>> =>
  Object.fromEntries(
    ((await json(["deployment-group-status", GROUP])).hostStatuses as Array<{ host: string; jobId: string | null; state: string | null }>).map((h) => [
      h.host,
      `${h.jobId?.split(":").slice(0, 2).join(":")} ${h.state}`,
    ]),
  )
const allOn = (version: string) => Object.fromEntries(HOSTS.map((h) => [h, `${version} RUNNING`]))

const short = (id: string) => id.slice(0, id.lastIndexOf(":") + 8)

/** The rows of `rollout history`'s table (after its header), as cells. */
const historyRows = (out: string[]): string[][] => out.slice(1).map(cells)

describe("rollouts you can debug and undo, from the CLI", () => {
  let v1 = ""

  it("a failed rollout with --auto-revert rolls back at once; rollout history and replay show both and the failed step", async () => {
    await ok(["create-deployment-group", "-q", GROUP, "role=web"])
    v1 = (await ok(["create", "-q", "ruweb:v1", IMAGE]))[0]!
    const broken = (await ok(["create", "-q", "ruweb:v2", MISSING]))[0]!
    expect((await ok(["rolling-update", "ruweb:v1", GROUP, "--par", "3"])).at(-2)).toBe("Done.")

    const failed = await helios(["rolling-update", "ruweb:v2", GROUP, "-t", "3", "--auto-revert"])
    fails(failed, new RegExp(`^Failed: ${H1}: .*missing Docker image`))
    const out = lines(failed.stdout)
    expect(out[0]).toBe(
      `Rolling update started: ${GROUP} -> ${short(broken)} (parallelism=1, timeout=3, overlap=false, token=, ignoreFailures=false, migrate=false, autoRevert=true)`,
    )
    expect(out.slice(-2)).toEqual([`Rolling back automatically to rollout 1 (${short(v1)})`, expect.stringMatching(/^Duration: /)])
    // Nobody does anything more: rollout 3 (ROLLBACK→1, by the master) puts every host back on v1.
    await settled(3)
    await waitFor(async () => (JSON.stringify(await versions()) === JSON.stringify(allOn("ruweb:v1")) ? true : undefined), { what: "every host back on v1", timeoutMs: 30_000 })

    const history = await ok(["rollout", "history", GROUP])
    expect(cells(history[0]!)).toEqual(["NUMBER", "JOB", "REASON", "ACTOR", "STARTED", "DURATION", "OUTCOME"])
    const rows = historyRows(history)
    expect(rows.map((r) => [r[0], r[1], r[2], r[3], r[6]])).toEqual([
      ["1", short(v1), "MANUAL", "user:alice", "ACTIVE"],
      ["2", short(broken), "MANUAL", "user:alice", "FAILED (1 failed step)"],
      ["3", short(v1), "ROLLBACK→1", "master:m1", "ACTIVE"],
    ])
    for (const r of rows) {
      expect(r[4]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
      expect(r[5]).toMatch(/^\d+\.\d\d s$/)
    }
    expect(historyRows(await ok(["rollout", "history", "-f", GROUP]))[1]![1]).toBe(broken)
    const historyJson = await json(["rollout", "history", GROUP])
    expect(historyJson.rollouts.map((r: { status: string }) => r.status)).toEqual(["ACTIVE", "FAILED", "ACTIVE"])
    expect(historyJson.rollouts[2]).toMatchObject({ reason: "ROLLBACK", rollbackTo: 1, jobId: v1 })

    // The failed rollout, replayed from the log: its header, the failed step with the host's task
    // reports (IMAGE_MISSING, with positions), its evidence, and the steps it never started.
    const replay = await ok(["rollout", "replay", GROUP, "--rollout", "2"])
    expect(replay.slice(0, 8)).toEqual([
      `Rollout 2 of ${GROUP}: ${short(broken)}`,
      "Reason:    MANUAL",
      "Actor:     user:alice",
      expect.stringMatching(/^Started: {3}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} at position \d+$/),
      expect.stringMatching(/^Ended: {5}\d{4}-.* at position \d+ \(\d+\.\d\d s\)$/),
      expect.stringMatching(new RegExp(`^Outcome: {3}FAILED: ${H1}: `)),
      "Options:   parallelism=1, timeout=3, overlap=false, token=, ignoreFailures=false, migrate=false, autoRevert=true",
      `Hosts:     ${H1}, ${H2}, ${H3}`,
    ])
    const stepLines = replay.filter((l) => l.startsWith("#"))
    expect(stepLines.map((l) => l.replace(/  \d.*(SUCCEEDED|FAILED)$/, "  $1"))).toEqual([
      `#1 UNDEPLOY_OLD_JOBS ${H1}  SUCCEEDED`,
      `#2 DEPLOY_NEW_JOB ${H1}  SUCCEEDED`,
      `#3 AWAIT_RUNNING ${H1}  FAILED`,
      `#4 UNDEPLOY_OLD_JOBS ${H2}  not started`,
      `#5 DEPLOY_NEW_JOB ${H2}  not started`,
      `#6 AWAIT_RUNNING ${H2}  not started`,
      `#7 UNDEPLOY_OLD_JOBS ${H3}  not started`,
      `#8 DEPLOY_NEW_JOB ${H3}  not started`,
      `#9 AWAIT_RUNNING ${H3}  not started`,
    ])
    expect(stepLines[2]).toMatch(/^#3 AWAIT_RUNNING \S+  \d\d:\d\d:\d\d\.\d{3}→\d\d:\d\d:\d\d\.\d{3} \(positions \d+→\d+\) [3-9]\.\d\d s FAILED$/)
    const block = replay.slice(replay.indexOf(stepLines[2]!) + 1, replay.indexOf(stepLines[3]!))
    expect(cells(block[0]!)).toEqual(["TIME", "POSITION", "JOB", "STATE", "THROTTLED", "CONTAINER ID", "ERROR"])
    expect(block.filter((l) => cells(l)[2] === short(broken) && cells(l)[3] === "FAILED" && cells(l)[4] === "IMAGE_MISSING").length).toBeGreaterThan(0)
    expect(block).toContainEqual(expect.stringMatching(/^ {4}Failed: IMAGE_MISSING: .*missing Docker image/))
    expect(block).toContainEqual(expect.stringMatching(/^ {4}Evidence: state FAILED; throttled IMAGE_MISSING; container error: .*not-there.*; reported at position \d+$/))
    expect(block).toContainEqual(expect.stringMatching(/^ {4}Previous states: PULLING_IMAGE \(position \d+\), FAILED \(position \d+\)/))

    // The latest rollout: the automatic rollback.
    const latest = await ok(["rollout", "replay", GROUP])
    expect(latest.slice(0, 3)).toEqual([`Rollout 3 of ${GROUP}: ${short(v1)}`, "Reason:    ROLLBACK to rollout 1", "Actor:     master:m1"])
    expect(latest[5]).toBe("Outcome:   ACTIVE")
    const replayJson = await json(["rollout", "replay", GROUP, "-r", "2"])
    expect(replayJson).toMatchObject({ group: GROUP, number: 2, jobId: broken, outcome: "FAILED", reason: "MANUAL" })
    expect(replayJson.steps[2]).toMatchObject({ index: 2, host: H1, kind: "AWAIT_RUNNING", outcome: "FAILED", error: "IMAGE_MISSING", evidence: { state: "FAILED" } })

    // --step, not at a terminal: every started step, each followed by the fleet as of its end.
    const walked = await ok(["rollout", "replay", GROUP, "-r", "2", "--step"])
    const fleets = walked.filter((l) => l.startsWith("Fleet as of position "))
    expect(fleets.map((l) => l.replace(/position \d+/, "position P"))).toEqual([1, 2, 3].map((i) => `Fleet as of position P (end of step #${i}):`))
    const afterFailure = walked.slice(walked.indexOf(fleets[2]!) + 2, walked.indexOf(`#4 UNDEPLOY_OLD_JOBS ${H2}  not started`)).map(cells)
    expect(afterFailure.map((c) => [c[0], c[1], c[3]])).toEqual([
      [short(v1), H2, "RUNNING"],
      [short(v1), H3, "RUNNING"],
      [short(broken), H1, "FAILED (IMAGE_MISSING)"],
    ])
    const walkedJson = await json(["rollout", "replay", GROUP, "-r", "2", "--step"])
    expect(walkedJson.steps[2].fleet.jobs[broken].taskStatuses[H1]).toMatchObject({ state: "FAILED", throttled: "IMAGE_MISSING" })
    expect(walkedJson.steps[3].fleet).toBeUndefined()

    // At a terminal, --step waits for Enter after each step; q stops.
    const stopped = await helios(["rollout", "replay", GROUP, "-r", "2", "--step"], { interactive: true, answer: "q" })
    expect(stopped.code).toBe(0)
    expect(lines(stopped.stdout).filter((l) => l.startsWith("Fleet as of"))).toHaveLength(1)
    expect(stopped.stderr).toBe("-- Enter: next step, q: stop -- ")

    fails(await helios(["rollout", "replay", GROUP, "--rollout", "9"]), `Deployment group ${GROUP} has no rollout 9`)
    fails(await helios(["rollout", "history", "nope"]), /^Unknown deployment group: nope$/)
  }, 120_000)

  it("canary: only the first host changes until promote; another canary is undone by rollback", async () => {
    const v3 = (await ok(["create", "-q", "ruweb:v3", IMAGE, "--env", "V=3"]))[0]!
    const canary = await ok(["rolling-update", "ruweb:v3", GROUP, "--canary", "1", "--par", "2"])
    expect(canary[0]).toMatch(/, canary=1\)$/)
    expect(canary.slice(1)).toEqual([
      "",
      `${H1} -> RUNNING (1/3)`,
      "",
      `Awaiting promotion: the canary hosts run ${short(v3)}; run "helios promote ${GROUP}" to continue or "helios rollback ${GROUP}" to undo.`,
      expect.stringMatching(/^Duration: /),
    ])
    expect(await versions()).toEqual({ ...allOn("ruweb:v1"), [H1]: "ruweb:v3 RUNNING" })
    expect((await ok(["deployment-group-status", GROUP]))[2]).toBe("Status: AWAITING_PROMOTION")

    const promoted = await ok(["promote", GROUP])
    expect(promoted[0]).toBe(`Promoted: ${GROUP} -> ${short(v3)} (rollout 4) goes on to the other hosts`)
    expect(promoted.slice(-2, -1)).toEqual(["Done."])
    expect(promoted).toContain(`${H3} -> RUNNING (3/3)`)
    expect(await versions()).toEqual(allOn("ruweb:v3"))
    fails(await helios(["promote", GROUP]), /^Cannot promote: /)

    // The canary's replay marks where it waited for promote.
    const replay = await ok(["rollout", "replay", GROUP])
    expect(replay).toContainEqual(expect.stringMatching(/^Canary: {4}steps #1-#3; awaited promotion from .* at position \d+; promoted .* at position \d+$/))
    expect(replay[replay.findIndex((l) => l.startsWith("#4 "))! - 1]).toMatch(/^-- canary done: awaited promotion from \S+ \(position \d+\); promoted \S+ \(position \d+\)$/)

    const v4 = (await ok(["create", "-q", "ruweb:v4", IMAGE, "--env", "V=4"]))[0]!
    const waiting = await json(["rolling-update", "ruweb:v4", GROUP, "--canary", "1"])
    expect(waiting).toMatchObject({ status: "AWAITING_PROMOTION", error: null, canary: 1, job: v4, rollout: 5 })
    expect((await versions())[H1]).toBe("ruweb:v4 RUNNING")
    const back = await ok(["rollback", GROUP])
    expect(back[0]).toBe(`Rolling back: ${GROUP} -> ${short(v3)} (rollout 6 restores rollout 4) (parallelism=1, timeout=300, overlap=false, token=, ignoreFailures=false, migrate=false)`)
    expect(back.at(-2)).toBe("Done.")
    expect(await versions()).toEqual(allOn("ruweb:v3"))
    expect(historyRows(await ok(["rollout", "history", GROUP])).slice(-3).map((r) => [r[0], r[2], r[6]])).toEqual([
      ["4", "MANUAL", "ACTIVE"],
      ["5", "MANUAL", "SUPERSEDED"],
      ["6", "ROLLBACK→4", "ACTIVE"],
    ])

    // rollback --to-rollout N: back to v1 (rollout 1), --async and --json
    expect(await json(["rollback", GROUP, "--to-rollout", "1", "--async", "--par", "3"])).toMatchObject({ status: "OK", job: v1, rollout: 7, rollbackTo: 1, parallelism: 3 })
    expect((await settled(7)).status).toBe("ACTIVE")
    fails(await helios(["rollback", GROUP, "--to-rollout", "99"]), /^Cannot roll back: deployment group web has no rollout 99$/)
  }, 120_000)

  it("--plan writes nothing; --check-position refuses after a concurrent change and accepts when nothing changed", async () => {
    const v5 = (await ok(["create", "-q", "ruweb:v5", IMAGE, "--env", "V=5"]))[0]!
    const before = master.projection.position
    const plan = await ok(["rolling-update", "ruweb:v5", GROUP, "--plan", "--par", "2"])
    expect(master.projection.position).toBe(before)
    expect(plan.slice(0, 3)).toEqual([
      `Plan: ${GROUP} -> ${short(v5)} (parallelism=2, timeout=300, overlap=false, token=, ignoreFailures=false, migrate=false)`,
      `Planned at position ${before}; nothing was written.`,
      "",
    ])
    expect(plan.slice(3, 13).map((l) => (l.startsWith("  ") ? cells(l) : l))).toEqual([
      `Partition 1 of 2: ${H1}, ${H2}`,
      ["#1", "UNDEPLOY_OLD_JOBS", H1, `undeploy ${short(v1)}`],
      ["#2", "DEPLOY_NEW_JOB", H1, `deploy ${short(v5)}`],
      ["#3", "UNDEPLOY_OLD_JOBS", H2, `undeploy ${short(v1)}`],
      ["#4", "DEPLOY_NEW_JOB", H2, `deploy ${short(v5)}`],
      ["#5", "AWAIT_RUNNING", H1, `wait until ${short(v5)} is RUNNING`],
      ["#6", "AWAIT_RUNNING", H2, `wait until ${short(v5)} is RUNNING`],
      `Partition 2 of 2: ${H3}`,
      ["#7", "UNDEPLOY_OLD_JOBS", H3, `undeploy ${short(v1)}`],
      ["#8", "DEPLOY_NEW_JOB", H3, `deploy ${short(v5)}`],
    ])
    expect(plan.at(-1)).toBe(`To run this plan only if nothing changed since: the same rolling-update without --plan, with --check-position ${before}`)
    const planJson = await json(["rolling-update", "ruweb:v5", GROUP, "--plan"])
    expect(planJson).toMatchObject({ status: "OK", name: GROUP, position: before, jobId: v5, hosts: HOSTS })
    expect(planJson.steps).toHaveLength(9)
    expect(master.projection.position).toBe(before)
    expect((await json(["rollout", "history", GROUP])).rollouts).toHaveLength(7)

    // Someone deploys by hand to one of the group's hosts after the plan: refused, naming the change.
    const other = (await ok(["create", "-q", "ruother:v1", IMAGE]))[0]!
    await ok(["deploy", other, H3])
    const refused = await helios(["rolling-update", "ruweb:v5", GROUP, "--check-position", String(before)])
    fails(refused, new RegExp(`^deployment group ${GROUP}, its hosts or their deployments changed after position ${before} \\(first at \\d+: JobDeployed\\); plan again$`))
    expect(lines(refused.stdout)).toEqual([`Changes after position ${before}:`, expect.stringMatching(new RegExp(`^  position \\d+: JobDeployed on ${H3}$`))])
    const refusedJson = await helios(["--json", "rolling-update", "ruweb:v5", GROUP, "--check-position", String(before)])
    expect(refusedJson.code).toBe(1)
    expect(JSON.parse(refusedJson.stdout)).toMatchObject({ status: "CHANGED_SINCE_POSITION", checkPosition: before, changes: [{ type: "JobDeployed", host: H3 }] })
    expect((await json(["rollout", "history", GROUP])).rollouts).toHaveLength(7)

    // Plan again, nothing changes in between: accepted.
    const again = await json(["rolling-update", "ruweb:v5", GROUP, "--plan"])
    expect((await ok(["rolling-update", "ruweb:v5", GROUP, "--check-position", String(again.position), "--par", "3"])).at(-2)).toBe("Done.")
    expect(await versions()).toEqual(allOn("ruweb:v5"))
  }, 120_000)
})
