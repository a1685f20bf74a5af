import { readFileSync } from "node:fs"
import { pathToFileURL } from "node:url"
import { HELIOS_VERSION } from "../master/version.ts"
import { bool, flagLines, formatHelp, intFlag, list, parseArgs, splitAtVerb, str, UsageError, type FlagSpec, MAX_TIMER_SECONDS } from "./args.ts"
import { HeliosClient } from "./client.ts"
import { makeContext, processIo, type CliIo, type Command } from "./command.ts"
import { COMMANDS } from "./commands/index.ts"
import { defaultUser, resolveEndpoints, resolveToken } from "./config.ts"
import { CliError, oneLine } from "./errors.ts"
import { jsonText } from "./output.ts"

/*
 * `helios`: parses the global flags and the verb, runs the verb, and turns every failure into ONE
 * line on stderr and exit code 1 (with `--json`, also a JSON object on stdout).
 */

export const GLOBAL_FLAGS: ReadonlyArray<FlagSpec> = [
  {
    name: "master",
    short: "z",
    type: "string",
    multiple: true,
    metavar: "URL",
    help: "master endpoint http(s)://host:port, tried in turn if one is unreachable (default: $HELIOS_MASTER, then masterEndpoints in ~/.helios/config)",
  },
  { name: "username", short: "u", type: "string", metavar: "USER", help: "user recorded as the actor of your changes (default: your login name); a master with authentication records your token's principal (USER@PRINCIPAL if it may name users)" },
  {
    name: "auth-token",
    type: "string",
    metavar: "TOKEN",
    help: "bearer token for a master with authentication on (default: $HELIOS_TOKEN, then \"token\" in ~/.helios/config, then a local helios solo's own)",
  },
  { name: "ca-file", type: "string", metavar: "FILE", help: "trust https:// masters whose certificate this CA (PEM) issued (default: $HELIOS_CA_FILE)" },
  { name: "json", type: "boolean", help: "machine-readable output: JSON on stdout" },
  { name: "http-timeout", type: "string", metavar: "S", help: "timeout of each request to a master, in seconds (default 60)" },
  { name: "help", short: "h", type: "boolean", help: "show help" },
]

export const TOP_FLAGS: ReadonlyArray<FlagSpec> = [...GLOBAL_FLAGS, { name: "version", type: "boolean", help: "print the client version" }]

const topLevelHelp = async (): Promise<string> => {
  // A verb of two words is listed as its sub-verbs ("rollout history", "rollout replay").
  const commands = (await Promise.all(Object.values(COMMANDS).map((load) => load()))).flatMap((c) => c.subcommands ?? [c])
  const width = Math.max(...commands.map((c) => c.name.length))
  const lines = [
    "usage: helios [global flags] COMMAND [ARGS...]",
    "",
    "Helios: deploy Docker containers to your own hosts. Jobs are named name:version[:hash];",
    "any unique part of a job id will do (e.g. web:v1). Hosts may be unique prefixes.",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "global flags (before or after the command):",
  ]
  lines.push(...flagLines(TOP_FLAGS))
  lines.push("", "Run 'helios COMMAND --help' for a command's flags. Exit code: 0 on success, 1 on any failure.")
  return lines.join("\n") + "\n"
}

const commandHelp = (c: Command) =>
  formatHelp({ name: c.name, usage: c.usage, summary: c.summary, ...(c.description ? { description: c.description } : {}), flags: c.flags, globalFlags: GLOBAL_FLAGS })

/** The help of a two-word verb: its sub-verbs, each with its summary. */
const subcommandsHelp = (c: Command, subs: ReadonlyArray<Command>): string => {
  const word = (s: Command) => s.name.slice(c.name.length + 1)
  const width = Math.max(...subs.map((s) => word(s).length))
  return [
    `usage: helios ${c.name} COMMAND ${c.usage} [flags] [global flags]`,
    "",
    c.summary,
    ...(c.description ? ["", c.description] : []),
    "",
    "commands:",
    ...subs.map((s) => `  ${word(s).padEnd(width)}  ${s.summary}`),
    "",
    `Run 'helios ${c.name} COMMAND --help' for a command's flags.`,
  ].join("\n") + "\n"
}

const wantsHelp = (args: ReadonlyArray<string>): boolean => {
  const flagsPart = args.includes("--") ? args.slice(0, args.indexOf("--")) : args
  return flagsPart.some((a) => a === "--help" || a === "-h")
}

/**
 * For a verb of two words (`rollout replay ...`): the sub-verb named by the first word after it
 * (global flags may come before that word) and the arguments around it; undefined for none.
 */
const pickSubcommand = (c: Command, subs: ReadonlyArray<Command>, before: ReadonlyArray<string>, after: ReadonlyArray<string>) => {
  const split = splitAtVerb(after, [...GLOBAL_FLAGS, ...subs.flatMap((s) => s.flags)])
  const sub = split.verb === undefined ? undefined : subs.find((s) => s.name === `${c.name} ${split.verb}`)
  return { command: sub, word: split.verb, before: [...before, ...split.before], after: split.after }
}

