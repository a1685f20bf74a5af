import { Result, Schema } from "effect"
import { decodeInput } from "../../core/decode.ts"
import { DEFAULT_ROLLOUT_OPTIONS, MergedRolloutOptions, RollingUpdateRequest, type ExtraRolloutOptions } from "../../core/deployment-group.ts"
import { shortJobId } from "../../core/job-id.ts"
import { RolloutOptions } from "../../core/job.ts"
import { bool, intFlag, pos, str, UsageError, type FlagSpec, type ParsedArgs, MAX_TIMER_SECONDS } from "../args.ts"
import type { HeliosClient } from "../client.ts"
import type { Command, Context } from "../command.ts"
import { aboutGroup, fetchGroupStatus, groupPath } from "../deployment-group.ts"
import { ApiError, CliError } from "../errors.ts"
import { resolveJob } from "../resolve.ts"
import { changeLines, fetchReplay, fetchRollouts, optionsText, planLines, rolloutAt, type HostDeployment } from "../rollout.ts"
import type { ChangedSincePositionJson, DeploymentGroupStatusJson, RolloutOptionsJson } from "../wire.ts"
import { sleep } from "./watch.ts"
import { HostStatuses, Plan, Started } from "../answers.ts"

/*
 * `helios rolling-update JOB GROUP`: starts the rollout of JOB to the group's hosts, then (unless
 * --async) follows the group's status every second, printing each host as it reaches RUNNING
 * with the job, until the rollout is ACTIVE (Done.), FAILED, or --rollout-timeout minutes passed
 * (the rollout goes on without us). As Helios's RollingUpdateCommand.
 */

const NAME = "rolling-update"

/** Each option of a request: the flag that sets it (named in errors). */
const FLAG_OF: Readonly<Record<string, string>> = {
  timeout: "timeout",
  parallelism: "par",
  token: "token",
  maxFailures: "max-failures",
  failureRatio: "failure-ratio",
  canary: "canary",
}

const usageOf = (command: string) => (message: string) => new UsageError(`helios ${command}: ${message} (see 'helios ${command} --help')`)
const usage = usageOf(NAME)

/** An integer flag as a number (range checks are the schema's); a non-integer is a usage error naming the flag. */
const integerFlag = (args: ParsedArgs, name: string, command: string): number | undefined => {
  const v = str(args, name)
  if (v === undefined) return undefined
  if (!/^[-+]?\d+$/.test(v.trim())) throw usageOf(command)(`option --${name}: expected an integer, got '${v}'`)
  return Number(v)
}

/** A number flag (`0.25`, `.5`, `1`); range checks are the schema's. */
const numberFlag = (args: ParsedArgs, name: string, command: string): number | undefined => {
  const v = str(args, name)
  if (v === undefined) return undefined
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(v.trim())) throw usageOf(command)(`option --${name}: expected a number, got '${v}'`)
  return Number(v)
}

/** What the rollout flags may set: Helios's RolloutOptions and ours, as the API's schemas check them. */
const RolloutFlags = Schema.Struct({
  ...RolloutOptions.fields,
  autoRevert: MergedRolloutOptions.fields.autoRevert,
  maxFailures: MergedRolloutOptions.fields.maxFailures,
  failureRatio: MergedRolloutOptions.fields.failureRatio,
  canary: MergedRolloutOptions.fields.canary,
})
export type RolloutFlags = RolloutOptions & ExtraRolloutOptions

/**
 * The rollout options the flags set (only those given: the master takes the others from the
 * job's rolloutOptions, then Helios's defaults), decoded with the API's schemas, so `--par 0` or
 * `--failure-ratio 2` is refused here, naming the flag, before anything is sent. A command
 * without some of these flags (rollback has no --canary) simply never sets them.
 */
