import { bool, intFlag, pos, MAX_TIMER_SECONDS } from "../args.ts"
import type { Command } from "../command.ts"
import { fetchGroupStatus, groupStatusText } from "../deployment-group.ts"
import { CliError } from "../errors.ts"
import { formatTimestamp } from "../output.ts"
import { sleep } from "./watch.ts"

/** Helios's separator: dashes, then the time, 80 characters in all. */
export const watchSeparator = (now: number): string => `${"-".repeat(54)} [${formatTimestamp(now, true).slice(0, 19)} UTC]`

const command: Command = {
  name: "watch-deployment-group",
  summary: "show a deployment group's status every --interval seconds until Ctrl-C",
  usage: "NAME",
  description: "The output of deployment-group-status under a timestamped separator (with --json: one JSON object per line).",
  positionals: [{ name: "NAME", required: true }],
  flags: [
    { name: "full", short: "f", type: "boolean", help: "full job ids" },
    { name: "interval", type: "string", metavar: "S", help: "seconds between updates (default 1)" },
  ],
  async run(ctx) {
    const name = pos(ctx.args, "NAME")!
    const intervalS = intFlag(ctx.args, "interval", "watch-deployment-group", 1, MAX_TIMER_SECONDS) ?? 1
    const full = bool(ctx.args, "full")
    const { signal } = ctx.io
    const client = ctx.client()
    if (!ctx.json) ctx.print("Control-C to stop")
    while (!signal.aborted) {
      const now = Date.now()
      try {
        const status = await fetchGroupStatus(client, name, signal)
        if (ctx.json) ctx.io.stdout(JSON.stringify({ timestamp: now, ...status }) + "\n")
        else {
          ctx.print(watchSeparator(now))
          ctx.io.stdout(groupStatusText(name, status, full))
        }
      } catch (e) {
        if (signal.aborted) break
        // An unknown group ends the watch (exit 1); a master that cannot be reached for a moment does not.
        if (!(e instanceof CliError) || (e.json as { status?: unknown } | undefined)?.status === "DEPLOYMENT_GROUP_NOT_FOUND") throw e
        ctx.io.stderr(`${e.message}\n`)
      }
      await sleep(intervalS * 1000, signal)
    }
    return 0
  },
}

export default command
