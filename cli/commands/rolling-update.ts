import { Result } from "effect"
import { decodeInput } from "../../core/decode.ts"
import { DEFAULT_ROLLOUT_OPTIONS, type MergedRolloutOptions } from "../../core/deployment-group.ts"
import { shortJobId } from "../../core/job-id.ts"
import { RolloutOptions } from "../../core/job.ts"
import { bool, intFlag, pos, str, UsageError, type ParsedArgs } from "../args.ts"
import type { Command, Context } from "../command.ts"
import { aboutGroup, fetchGroup, fetchGroupStatus, groupPath } from "../deployment-group.ts"
import { CliError } from "../errors.ts"
import { resolveJob } from "../resolve.ts"
import type { DeploymentGroupStatusJson } from "../wire.ts"
import { sleep } from "./watch.ts"

/*
 * `helios rolling-update JOB GROUP`: starts the rollout of JOB to the group's hosts, then (unless
 * --async) follows the group's status every second, printing each host as it reaches RUNNING
 * with the job, until the rollout is ACTIVE (Done.), FAILED, or --rollout-timeout minutes passed
 * (the rollout goes on without us). As Helios's RollingUpdateCommand.
 */

const NAME = "rolling-update"

/** How the flags name the request's fields in errors. */
const FLAG_OF: Readonly<Record<string, string>> = { timeout: "--timeout", parallelism: "--par", token: "--token" }

const usage = (message: string) => new UsageError(`helios ${NAME}: ${message} (see 'helios ${NAME} --help')`)

/** An integer flag as a number (range checks are the schema's); a non-integer is a usage error naming the flag. */
const integerFlag = (args: ParsedArgs, name: string, flag: string): number | undefined => {
  const v = str(args, name)
  if (v === undefined) return undefined
  if (!/^[-+]?\d+$/.test(v.trim())) throw usage(`option ${flag}: expected an integer, got '${v}'`)
  return Number(v)
}

/**
 * The rollout options the flags set (only those given: the master takes the others from the
 * job's rolloutOptions, then Helios's defaults), decoded with the API's schema, so `--par 0` is
 * refused here, naming the flag, before anything is sent.
 */
export const rolloutOptionsFromArgs = (args: ParsedArgs): RolloutOptions => {
  const raw: Record<string, unknown> = {}
  const timeout = integerFlag(args, "timeout", "--timeout")
  const parallelism = integerFlag(args, "par", "--par")
  const token = str(args, "token")
  if (timeout !== undefined) raw["timeout"] = timeout
  if (parallelism !== undefined) raw["parallelism"] = parallelism
  if (bool(args, "migrate")) raw["migrate"] = true
  if (bool(args, "overlap")) raw["overlap"] = true
  if (token !== undefined) raw["token"] = token
  if (bool(args, "ignore-failures")) raw["ignoreFailures"] = true
  const decoded = decodeInput(RolloutOptions, raw)
  if (Result.isFailure(decoded)) {
    const first = decoded.failure[0]!
    const flag = FLAG_OF[first.field] ?? first.field
    const given = first.field === "timeout" ? str(args, "timeout") : first.field === "parallelism" ? str(args, "par") : undefined
    throw usage(`option ${flag}: ${first.message}${given !== undefined ? `, got '${given}'` : ""}`)
  }
  return decoded.success
}

/** `Rolling update started: GROUP -> JOB (parallelism=…, timeout=…, overlap=…, token=…, ignoreFailures=…, migrate=…)`, as Helios. */
export const rolloutStartedLine = (group: string, jobId: string, o: MergedRolloutOptions, async: boolean): string =>
  `Rolling update${async ? " (async)" : ""} started: ${group} -> ${shortJobId(jobId)} ` +
  `(parallelism=${o.parallelism}, timeout=${o.timeout}, overlap=${o.overlap}, token=${o.token}, ignoreFailures=${o.ignoreFailures}, migrate=${o.migrate})`

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
}

/**
 * Polls the group's status until its rollout is no longer ROLLING_OUT: DONE (ACTIVE), FAILED with
 * the group's error, FAILED when the group's job changed underneath (another rolling update) or
 * the status cannot be read, TIMEOUT after `rolloutTimeoutMs`, INTERRUPTED on abort.
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
    if (status.deploymentGroup.jobId !== o.jobId) return { status: "FAILED", error: "Deployment-group job id changed during rolling-update" }
    for (const line of progressLines(status, o.jobId, reported)) o.onProgress(line)
    if (status.status !== "ROLLING_OUT")
      return status.status === "FAILED" ? { status: "FAILED", error: status.error ?? "rollout failed" } : { status: "DONE" }
    if (o.clock.now() - o.startedAt > o.rolloutTimeoutMs) return { status: "TIMEOUT" }
    await o.clock.sleep(o.pollIntervalMs, o.signal)
  }
}

/** The last line(s) of the text output: the outcome (for stderr unless DONE) and `Duration: X s`. */
export const outcomeText = (r: RolloutResult): string => {
  switch (r.status) {
    case "DONE":
      return "Done."
    case "FAILED":
      return `Failed: ${r.error}`
    case "TIMEOUT":
      return "Timed out! (rolling-update still in progress)"
    case "INTERRUPTED":
      return "Interrupted! (rolling-update still in progress)"
  }
}