export const rolloutOptionsFromArgs = (args: ParsedArgs, command = NAME): RolloutFlags => {
  const raw: Record<string, unknown> = {}
  const set = (field: string, value: unknown) => value !== undefined && (raw[field] = value)
  set("timeout", integerFlag(args, "timeout", command))
  set("parallelism", integerFlag(args, "par", command))
  if (bool(args, "migrate")) raw["migrate"] = true
  if (bool(args, "overlap")) raw["overlap"] = true
  set("token", str(args, "token"))
  if (bool(args, "ignore-failures")) raw["ignoreFailures"] = true
  if (bool(args, "auto-revert")) raw["autoRevert"] = true
  set("maxFailures", integerFlag(args, "max-failures", command))
  set("failureRatio", numberFlag(args, "failure-ratio", command))
  set("canary", integerFlag(args, "canary", command))
  const decoded = decodeInput(RolloutFlags, raw)
  if (Result.isFailure(decoded)) {
    const first = decoded.failure[0]!
    const flag = FLAG_OF[first.field]
    const given = flag === undefined || flag === "token" ? undefined : str(args, flag)
    throw usageOf(command)(`option --${flag ?? first.field}: ${first.message}${given !== undefined ? `, got '${given}'` : ""}`)
  }
  return decoded.success
}

/** `--check-position P`, decoded with the request's schema (an integer >= 0). */
export const checkPositionFromArgs = (args: ParsedArgs): number | undefined => {
  const p = integerFlag(args, "check-position", NAME)
  if (p === undefined) return undefined
  const decoded = decodeInput(Schema.Struct({ checkPosition: RollingUpdateRequest.fields.checkPosition }), { checkPosition: p })
  if (Result.isFailure(decoded)) throw usage(`option --check-position: ${decoded.failure[0]!.message}, got '${str(args, "check-position")}'`)
  return p
}

/** `Rolling update started: GROUP -> JOB (parallelism=…, timeout=…, overlap=…, token=…, ignoreFailures=…, migrate=…)`, as Helios (then our options, when set). */
export const rolloutStartedLine = (group: string, jobId: string, o: RolloutOptionsJson, async: boolean): string =>
  `Rolling update${async ? " (async)" : ""} started: ${group} -> ${shortJobId(jobId)} (${optionsText(o)})`

/**
 * `HOST -> RUNNING (i/N)` for each host that now runs the rollout's job and was not reported
 * before (added to `reported`); N is the number of UP hosts in the group.
 */
export const progressLines = (status: DeploymentGroupStatusJson, jobId: string, reported: Set<string>): string[] => {
  const lines: string[] = []
  for (const h of status.hostStatuses) {
    if (h.jobId !== jobId || h.state !== "RUNNING" || reported.has(h.host)) continue
    reported.add(h.host)
    lines.push(`${h.host} -> RUNNING (${reported.size}/${status.hostStatuses.length})`)
  }
  return lines
}

export type RolloutResult =
  | { readonly status: "DONE" }
  | { readonly status: "FAILED"; readonly error: string }
  /** A canary's hosts run the job: the rollout waits for `promote` (or `rollback`). */
  | { readonly status: "AWAITING_PROMOTION"; readonly group: string; readonly jobId: string }
  /** FAILED, and the master started rolling back automatically (autoRevert) to rollout `rollbackTo`. */
  | { readonly status: "REVERTED"; readonly error: string; readonly rollback: { readonly number: number; readonly rollbackTo: number; readonly jobId: string } }
  | { readonly status: "TIMEOUT" }
  /** Ctrl-C: we stopped waiting; the rollout goes on. */
  | { readonly status: "INTERRUPTED" }

/** Time as the wait sees it (tests pass a fake one). */
export interface WaitClock {
  now(): number
  /** Waits `ms`, or less if `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>
}

export const SYSTEM_CLOCK: WaitClock = { now: () => Date.now(), sleep }

export interface AwaitRolloutOptions {
  readonly fetchStatus: (signal: AbortSignal) => Promise<DeploymentGroupStatusJson>
  readonly jobId: string
  /** When the command started (clock time); the rollout timeout runs from it. */
  readonly startedAt: number
  readonly rolloutTimeoutMs: number
  readonly pollIntervalMs: number
  readonly clock: WaitClock
  readonly signal: AbortSignal
  readonly onProgress: (line: string) => void
  /**
   * The group's job is no longer the rollout's: what became of the rollout (it FAILED and was
   * reverted automatically...), or undefined when it was simply replaced by another rollout.
   */
  readonly whenJobChanged?: (signal: AbortSignal) => Promise<RolloutResult | undefined>
}

