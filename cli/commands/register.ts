import { pos } from "../args.ts"
import type { Command } from "../command.ts"
import { Acknowledged } from "../answers.ts"

const command: Command = {
  name: "register",
  summary: "register a host with a known agent id (pre-provision a host or pin its id)",
  usage: "HOST ID",
  positionals: [
    { name: "HOST", required: true },
    { name: "ID", required: true },
  ],
  flags: [],
  async run(ctx) {
    const host = pos(ctx.args, "HOST")!
    const id = pos(ctx.args, "ID")!
    const response = await ctx.client().requestDecoded("PUT", `/hosts/${encodeURIComponent(host)}`, Acknowledged, { query: { id } })
    if (ctx.json) ctx.printJson(response)
    else ctx.print(`Registering host ${host} with id ${id}: done`)
  },
}

export default command