/** Runs one `helios` invocation; returns the exit code. */
export const run = async (argv: ReadonlyArray<string>, io: CliIo): Promise<number> => {
  const json = (argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv).includes("--json")
  try {
    const { before, verb, after } = splitAtVerb(argv, GLOBAL_FLAGS)
    if (verb === undefined || verb === "help") {
      const top = parseArgs(before, TOP_FLAGS, [], { command: "helios" })
      if (bool(top, "version")) {
        io.stdout(json ? jsonText({ clientVersion: HELIOS_VERSION }) : `Client Version: ${HELIOS_VERSION}\n`)
        return 0
      }
      if (verb === "help" && after.length > 0) return run([...after, "--help"], io)
      if (after.length > 0 || (verb === undefined && before.includes("--")))
        throw new UsageError(`helios: unexpected argument: ${after[0] ?? "--"} (see 'helios --help')`)
      io.stdout(await topLevelHelp())
      return 0
    }
    const load = COMMANDS[verb]
    if (load === undefined) throw new UsageError(`helios: unknown command '${verb}' (see 'helios --help')`)
    let command = await load()
    let argv2 = { before: [...before], after: [...after] }
    if (command.subcommands !== undefined) {
      const picked = pickSubcommand(command, command.subcommands, before, after)
      if (picked.command === undefined) {
        if (wantsHelp([...before, ...after])) {
          io.stdout(subcommandsHelp(command, command.subcommands))
          return 0
        }
        const names = command.subcommands.map((s) => s.name.slice(command.name.length + 1)).join(" or ")
        const problem = picked.word === undefined ? `missing command: ${names}` : `unknown command '${picked.word}': expected ${names}`
        throw new UsageError(`helios ${command.name}: ${problem} (see 'helios ${command.name} --help')`)
      }
      command = picked.command
      argv2 = { before: picked.before, after: picked.after }
    }
    if (wantsHelp([...argv2.before, ...argv2.after])) {
      io.stdout(commandHelp(command))
      return 0
    }
    const args = parseArgs([...argv2.before, ...argv2.after], [...command.flags, ...GLOBAL_FLAGS], command.positionals, {
      command: command.name,
      ...(command.allowRest ? { allowRest: true } : {}),
    })
    const timeoutS = intFlag(args, "http-timeout", command.name, 1, MAX_TIMER_SECONDS)
    const user = str(args, "username") ?? defaultUser(io.env)
    const ctx = makeContext({
      command: command.name,
      args,
      io,
      json,
      user,
      client: () => {
        const endpoints = resolveEndpoints(list(args, "master"), io.env)
        const token = resolveToken(str(args, "auth-token"), io.env, endpoints)
        const caFile = str(args, "ca-file") ?? (io.env["HELIOS_CA_FILE"] || undefined)
        let ca: Buffer | undefined
        if (caFile !== undefined)
          try {
            ca = readFileSync(caFile)
          } catch (e) {
            throw new CliError(`--ca-file: cannot read ${caFile}: ${oneLine((e as Error).message)}`)
          }
        return new HeliosClient({
          endpoints,
          user,
          ...(token !== undefined ? { token } : {}),
          ...(ca !== undefined ? { ca } : {}),
          version: HELIOS_VERSION,
          warn: (message) => io.stderr(message + "\n"),
          ...(timeoutS !== undefined ? { timeoutMs: timeoutS * 1000 } : {}),
        })
      },
    })
    return (await command.run(ctx)) ?? 0
  } catch (e) {
    const known = e instanceof CliError || e instanceof UsageError
    const message = oneLine(known ? e.message : `internal error: ${(e as Error)?.message ?? String(e)}`)
    if (json) {
      const payload = e instanceof CliError && e.json ? e.json : { status: e instanceof UsageError ? "USAGE_ERROR" : "ERROR" }
      io.stdout(jsonText({ ...payload, error: message }))
    }
    io.stderr(message + "\n")
    return 1
  }
}

/** The process entry point (bin/helios.js). */
export const main = async (): Promise<void> => {
  const controller = new AbortController()
  const stop = () => {
    if (controller.signal.aborted) process.exit(130)
    controller.abort()
  }
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)
  // `helios events | head`: a closed pipe ends the output, not in an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => process.exit(e.code === "EPIPE" ? 0 : 1))
  const code = await run(process.argv.slice(2), processIo(controller.signal))
  // Pipes and files are written synchronously on Linux: nothing is lost by exiting now, and no
  // idle keep-alive socket holds the process open.
  process.exit(code)
}

// Run as a script (`npx tsx cli/main.ts jobs`), as bin/helios.js runs it; imported (the bin, the
// bundle, tests), it only exports.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main()