/**
 * Polls the group's status until its rollout is no longer ROLLING_OUT: DONE (ACTIVE), FAILED with
 * the group's error, AWAITING_PROMOTION (a canary's hosts are done), REVERTED or FAILED when the
 * group's job changed underneath (an automatic rollback, another rolling update), FAILED when the
 * status cannot be read, TIMEOUT after `rolloutTimeoutMs`, INTERRUPTED on abort.
 */
export const awaitRollout = async (o: AwaitRolloutOptions): Promise<RolloutResult> => {
  const reported = new Set<string>()
  for (;;) {
    if (o.signal.aborted) return { status: "INTERRUPTED" }
    let status: DeploymentGroupStatusJson
    try {
      status = await o.fetchStatus(o.signal)
    } catch (e) {
      if (o.signal.aborted) return { status: "INTERRUPTED" }
      if (e instanceof CliError) return { status: "FAILED", error: `Failed to fetch deployment-group status: ${e.message}` }
      throw e
    }
    if (status.deploymentGroup.jobId !== o.jobId) {
      const why = await o.whenJobChanged?.(o.signal).catch((e: unknown) => {
        if (e instanceof CliError) return undefined
        throw e
      })
      if (o.signal.aborted) return { status: "INTERRUPTED" }
      return why ?? { status: "FAILED", error: "Deployment-group job id changed during rolling-update" }
    }
    for (const line of progressLines(status, o.jobId, reported)) o.onProgress(line)
    switch (status.status) {
      case "ROLLING_OUT":
        break
      case "AWAITING_PROMOTION":
        return { status: "AWAITING_PROMOTION", group: status.deploymentGroup.name, jobId: o.jobId }
      case "ACTIVE":
        return { status: "DONE" }
      case "FAILED":
        return { status: "FAILED", error: status.error ?? "rollout failed" }
      default:
        // IDLE (no rollout), or a status a newer master added: not taken for done (exit 0) unseen.
        return { status: "FAILED", error: `the deployment group's status is ${status.status}, which this helios cannot take for done: see helios deployment-group-status ${status.deploymentGroup.name}` }
    }
    if (o.clock.now() - o.startedAt > o.rolloutTimeoutMs) return { status: "TIMEOUT" }
    await o.clock.sleep(o.pollIntervalMs, o.signal)
  }
}

/**
 * What became of rollout `number` of `group` once the group's job changed: REVERTED when it
 * FAILED and the master's automatic rollback followed it, FAILED (with its error, from its replay)
 * when it failed otherwise, undefined when it did not fail (another rollout replaced it).
 */
export const afterJobChanged = async (client: HeliosClient, group: string, number: number, signal: AbortSignal): Promise<RolloutResult | undefined> => {
  const { rollouts } = await fetchRollouts(client, group, signal)
  const mine = rollouts.find((r) => r.number === number)
  if (mine?.status !== "FAILED") return undefined
  const error = (await fetchReplay(client, group, number)).error ?? "rollout failed"
  const next = rollouts.find((r) => r.number === number + 1)
  if (next !== undefined && next.reason === "ROLLBACK" && next.rollbackTo !== undefined && next.actor.startsWith("master:"))
    return { status: "REVERTED", error, rollback: { number: next.number, rollbackTo: next.rollbackTo, jobId: next.jobId } }
  return { status: "FAILED", error }
}

