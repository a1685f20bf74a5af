import { pos } from "../args.ts"
import type { Command } from "../command.ts"
import { fetchGroup, inspectGroupLines } from "../deployment-group.ts"

const command: Command = {
  name: "inspect-deployment-group",
  summary: "print a deployment group: selectors, job, rollout options",
  usage: "NAME",
  description: "Lines: Name, Host selectors, Job, Rolling update reason, Rollout options (those of its last rolling update).",
  positionals: [{ name: "NAME", required: true }],
  flags: [],
  async run(ctx) {
    const group = await fetchGroup(ctx.client(), pos(ctx.args, "NAME")!)
    if (ctx.json) ctx.printJson(group)
    else for (const line of inspectGroupLines(group)) ctx.print(line)
  },
}

export default command