export const durationText = (ms: number): string => `Duration: ${(ms / 1000).toFixed(2)} s`

/** Runs the verb with the given clock and poll interval (the command passes the system's and 1 s). */
export const rollingUpdate = async (ctx: Context, clock: WaitClock, pollIntervalMs: number): Promise<number> => {
  const options = rolloutOptionsFromArgs(ctx.args)
  const rolloutTimeoutMin = intFlag(ctx.args, "rollout-timeout", NAME, 1) ?? 60
  const async = bool(ctx.args, "async")
  const group = pos(ctx.args, "GROUP")!
  const client = ctx.client()
  const jobId = await resolveJob(client, pos(ctx.args, "JOB")!)
  const startedAt = clock.now()
  const started = await aboutGroup(
    group,
    client.request<{ status: string; position?: number }>("POST", groupPath(group, "/rolling-update"), {
      body: { job: jobId, ...(Object.keys(options).length > 0 ? { rolloutOptions: options } : {}) },
    }),
  )
  // The options the rollout runs with: the flags', else the job's, else the defaults (merged by the master).
  const fetched = (await fetchGroup(client, group)).rolloutOptions ?? { ...DEFAULT_ROLLOUT_OPTIONS, ...options }
  // A master never shows a token in its reads: the one given here, else none shown.
  const merged = { ...fetched, token: fetched.token ?? (typeof options["token"] === "string" ? options["token"] : "") }
  const summary = {
    parallelism: merged.parallelism,
    timeout: merged.timeout,
    overlap: merged.overlap,
    token: merged.token,
    ignoreFailures: merged.ignoreFailures,
    migrate: merged.migrate,
    name: group,
    job: jobId,
  }
  if (!ctx.json) ctx.print(rolloutStartedLine(group, jobId, merged, async))
  if (async) {
    if (ctx.json) ctx.printJson({ status: started.status, ...summary })
    return 0
  }
  if (!ctx.json) ctx.print()
  const result = await awaitRollout({
    fetchStatus: (signal) => fetchGroupStatus(client, group, signal),
    jobId,
    startedAt,
    rolloutTimeoutMs: rolloutTimeoutMin * 60_000,
    pollIntervalMs,
    clock,
    signal: ctx.io.signal,
    onProgress: (line) => !ctx.json && ctx.print(line),
  })
  const durationMs = clock.now() - startedAt
  const ok = result.status === "DONE"
  if (ctx.json) ctx.printJson({ status: result.status, error: result.status === "FAILED" ? result.error : null, duration: durationMs / 1000, ...summary })
  else {
    ctx.print()
    if (ok) ctx.print(outcomeText(result))
  }
  // A failure is one line on stderr (as every failure of `helios`), the duration on stdout.
  if (!ok) ctx.io.stderr(outcomeText(result) + "\n")
  if (!ctx.json) ctx.print(durationText(durationMs))
  return ok ? 0 : 1
}

const command: Command = {
  name: NAME,
  summary: "roll a job out to a deployment group's hosts, a few at a time",
  usage: "JOB GROUP",
  description:
    "Each option not given is taken from the job's rolloutOptions, else Helios's default (timeout 300 s, parallelism 1).\n" +
    "Prints 'Rolling update started: GROUP -> JOB (...)', then 'HOST -> RUNNING (i/N)' as hosts get there, then\n" +
    "'Done.' (exit 0), 'Failed: <error>' or 'Timed out! (rolling-update still in progress)' (exit 1), and the duration.",
  positionals: [
    { name: "JOB", required: true },
    { name: "GROUP", required: true },
  ],
  flags: [
    { name: "timeout", short: "t", type: "string", metavar: "S", help: "fail the rollout if a step takes longer than this (seconds; default: the job's, else 300)" },
    { name: "par", short: "p", type: "string", metavar: "N", help: "number of hosts to update at a time (default: the job's, else 1)" },
    { name: "async", type: "boolean", help: "do not wait for the rolling update to finish" },
    {
      name: "rollout-timeout",
      short: "T",
      type: "string",
      metavar: "MIN",
      help: "stop waiting after this many minutes (default 60); the rollout itself goes on",
    },
    { name: "migrate", type: "boolean", help: "also replace deployments of this job made by hand (use once, when moving a job to a group)" },
    { name: "overlap", type: "boolean", help: "on each host, start the new job before undeploying the old one (needs no static ports)" },
    { name: "token", type: "string", metavar: "TOKEN", help: "the job's access token" },
    { name: "ignore-failures", type: "boolean", help: "go on to every host whatever fails (careful: a broken job reaches every host)" },
  ],
  run: (ctx) => rollingUpdate(ctx, SYSTEM_CLOCK, 1000),
}

export default command
