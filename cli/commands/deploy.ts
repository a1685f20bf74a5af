import { bool, intFlag, pos, posList, str, MAX_TIMER_SECONDS } from "../args.ts"
import type { Command } from "../command.ts"
import { bracketList } from "../output.ts"
import { forEachHost, hostJobPath, tokenQuery } from "../per-host.ts"
import { resolveHosts, resolveJob } from "../resolve.ts"
import { watchJob } from "./watch.ts"
import { Acknowledged } from "../answers.ts"

const command: Command = {
  name: "deploy",
  summary: "deploy a job to hosts",
  usage: "JOB HOST...",
  description: "Prints 'Deploying <job>|<goal> on [hosts]', then 'HOST: done' for each host.",
  positionals: [
    { name: "JOB", required: true },
    { name: "HOST", required: true, variadic: true },
  ],
  flags: [
    { name: "no-start", type: "boolean", help: "deploy with goal STOP (do not start the container)" },
    { name: "watch", type: "boolean", help: "then watch the job's state on these hosts until Ctrl-C" },
    { name: "interval", type: "string", metavar: "S", help: "with --watch: seconds between updates (default 1)" },
    { name: "token", type: "string", metavar: "TOKEN", help: "the job's access token" },
  ],
  async run(ctx) {
    const client = ctx.client()
    const jobId = await resolveJob(client, pos(ctx.args, "JOB")!)
    const hosts = await resolveHosts(client, posList(ctx.args, "HOST"))
    const interval = intFlag(ctx.args, "interval", "deploy", 1, MAX_TIMER_SECONDS) ?? 1
    const goal = bool(ctx.args, "no-start") ? "STOP" : "START"
    if (!ctx.json) ctx.print(`Deploying ${jobId}|${goal} on ${bracketList(hosts)}`)
    const code = await forEachHost(ctx, jobId, hosts, (host) =>
      client.requestDecoded("PUT", hostJobPath(host, jobId), Acknowledged, { query: tokenQuery(str(ctx.args, "token")), body: { job: jobId, goal } }),
    )
    if (code !== 0 || !bool(ctx.args, "watch")) return code
    return watchJob(ctx, jobId, hosts, { intervalS: interval, exact: true })
  },
}

export default command
