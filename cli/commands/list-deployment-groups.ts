import type { Command } from "../command.ts"
import { Names } from "../answers.ts"

const command: Command = {
  name: "list-deployment-groups",
  summary: "list the deployment groups, one name per line",
  usage: "",
  description: "Sorted by name. With --json: a JSON array of names.",
  positionals: [],
  flags: [],
  async run(ctx) {
    const names = [...(await ctx.client().getDecoded("/deployment-group", Names))].sort()
    if (ctx.json) ctx.printJson(names)
    else for (const name of names) ctx.print(name)
  },
}

export default command
