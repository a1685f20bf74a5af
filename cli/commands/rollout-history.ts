import { bool, pos } from "../args.ts"
import type { Command } from "../command.ts"
import { formatTable } from "../output.ts"
import { fetchRollouts, ROLLOUT_HISTORY_COLUMNS, rolloutHistoryRows } from "../rollout.ts"

const command: Command = {
  name: "rollout history",
  summary: "list a deployment group's rollouts: number, job, reason, who, when, how long, outcome",
  usage: "GROUP",
  description:
    "Oldest first. REASON is MANUAL, HOSTS_CHANGED or ROLLBACK→N (a rollback to rollout N's job); ACTOR is the user,\n" +
    "or the master for HOSTS_CHANGED and automatic rollbacks; OUTCOME is ROLLING_OUT, AWAITING_PROMOTION, ACTIVE,\n" +
    "FAILED or SUPERSEDED (another rollout started before it ended), with its failed steps. See 'helios rollout replay'.",
  positionals: [{ name: "GROUP", required: true }],
  flags: [{ name: "full", short: "f", type: "boolean", help: "full job ids" }],
  async run(ctx) {
    const rollouts = await fetchRollouts(ctx.client(), pos(ctx.args, "GROUP")!)
    if (ctx.json) ctx.printJson(rollouts)
    else ctx.io.stdout(formatTable([ROLLOUT_HISTORY_COLUMNS, ...rolloutHistoryRows(rollouts.rollouts, bool(ctx.args, "full"))]))
  },
}

export default command
