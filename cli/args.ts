/*
 * A small argument parser for `helios`: long and short flags, string flags that repeat (declared
 * `multiple`; any other given twice is refused), boolean flags, `--flag=value`, `-xVALUE`, clusters
 * of short booleans (`-qf`), positional arguments and `--` (everything after it is positional, e.g.
 * the container command of `create`). Global flags are accepted before or after the verb (the
 * caller merges the two flag lists).
 *
 * node:util parseArgs would do most of this, but its errors are long and name no command, and it
 * has no notion of required positionals or of generated help; this is about as long as the glue.
 */
import { MAX_TIMER_MS } from "../core/timers.ts"

export class UsageError extends Error {
  override readonly name = "UsageError"
}

export interface FlagSpec {
  /** Long name without dashes: `master` for `--master`. */
  readonly name: string
  /** One letter: `z` for `-z`. */
  readonly short?: string
  readonly type: "string" | "boolean"
  /**
   * A string flag that may be given several times (its value is a list). Any other string flag
   * given twice is refused: keeping the last value, as Helios's argparse4j did, drops one silently.
   */
  readonly multiple?: boolean
  /** Placeholder in help, e.g. `URL`. */
  readonly metavar?: string
  readonly help: string
  /** Left out of help (still accepted). */
  readonly hidden?: boolean
}

export interface PositionalSpec {
  readonly name: string
  readonly required?: boolean
  /** Takes every remaining positional argument (must be last). */
  readonly variadic?: boolean
}

export interface ParsedArgs {
  /** Flag values by long name: string, string[] (multiple), or true. Absent when not given. */
  readonly flags: Readonly<Record<string, string | ReadonlyArray<string> | true>>
  /** Positionals by spec name (variadic ones as lists). */
  readonly positionals: Readonly<Record<string, string | ReadonlyArray<string>>>
  /** Arguments after `--`. */
  readonly rest: ReadonlyArray<string>
}

/** Splits argv at the verb: global flags before it, the verb, and everything after it. */
export const splitAtVerb = (
  argv: ReadonlyArray<string>,
  globalFlags: ReadonlyArray<FlagSpec>,
): { before: string[]; verb: string | undefined; after: string[] } => {
  const byLong = new Map(globalFlags.map((f) => [f.name, f]))
  const byShort = new Map(globalFlags.filter((f) => f.short).map((f) => [f.short!, f]))
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") return { before: argv.slice(0, i), verb: undefined, after: argv.slice(i) }
    if (!arg.startsWith("-") || arg === "-") return { before: argv.slice(0, i), verb: arg, after: argv.slice(i + 1) }
    // Skip the value of a global string flag given as a separate argument.
    const spec = arg.startsWith("--") ? (arg.includes("=") ? undefined : byLong.get(arg.slice(2))) : arg.length === 2 ? byShort.get(arg[1]!) : undefined
    if (spec?.type === "string") i++
  }
  return { before: [...argv], verb: undefined, after: [] }
}

const display = (f: FlagSpec) => (f.short ? `-${f.short}/--${f.name}` : `--${f.name}`)

/**
 * Parses `argv` against `flags` and `positionals`. `command` names the verb in error messages
 * ("helios deploy: ..."). Throws a UsageError (one line) on anything it cannot accept.
 */
