import { bool, pos, str } from "../args.ts"
import type { Command } from "../command.ts"
import { tokenQuery } from "../per-host.ts"
import { resolveJob } from "../resolve.ts"
import { Acknowledged } from "../answers.ts"

const command: Command = {
  name: "remove",
  summary: "remove a job (it must be undeployed everywhere first)",
  usage: "JOB",
  description: "Asks for confirmation; without a terminal to ask on, pass --yes. Prints 'Removing job <id>: done'.",
  positionals: [{ name: "JOB", required: true }],
  flags: [
    { name: "yes", type: "boolean", help: "do not ask for confirmation" },
    { name: "token", type: "string", metavar: "TOKEN", help: "the job's access token" },
  ],
  async run(ctx) {
    const client = ctx.client()
    const jobId = await resolveJob(client, pos(ctx.args, "JOB")!)
    await ctx.confirm(`remove the job ${jobId}`, bool(ctx.args, "yes"))
    const response = await client.requestDecoded("DELETE", `/jobs/${encodeURIComponent(jobId)}`, Acknowledged, { query: tokenQuery(str(ctx.args, "token")) })
    if (ctx.json) ctx.printJson(response)
    else ctx.print(`Removing job ${jobId}: done`)
  },
}

export default command
