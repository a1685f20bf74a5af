import { pos } from "../args.ts"
import type { Command } from "../command.ts"
import { aboutGroup, groupPath } from "../deployment-group.ts"
import { Acknowledged } from "../answers.ts"

const command: Command = {
  name: "stop-deployment-group",
  summary: "stop a deployment group's rolling update (the group becomes FAILED)",
  usage: "NAME",
  description: "Nothing is undone: the hosts already updated keep the new job. Prints 'Deployment-group NAME stopped'.",
  positionals: [{ name: "NAME", required: true }],
  flags: [],
  async run(ctx) {
    const name = pos(ctx.args, "NAME")!
    await aboutGroup(name, ctx.client().requestDecoded("POST", groupPath(name, "/stop"), Acknowledged))
    if (ctx.json) ctx.printJson({ status: "STOPPED", name })
    else ctx.print(`Deployment-group ${name} stopped`)
  },
}

export default command
