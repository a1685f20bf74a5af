import { shortJobId } from "../../core/job-id-text.ts"
import { bool, intFlag, pos, posList, MAX_TIMER_SECONDS } from "../args.ts"
import type { Command, Context } from "../command.ts"
import { CliError } from "../errors.ts"
import { formatTimestamp } from "../output.ts"
import { resolveJob } from "../resolve.ts"
import { OneJobStatus } from "../answers.ts"

const chop = (s: string, n: number) => (s.length <= n ? s : s.slice(0, n))

/** Waits `ms`, or less if `signal` aborts. */
export const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener("abort", done, { once: true })
  })

/**
 * Prints the job's state on the given hosts every `intervalS` seconds until Ctrl-C, in Helios's
 * fixed-width layout (NDJSON with --json). `hosts` are prefixes, or exact names with `exact`
 * (UNKNOWN when the host has no status). Returns 0 when interrupted.
 */
export const watchJob = async (
  ctx: Context,
  jobId: string,
  hosts: ReadonlyArray<string>,
  options: { readonly intervalS: number; readonly exact: boolean },
): Promise<number> => {
  const { signal } = ctx.io
  const client = ctx.client()
  if (!ctx.json) {
    ctx.print("Control-C to stop")
    ctx.print("JOB                  HOST                           STATE    THROTTLED?")
  }
  while (!signal.aborted) {
    const now = Date.now()
    let rows: Array<{ host: string; state: string; throttled: string; containerId: string | null }> = []
    try {
      const status = await client.getDecoded(`/jobs/${encodeURIComponent(jobId)}/status`, OneJobStatus, {}, { signal })
      const tasks = status.taskStatuses
      rows = options.exact
        ? hosts.map((host) => ({ host, state: tasks[host]?.state ?? "UNKNOWN", throttled: tasks[host]?.throttled ?? "UNKNOWN", containerId: tasks[host]?.containerId ?? null }))
        : Object.keys(tasks)
            .sort()
            .filter((host) => hosts.length === 0 || hosts.some((prefix) => host.startsWith(prefix)))
            .map((host) => ({ host, state: tasks[host]!.state, throttled: tasks[host]!.throttled, containerId: tasks[host]!.containerId }))
    } catch (e) {
      if (signal.aborted) break
      if (!(e instanceof CliError)) throw e
      ctx.io.stderr(`${e.message}\n`)
    }
    if (ctx.json) ctx.io.stdout(JSON.stringify({ timestamp: now, job: jobId, hosts: Object.fromEntries(rows.map(({ host, ...r }) => [host, r])) }) + "\n")
    else {
      ctx.print(`-------------------- ------------------------------ -------- ---------- [${formatTimestamp(now, true).slice(0, 19)} UTC]`)
      for (const r of rows) ctx.print(`${chop(shortJobId(jobId), 20).padEnd(20)} ${chop(r.host, 30).padEnd(30)} ${r.state.padEnd(8)} ${r.throttled}`)
    }
    await sleep(options.intervalS * 1000, signal)
  }
  return 0
}

const command: Command = {
  name: "watch",
  summary: "watch a job's state on hosts until Ctrl-C",
  usage: "JOB [HOST-PREFIX...]",
  description: "Prints the job's state and throttle on each host (all hosts it is deployed on by default) every --interval seconds.",
  positionals: [
    { name: "JOB", required: true },
    { name: "HOST", variadic: true },
  ],
  flags: [
    { name: "interval", type: "string", metavar: "S", help: "seconds between updates (default 1)" },
    { name: "exact", type: "boolean", help: "show exactly the hosts given (UNKNOWN when the job has no status there)" },
  ],
  async run(ctx) {
    const interval = intFlag(ctx.args, "interval", "watch", 1, MAX_TIMER_SECONDS) ?? 1
    const jobId = await resolveJob(ctx.client(), pos(ctx.args, "JOB")!)
    return watchJob(ctx, jobId, posList(ctx.args, "HOST"), { intervalS: interval, exact: bool(ctx.args, "exact") })
  },
}

export default command
