import { pos } from "../args.ts"
import type { Command } from "../command.ts"
import { aboutGroup, groupPath } from "../deployment-group.ts"
import { Acknowledged } from "../answers.ts"

const command: Command = {
  name: "remove-deployment-group",
  summary: "remove a deployment group (the jobs it deployed stay deployed)",
  usage: "NAME",
  description: "Prints 'Deployment-group NAME removed'. Undeploy its jobs with 'helios undeploy' if they should go too.",
  positionals: [{ name: "NAME", required: true }],
  flags: [],
  async run(ctx) {
    const name = pos(ctx.args, "NAME")!
    const response = await aboutGroup(name, ctx.client().requestDecoded("DELETE", groupPath(name), Acknowledged))
    if (ctx.json) ctx.printJson(response)
    else ctx.print(`Deployment-group ${name} removed`)
  },
}

export default command
