import type { Command } from "../command.ts"
import { Names } from "../answers.ts"

const command: Command = {
  name: "masters",
  summary: "list the running masters",
  usage: "",
  positionals: [],
  flags: [{ name: "full", short: "f", type: "boolean", help: "accepted for compatibility (names are never shortened)" }],
  async run(ctx) {
    const masters = await ctx.client().getDecoded("/masters", Names)
    if (ctx.json) ctx.printJson(masters)
    else for (const m of masters) ctx.print(m)
  },
}

export default command
