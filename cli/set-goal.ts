import type { Goal } from "../core/ids.ts"
import { pos, posList, str } from "./args.ts"
import type { Command } from "./command.ts"
import { bracketList } from "./output.ts"
import { forEachHost, hostJobPath, tokenQuery } from "./per-host.ts"
import { resolveHosts, resolveJob } from "./resolve.ts"
import { Acknowledged } from "./answers.ts"

/** `start` and `stop`: set a deployment's goal on each host (PATCH). */
export const setGoalCommand = (name: "start" | "stop", goal: Goal, verbing: string): Command => ({
  name,
  summary: `${name} a deployed job on hosts (set its goal to ${goal})`,
  usage: "JOB HOST...",
  description: `Prints '${verbing} <job> on [hosts]', then 'HOST: done' for each host.`,
  positionals: [
    { name: "JOB", required: true },
    { name: "HOST", required: true, variadic: true },
  ],
  flags: [{ name: "token", type: "string", metavar: "TOKEN", help: "the job's access token" }],
  async run(ctx) {
    const client = ctx.client()
    const jobId = await resolveJob(client, pos(ctx.args, "JOB")!)
    const hosts = await resolveHosts(client, posList(ctx.args, "HOST"))
    if (!ctx.json) ctx.print(`${verbing} ${jobId} on ${bracketList(hosts)}`)
    return forEachHost(ctx, jobId, hosts, (host) =>
      client.requestDecoded("PATCH", hostJobPath(host, jobId), Acknowledged, { query: tokenQuery(str(ctx.args, "token")), body: { job: jobId, goal } }),
    )
  },
})
