import type { Command } from "../command.ts"
import { CliError } from "../errors.ts"
import { HELIOS_VERSION } from "../../master/version.ts"
import { Version } from "../answers.ts"

const command: Command = {
  name: "version",
  summary: "print the client's and the master's versions",
  usage: "",
  positionals: [],
  flags: [],
  async run(ctx) {
    if (!ctx.json) ctx.print(`Client Version: ${HELIOS_VERSION}`)
    let master: string
    try {
      master = await ctx.client().getDecoded("/version", Version)
    } catch (e) {
      if (e instanceof CliError) throw new CliError(e.message, { clientVersion: HELIOS_VERSION, masterVersion: null })
      throw e
    }
    if (ctx.json) ctx.printJson({ clientVersion: HELIOS_VERSION, masterVersion: master })
    else ctx.print(`Master Version: ${master}`)
  },
}

export default command
