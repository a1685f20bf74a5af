import { bool, pos, posList, str } from "../args.ts"
import type { Command } from "../command.ts"
import { CliError } from "../errors.ts"
import { bracketList } from "../output.ts"
import { forEachHost, hostJobPath, tokenQuery } from "../per-host.ts"
import { resolveHosts, resolveJob } from "../resolve.ts"
import { Acknowledged, OneJobStatus } from "../answers.ts"

const command: Command = {
  name: "undeploy",
  summary: "undeploy a job from hosts",
  usage: "JOB [HOST...]",
  description:
    "Prints 'Undeploying <job> from [hosts]', then 'HOST: done' for each host. With --all it asks for\n" +
    "confirmation first; without a terminal to ask on, pass --yes.",
  positionals: [
    { name: "JOB", required: true },
    { name: "HOST", variadic: true },
  ],
  flags: [
    { name: "all", short: "a", type: "boolean", help: "undeploy from every host the job is deployed on" },
    { name: "yes", type: "boolean", help: "do not ask for confirmation" },
    { name: "token", type: "string", metavar: "TOKEN", help: "the job's access token" },
  ],
  async run(ctx) {
    const client = ctx.client()
    const all = bool(ctx.args, "all")
    const refs = posList(ctx.args, "HOST")
    if (all && refs.length > 0) throw new CliError("give hosts or --all, not both")
    if (!all && refs.length === 0) throw new CliError("no hosts given: helios undeploy JOB HOST... (or --all for every host)")
    const jobId = await resolveJob(client, pos(ctx.args, "JOB")!)
    let hosts: string[]
    if (all) {
      const status = await client.getDecoded(`/jobs/${encodeURIComponent(jobId)}/status`, OneJobStatus)
      hosts = Object.keys(status.deployments).sort()
      if (hosts.length > 0) await ctx.confirm(`undeploy ${jobId} from ${bracketList(hosts)}`, bool(ctx.args, "yes"))
    } else hosts = await resolveHosts(client, refs)
    if (!ctx.json) ctx.print(`Undeploying ${jobId} from ${bracketList(hosts)}`)
    return forEachHost(ctx, jobId, hosts, (host) =>
      client.requestDecoded("DELETE", hostJobPath(host, jobId), Acknowledged, { query: tokenQuery(str(ctx.args, "token")) }),
    )
  },
}

export default command