export const parseArgs = (
  argv: ReadonlyArray<string>,
  flags: ReadonlyArray<FlagSpec>,
  positionals: ReadonlyArray<PositionalSpec>,
  options: { readonly command: string; readonly allowRest?: boolean },
): ParsedArgs => {
  const fail = (message: string): never => {
    const verb = options.command === "helios" ? "helios" : `helios ${options.command}`
    throw new UsageError(`${verb}: ${message} (see '${verb} --help')`)
  }
  const byLong = new Map(flags.map((f) => [f.name, f]))
  const byShort = new Map(flags.filter((f) => f.short).map((f) => [f.short!, f]))
  const values: Record<string, string | string[] | true> = {}
  /** Every value of each single-valued string flag, in order: more than one is an error. */
  const given = new Map<FlagSpec, string[]>()
  const words: string[] = []
  let rest: string[] = []

  const set = (spec: FlagSpec, value: string | true) => {
    // A boolean given twice (`--json --json`, `-qq`) means what it means once: no value is lost.
    if (value === true) values[spec.name] = true
    else if (spec.multiple) {
      const prev = values[spec.name]
      values[spec.name] = [...(Array.isArray(prev) ? prev : []), value]
    } else {
      given.set(spec, [...(given.get(spec) ?? []), value])
      values[spec.name] = value
    }
  }

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") {
      rest = argv.slice(i + 1)
      if (!options.allowRest && rest.length > 0) fail(`unexpected argument after --: ${rest[0]}`)
      break
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=")
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      const spec = byLong.get(name)
      if (spec === undefined) fail(`unknown option --${name}`)
      if (spec!.type === "boolean") {
        if (eq !== -1) fail(`option --${name} takes no value`)
        set(spec!, true)
      } else if (eq !== -1) set(spec!, arg.slice(eq + 1))
      else {
        if (i + 1 >= argv.length) fail(`option ${display(spec!)} needs a value${spec!.metavar ? ` (${spec!.metavar})` : ""}`)
        set(spec!, argv[++i]!)
      }
      continue
    }
    if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
      // -x, -xVALUE, -x=VALUE, or a cluster of short booleans -qf.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!
        const spec = byShort.get(letter)
        if (spec === undefined) fail(j === 1 ? `unknown option -${letter}` : `unknown option -${letter} in ${arg}`)
        if (spec!.type === "boolean") {
          set(spec!, true)
          continue
        }
        let value = arg.slice(j + 1)
        if (value.startsWith("=")) value = value.slice(1)
        if (value === "") {
          if (i + 1 >= argv.length) fail(`option ${display(spec!)} needs a value${spec!.metavar ? ` (${spec!.metavar})` : ""}`)
          value = argv[++i]!
        }
        set(spec!, value)
        break
      }
      continue
    }
    words.push(arg)
  }
  for (const [spec, all] of given)
    if (all.length > 1)
      fail(`option ${display(spec)} given ${all.length === 2 ? "twice" : `${all.length} times`} (${all.map((v) => `'${v}'`).join(", ")}): give it once`)

  const named: Record<string, string | string[]> = {}
  let k = 0
  for (const p of positionals) {
    if (p.variadic) {
      named[p.name] = words.slice(k)
      if (p.required && k >= words.length) fail(`missing argument ${p.name}`)
      k = words.length
    } else if (k < words.length) named[p.name] = words[k++]!
    else if (p.required) fail(`missing argument ${p.name}`)
  }
  if (k < words.length) fail(`unexpected argument: ${words[k]}`)
  return { flags: values, positionals: named, rest }
}

// ---------------------------------------------------------------------------------------------
// Typed access to parsed values

export const str = (a: ParsedArgs, name: string): string | undefined => {
  const v = a.flags[name]
  return typeof v === "string" ? v : undefined
}
export const list = (a: ParsedArgs, name: string): ReadonlyArray<string> => {
  const v = a.flags[name]
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : []
}
export const bool = (a: ParsedArgs, name: string): boolean => a.flags[name] === true
export const pos = (a: ParsedArgs, name: string): string | undefined => {
  const v = a.positionals[name]
  return typeof v === "string" ? v : undefined
}
export const posList = (a: ParsedArgs, name: string): ReadonlyArray<string> => {
  const v = a.positionals[name]
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : []
}

/** A non-negative integer flag (seconds, positions...), or a UsageError naming the flag. */
export const intFlag = (a: ParsedArgs, name: string, command: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined => {
  const v = str(a, name)
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max || !Number.isSafeInteger(Number(v)))
    throw new UsageError(
      `helios ${command}: option --${name}: expected an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}, got '${v}' (see 'helios ${command} --help')`,
    )
  return Number(v)
}

/** The most seconds a timer can wait (2^31-1 ms): a longer one fires at once, again and again. */
export const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000)

// ---------------------------------------------------------------------------------------------
// Help

const flagUsage = (f: FlagSpec): string => {
  const names = f.short ? `-${f.short}, --${f.name}` : `    --${f.name}`
  return f.type === "string" ? `${names} ${f.metavar ?? "VALUE"}` : names
}

/** Help lines for flags: usage column padded to the widest, then the help text. Hidden flags are left out. */
export const flagLines = (flags: ReadonlyArray<FlagSpec>): string[] => {
  const shown = flags.filter((f) => !f.hidden)
  const width = Math.max(0, ...shown.map((f) => flagUsage(f).length))
  return shown.map((f) => `  ${flagUsage(f).padEnd(width)}  ${f.help}${f.multiple ? " (repeatable)" : ""}`)
}

/** The help of one command: usage line, description, positionals, flags. */
export const formatHelp = (spec: {
  readonly name: string
  readonly usage: string
  readonly summary: string
  readonly description?: string
  readonly flags: ReadonlyArray<FlagSpec>
  readonly globalFlags: ReadonlyArray<FlagSpec>
}): string => {
  const lines = [`usage: helios ${spec.name}${spec.usage ? " " + spec.usage : ""} [global flags]`, "", spec.summary]
  if (spec.description) lines.push("", spec.description)
  const section = (title: string, fs: ReadonlyArray<FlagSpec>) => {
    const rows = flagLines(fs)
    if (rows.length > 0) lines.push("", title, ...rows)
  }
  section("flags:", spec.flags)
  section("global flags:", spec.globalFlags)
  return lines.join("\n") + "\n"
}
