import type { Command } from "../command.ts"
import history from "./rollout-history.ts"
import replay from "./rollout-replay.ts"

/** `helios rollout history|replay GROUP`: a verb of two words (cli/main.ts picks the second). */
const command: Command = {
  name: "rollout",
  summary: "a deployment group's rollouts: list them, replay one step by step from the log",
  usage: "GROUP",
  positionals: [],
  flags: [],
  subcommands: [history, replay],
  run: async () => 0,
}

export default command
