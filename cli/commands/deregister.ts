import { bool, list, pos } from "../args.ts"
import type { Command } from "../command.ts"
import { CliError } from "../errors.ts"
import { Acknowledged, Names } from "../answers.ts"

const command: Command = {
  name: "deregister",
  summary: "remove a host, its deployments and its task statuses",
  usage: "HOST",
  description: "Asks for confirmation; without a terminal to ask on, pass --yes. The host must be named exactly.",
  positionals: [{ name: "HOST", required: true }],
  flags: [
    { name: "yes", type: "boolean", help: "do not ask for confirmation" },
    { name: "token", type: "string", multiple: true, metavar: "TOKEN", help: "the token of a token-protected job deployed on the host" },
  ],
  async run(ctx) {
    const client = ctx.client()
    const host = pos(ctx.args, "HOST")!
    const hosts = await client.getDecoded("/hosts", Names)
    if (!hosts.includes(host)) {
      const similar = hosts.filter((h) => h.startsWith(host))
      throw new CliError(`Unknown host: ${host}${similar.length > 0 ? ` (did you mean: ${similar.join(", ")}?)` : ""}`, {
        status: "HOST_NOT_FOUND",
        host,
        ...(similar.length > 0 ? { matches: similar } : {}),
      })
    }
    await ctx.confirm(`deregister host ${host}, undeploying every job on it`, bool(ctx.args, "yes"))
    const tokens = list(ctx.args, "token")
    const response = await client.requestDecoded("DELETE", `/hosts/${encodeURIComponent(host)}`, Acknowledged, tokens.length > 0 ? { query: { token: tokens } } : {})
    if (ctx.json) ctx.printJson(response)
    else ctx.print(`Deregistering host ${host}: done`)
  },
}

export default command
