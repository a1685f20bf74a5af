import { bool, pos } from "../args.ts"
import type { Command } from "../command.ts"
import { fetchGroupStatus, groupStatusText } from "../deployment-group.ts"

const command: Command = {
  name: "deployment-group-status",
  summary: "show a deployment group's rollout status and its hosts",
  usage: "NAME",
  description:
    "Name, Job Id, Status (IDLE, ROLLING_OUT, ACTIVE or FAILED), Host selectors and Error, then one row per UP host of the\n" +
    "group in rollout order: HOST, UP-TO-DATE (X when the host has the group's job), JOB, STATE.",
  positionals: [{ name: "NAME", required: true }],
  flags: [{ name: "full", short: "f", type: "boolean", help: "full job ids" }],
  async run(ctx) {
    const name = pos(ctx.args, "NAME")!
    const status = await fetchGroupStatus(ctx.client(), name)
    if (ctx.json) ctx.printJson(status)
    else ctx.io.stdout(groupStatusText(name, status, bool(ctx.args, "full")))
  },
}

export default command