/** The outcome line: for stdout when DONE or AWAITING_PROMOTION, else for stderr. */
export const outcomeText = (r: RolloutResult): string => {
  switch (r.status) {
    case "DONE":
      return "Done."
    case "AWAITING_PROMOTION":
      return (
        `Awaiting promotion: the canary hosts run ${shortJobId(r.jobId)}; ` +
        `run "helios promote ${r.group}" to continue or "helios rollback ${r.group}" to undo.`
      )
    case "FAILED":
    case "REVERTED":
      return `Failed: ${r.error}`
    case "TIMEOUT":
      return "Timed out! (rolling-update still in progress)"
    case "INTERRUPTED":
      return "Interrupted! (rolling-update still in progress)"
  }
}

/** After a REVERTED outcome: what the master does about it. */
export const revertText = (r: { readonly rollback: { readonly rollbackTo: number; readonly jobId: string } }): string =>
  `Rolling back automatically to rollout ${r.rollback.rollbackTo} (${shortJobId(r.rollback.jobId)})`

export const durationText = (ms: number): string => `Duration: ${(ms / 1000).toFixed(2)} s`

/** The JSON fields of a rollout's options (ours only when set), as rolling-update --json prints them. */
export const optionsJson = (o: RolloutOptionsJson): Record<string, unknown> => ({
  parallelism: o.parallelism,
  timeout: o.timeout,
  overlap: o.overlap,
  token: o.token ?? "",
  ignoreFailures: o.ignoreFailures,
  migrate: o.migrate,
  ...(o.canary !== undefined ? { canary: o.canary } : {}),
  ...(o.autoRevert !== undefined ? { autoRevert: o.autoRevert } : {}),
  ...(o.maxFailures !== undefined ? { maxFailures: o.maxFailures } : {}),
  ...(o.failureRatio !== undefined ? { failureRatio: o.failureRatio } : {}),
})

export interface FollowOptions {
  readonly group: string
  readonly jobId: string
  /** The rollout's number, when known: lets the wait tell an automatic rollback from a replacement. */
  readonly number: number | undefined
  /** Clock time when the command started. */
  readonly startedAt: number
  /** The first line (text output). */
  readonly startedLine: string
  /** The status the master answered the write with (what --async --json prints). */
  readonly startStatus: string
  /** The fields --json prints besides the status, error and duration. */
  readonly summary: Readonly<Record<string, unknown>>
}

/**
 * What rolling-update, rollback and promote do once the master accepted: print the started line,
 * then (unless --async) follow the group's status every poll, printing each host as it reaches
 * RUNNING, until the rollout is ACTIVE (Done.), awaits promotion, FAILED (reverted or not), or
 * --rollout-timeout minutes passed; then the duration. Exit 0 for Done. and a canary awaiting
 * promotion, else 1 (the reason as one line on stderr).
 */
export const followRollout = async (ctx: Context, clock: WaitClock, pollIntervalMs: number, o: FollowOptions): Promise<number> => {
  const rolloutTimeoutMin = intFlag(ctx.args, "rollout-timeout", ctx.command, 1, Math.floor(MAX_TIMER_SECONDS / 60)) ?? 60
  const client = ctx.client()
  if (!ctx.json) ctx.print(o.startedLine)
  if (bool(ctx.args, "async")) {
    if (ctx.json) ctx.printJson({ status: o.startStatus, ...o.summary })
    return 0
  }
  if (!ctx.json) ctx.print()
  const number = o.number
  const result = await awaitRollout({
    fetchStatus: (signal) => fetchGroupStatus(client, o.group, signal),
    jobId: o.jobId,
    startedAt: o.startedAt,
    rolloutTimeoutMs: rolloutTimeoutMin * 60_000,
    pollIntervalMs,
    clock,
    signal: ctx.io.signal,
    onProgress: (line) => !ctx.json && ctx.print(line),
    ...(number !== undefined ? { whenJobChanged: (signal: AbortSignal) => afterJobChanged(client, o.group, number, signal) } : {}),
  })
  const durationMs = clock.now() - o.startedAt
  const ok = result.status === "DONE" || result.status === "AWAITING_PROMOTION"
  if (ctx.json)
    ctx.printJson({
      status: result.status === "REVERTED" ? "FAILED" : result.status,
      error: result.status === "FAILED" || result.status === "REVERTED" ? result.error : null,
      ...(result.status === "REVERTED" ? { revert: { rollout: result.rollback.number, rollbackTo: result.rollback.rollbackTo, job: result.rollback.jobId } } : {}),
      duration: durationMs / 1000,
      ...o.summary,
    })
  else {
    ctx.print()
    if (ok) ctx.print(outcomeText(result))
  }
  // A failure is one line on stderr (as every failure of `helios`), the duration on stdout.
  if (!ok) ctx.io.stderr(outcomeText(result) + "\n")
  if (result.status === "REVERTED" && !ctx.json) ctx.print(revertText(result))
  if (!ctx.json) ctx.print(durationText(durationMs))
  return ok ? 0 : 1
}

