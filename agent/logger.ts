/** Structured log lines; the CLI writes JSON to stderr, tests stay quiet unless HELIOS_AGENT_LOG is set. */
export type LogLevel = "debug" | "info" | "warn" | "error"

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Readonly<Record<string, unknown>>): void
}

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 }

export const jsonLogger = (
  minLevel: LogLevel = "info",
  base: Readonly<Record<string, unknown>> = {},
  write: (line: string) => void = (line) => process.stderr.write(line + "\n"),
): Logger => ({
  log(level, msg, fields) {
    if (order[level] < order[minLevel]) return
    write(JSON.stringify({ t: new Date().toISOString(), level, msg, ...base, ...fields }, errorReplacer))
  },
})

const errorReplacer = (_key: string, value: unknown): unknown =>
  value instanceof Error ? { name: value.name, message: value.message, ...(value as object) } : value

export const silentLogger: Logger = { log() {} }

/** The logger used when the embedder passes none: silent, or JSON to stderr at HELIOS_AGENT_LOG's level. */
export const defaultLogger = (base: Readonly<Record<string, unknown>> = {}): Logger => {
  const level = process.env["HELIOS_AGENT_LOG"]
  return level === "debug" || level === "info" || level === "warn" || level === "error" ? jsonLogger(level, base) : silentLogger
}

export const errorText = (e: unknown): string => {
  if (e instanceof Error) {
    const reason = (e as { reason?: unknown }).reason
    return typeof reason === "string" ? `${e.name}: ${reason}` : e.message || e.name
  }
  if (typeof e === "object" && e !== null && "reason" in e) return String((e as { reason: unknown }).reason)
  return String(e)
}
