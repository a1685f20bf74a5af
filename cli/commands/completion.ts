import { pos } from "../args.ts"
import type { Command } from "../command.ts"
import { CliError } from "../errors.ts"
import { bashCompletion, zshCompletion } from "../completion.ts"

const command: Command = {
  name: "completion",
  summary: "print the shell completion script (bash or zsh)",
  usage: "[SHELL]",
  description:
    "Completes verbs, flags, and job ids and host names from the master. Install for bash with\n" +
    "  helios completion bash | sudo tee /etc/bash_completion.d/helios >/dev/null\n" +
    "or add 'source <(helios completion bash)' to ~/.bashrc ('... zsh' to ~/.zshrc).",
  positionals: [{ name: "SHELL" }],
  flags: [],
  async run(ctx) {
    const shell = pos(ctx.args, "SHELL") ?? "bash"
    if (shell !== "bash" && shell !== "zsh") throw new CliError(`helios completion: unknown shell '${shell}' (bash or zsh)`)
    // Every verb's module, for its flags and positionals (the only verb that loads them all, with --help).
    const [{ COMMANDS }, { TOP_FLAGS }] = await Promise.all([import("./index.ts"), import("../main.ts")])
    const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()))
    ctx.io.stdout((shell === "bash" ? bashCompletion : zshCompletion)(commands, TOP_FLAGS))
  },
}

export default command