/** Whether a request carries rollout options at all (Helios sends none when no flag is given). */
const withOptions = (options: object) => (Object.keys(options).length > 0 ? { rolloutOptions: options } : {})

/**
 * `--plan`: what the rolling update would do now, written nowhere: the master's plan, and for
 * each step what it undeploys and deploys on its host (from the hosts' deployments).
 */
const printPlan = async (ctx: Context, group: string, body: Record<string, unknown>): Promise<number> => {
  const client = ctx.client()
  const plan = await aboutGroup(group, client.requestDecoded("POST", groupPath(group, "/plan"), Plan, { body }))
  if (ctx.json) {
    ctx.printJson(plan)
    return 0
  }
  const hosts = [...new Set(plan.steps.map((s) => s.host))]
  const statuses = hosts.length === 0 ? {} : await client.statusesOf("/hosts/statuses", HostStatuses, hosts)
  const deployments: Record<string, HostDeployment[]> = Object.fromEntries(Object.entries(statuses).map(([h, st]) => [h, Object.values(st.jobs)]))
  for (const line of planLines(plan, deployments, bool(ctx.args, "full"))) ctx.print(line)
  return 0
}

/** The rolling update, refused with the master's first changes when something changed after --check-position. */
const startRollingUpdate = async (ctx: Context, client: HeliosClient, group: string, body: Record<string, unknown>) => {
  try {
    return await aboutGroup(group, client.requestDecoded("POST", groupPath(group, "/rolling-update"), Started, { body }))
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== "CHANGED_SINCE_POSITION") throw e
    const refusal = e.body as ChangedSincePositionJson
    if (!ctx.json) for (const line of changeLines(refusal)) ctx.print(line)
    throw new CliError(refusal.message, refusal as unknown as Record<string, unknown>)
  }
}

/** Runs the verb with the given clock and poll interval (the command passes the system's and 1 s). */
export const rollingUpdate = async (ctx: Context, clock: WaitClock, pollIntervalMs: number): Promise<number> => {
  const options = rolloutOptionsFromArgs(ctx.args)
  const checkPosition = checkPositionFromArgs(ctx.args)
  intFlag(ctx.args, "rollout-timeout", NAME, 1, Math.floor(MAX_TIMER_SECONDS / 60))
  const plan = bool(ctx.args, "plan")
  if (plan && checkPosition !== undefined) throw usage("--plan and --check-position do not go together: plan first, then run with --check-position")
  const async = bool(ctx.args, "async")
  const group = pos(ctx.args, "GROUP")!
  const client = ctx.client()
  const jobId = await resolveJob(client, pos(ctx.args, "JOB")!)
  const body = { job: jobId, ...withOptions(options) }
  if (plan) return printPlan(ctx, group, body)
  const startedAt = clock.now()
  const started = await startRollingUpdate(ctx, client, group, { ...body, ...(checkPosition !== undefined ? { checkPosition } : {}) })
  // The rollout this started, with the options it runs with: the flags', else the job's, else the defaults (merged by the master).
  const rollout = rolloutAt(await fetchRollouts(client, group), started.position)
  const fetched = rollout?.options ?? { ...DEFAULT_ROLLOUT_OPTIONS, ...options }
  // A master never shows a token in its reads: the one given here, else none shown.
  const merged = { ...fetched, token: fetched.token ?? options.token ?? "" }
  return followRollout(ctx, clock, pollIntervalMs, {
    group,
    jobId,
    number: rollout?.number,
    startedAt,
    startedLine: rolloutStartedLine(group, jobId, merged, async),
    startStatus: started.status,
    summary: { ...optionsJson(merged), name: group, job: jobId, ...(rollout ? { rollout: rollout.number } : {}) },
  })
}

