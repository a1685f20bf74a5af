import { createInterface } from "node:readline"
import type { FlagSpec, ParsedArgs, PositionalSpec } from "./args.ts"
import type { HeliosClient } from "./client.ts"
import { CliError } from "./errors.ts"
import { jsonText } from "./output.ts"

/** The outside world of one CLI run (the process, or a test's captures). */
export interface CliIo {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
  /** Whether a person can answer a question (stdin and stderr are terminals). */
  readonly interactive: boolean
  /** Asks a question (on stderr) and reads one line of stdin. */
  readonly prompt: (question: string) => Promise<string>
  readonly env: Readonly<Record<string, string | undefined>>
  /** Aborted on Ctrl-C / SIGTERM: `watch`, `events --follow` and `solo` stop cleanly. */
  readonly signal: AbortSignal
}

/** What a command gets: its parsed arguments, output helpers and the (lazily built) client. */
export interface Context {
  readonly command: string
  readonly args: ParsedArgs
  readonly io: CliIo
  readonly json: boolean
  readonly user: string
  /** The master client; built on first use, so commands that need no master never fail for lack of one. */
  client(): HeliosClient
  /** Prints a line on stdout. */
  print(line?: string): void
  /** Prints a value as pretty JSON on stdout. */
  printJson(value: unknown): void
  /**
   * Asks for confirmation unless `yes`; refuses (CliError) when nobody can answer or the answer is
   * not yes. `what` completes "This will ...".
   */
  confirm(what: string, yes: boolean): Promise<void>
}

export interface Command {
  readonly name: string
  readonly summary: string
  /** Positional part of the usage line, e.g. `JOB HOST...`. */
  readonly usage: string
  readonly description?: string
  readonly flags: ReadonlyArray<FlagSpec>
  readonly positionals: ReadonlyArray<PositionalSpec>
  /** Accepts arguments after `--` (create's container command). */
  readonly allowRest?: boolean
  /**
   * A verb of two words (`rollout history`, `rollout replay`): this command only names them (its
   * `run` is never called); each has its own name ("rollout history"), flags and help.
   */
  readonly subcommands?: ReadonlyArray<Command>
  /** Needs no master (version prints the client version first; solo runs one). */
  run(ctx: Context): Promise<number | void>
}

export const makeContext = (options: {
  command: string
  args: ParsedArgs
  io: CliIo
  json: boolean
  user: string
  client: () => HeliosClient
}): Context => {
  let client: HeliosClient | undefined
  const { io } = options
  return {
    command: options.command,
    args: options.args,
    io,
    json: options.json,
    user: options.user,
    client: () => (client ??= options.client()),
    print: (line = "") => io.stdout(line + "\n"),
    printJson: (value) => io.stdout(jsonText(value)),
    confirm: async (what, yes) => {
      if (yes) return
      if (!io.interactive) throw new CliError(`refusing to ${what} without confirmation: no terminal to ask on; pass --yes`)
      const answer = (await io.prompt(`This will ${what}\nDo you want to continue? [y/N] `)).trim().toLowerCase()
      if (answer !== "y" && answer !== "yes") throw new CliError("Aborted.", { status: "ABORTED" })
    },
  }
}

/** The CliIo of this process. */
export const processIo = (signal: AbortSignal): CliIo => ({
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
  prompt: (question) =>
    new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr })
      rl.question(question, (answer) => {
        resolve(answer) // before close(): closing resolves with "" (for an EOF on stdin)
        rl.close()
      })
      rl.once("close", () => resolve(""))
    }),
  env: process.env,
  signal,
})
