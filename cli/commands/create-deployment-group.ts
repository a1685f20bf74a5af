import { bool, pos, posList } from "../args.ts"
import type { Command } from "../command.ts"
import { groupFromArgs } from "../deployment-group.ts"
import { ApiError, CliError } from "../errors.ts"
import { Status } from "../answers.ts"

const command: Command = {
  name: "create-deployment-group",
  summary: "create a deployment group: the hosts whose labels match every selector",
  usage: "NAME SELECTOR...",
  description:
    "Selectors: label=value, label!=value, 'label in (a, b)', 'label notin (a, b)' (one argument each; all must match;\n" +
    "a host without the label never matches). Prints 'Creating deployment group: <json>', then\n" +
    '{"status":"CREATED"} or {"status":"NOT_MODIFIED"} (the same group exists). A group of that name with other\n' +
    "selectors is a CONFLICT (exit 1): selectors cannot be changed; remove the group and create it again.",
  positionals: [
    { name: "NAME", required: true },
    { name: "SELECTOR", required: true, variadic: true },
  ],
  flags: [{ name: "quiet", short: "q", type: "boolean", help: "print only the result status" }],
  async run(ctx) {
    const group = groupFromArgs(pos(ctx.args, "NAME")!, posList(ctx.args, "SELECTOR"))
    const quiet = bool(ctx.args, "quiet")
    if (!quiet && !ctx.json) ctx.print(`Creating deployment group: ${JSON.stringify(group)}`)
    try {
      const response = await ctx.client().requestDecoded("POST", "/deployment-group", Status, { body: group })
      if (ctx.json) ctx.printJson(response)
      else ctx.print(JSON.stringify({ status: response.status }))
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== "CONFLICT") throw e
      if (!quiet && !ctx.json) ctx.print(JSON.stringify({ status: "CONFLICT" }))
      const detail = (e.body as { message?: unknown } | null)?.message
      throw new CliError(
        `CONFLICT: ${typeof detail === "string" ? detail : `deployment group ${group.name} already exists with other selectors`}`,
        { status: "CONFLICT", name: group.name },
      )
    }
  },
}

export default command