/** The flags of rolling-update that rollback takes too (a rollback is a rolling update back). */
export const ROLLOUT_FLAGS: ReadonlyArray<FlagSpec> = [
  { name: "timeout", short: "t", type: "string", metavar: "S", help: "fail the rollout if a step takes longer than this (seconds; default: the job's, else 300)" },
  { name: "par", short: "p", type: "string", metavar: "N", help: "number of hosts to update at a time (default: the job's, else 1)" },
  { name: "migrate", type: "boolean", help: "also replace deployments of this job made by hand (use once, when moving a job to a group)" },
  { name: "overlap", type: "boolean", help: "on each host, start the new job before undeploying the old one (needs no static ports)" },
  { name: "token", type: "string", metavar: "TOKEN", help: "the job's access token" },
  { name: "ignore-failures", type: "boolean", help: "go on to every host whatever fails (careful: a broken job reaches every host)" },
  { name: "max-failures", type: "string", metavar: "N", help: "go on past failed steps until more than N failed" },
  { name: "failure-ratio", type: "string", metavar: "F", help: "go on past failed steps until more than this fraction (0..1) of the hosts failed" },
]

/** Waiting: --async and --rollout-timeout (rolling-update, rollback, promote). */
export const WAIT_FLAGS: ReadonlyArray<FlagSpec> = [
  { name: "async", type: "boolean", help: "do not wait for the rollout to finish" },
  {
    name: "rollout-timeout",
    short: "T",
    type: "string",
    metavar: "MIN",
    help: "stop waiting after this many minutes (default 60); the rollout itself goes on",
  },
]

const command: Command = {
  name: NAME,
  summary: "roll a job out to a deployment group's hosts, a few at a time",
  usage: "JOB GROUP",
  description:
    "Each option not given is taken from the job's rolloutOptions, else Helios's default (timeout 300 s, parallelism 1).\n" +
    "Prints 'Rolling update started: GROUP -> JOB (...)', then 'HOST -> RUNNING (i/N)' as hosts get there, then\n" +
    "'Done.' (exit 0), 'Failed: <error>' or 'Timed out! (rolling-update still in progress)' (exit 1), and the duration.\n" +
    "With --canary N: 'Awaiting promotion: ...' (exit 0) once the first N hosts run the job; then 'helios promote GROUP'\n" +
    "or 'helios rollback GROUP'. With --auto-revert, a failed rollout is rolled back at once by the master\n" +
    "('Rolling back automatically to rollout N (JOB)'). --plan prints the steps and the log position they were planned\n" +
    "at, changing nothing; --check-position P then refuses to start if the group, its hosts or their deployments changed after P.",
  positionals: [
    { name: "JOB", required: true },
    { name: "GROUP", required: true },
  ],
  flags: [
    ROLLOUT_FLAGS[0]!,
    ROLLOUT_FLAGS[1]!,
    ...WAIT_FLAGS,
    ...ROLLOUT_FLAGS.slice(2),
    { name: "canary", type: "string", metavar: "N", help: "update the first N hosts only, then wait for 'helios promote GROUP' (or 'helios rollback GROUP')" },
    { name: "auto-revert", type: "boolean", help: "if the rollout fails, roll back at once to the group's last successful rollout" },
    { name: "plan", type: "boolean", help: "print what the rolling update would do and the log position it was planned at; change nothing" },
    { name: "check-position", type: "string", metavar: "P", help: "refuse if the group, its hosts or their deployments changed after log position P (from --plan)" },
    { name: "full", short: "f", type: "boolean", help: "full job ids in --plan" },
  ],
  run: (ctx) => rollingUpdate(ctx, SYSTEM_CLOCK, 1000),
}

export default command
