/* Text output shared by the commands: tables, times, durations, JSON. */

/**
 * Helios's table: every column as wide as its widest cell, columns separated by `padding` spaces
 * (4, as in Helios). Trailing spaces are trimmed. Returns the lines, each ending in "\n".
 */
export const formatTable = (rows: ReadonlyArray<ReadonlyArray<string>>, padding = 4): string => {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  const gap = " ".repeat(padding)
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join(gap).trimEnd() + "\n").join("")
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/** `yyyy-MM-dd HH:mm:ss.SSS` in local time (as Helios's history), or in UTC. */
export const formatTimestamp = (ms: number, utc = false): string => {
  const d = new Date(ms)
  const [y, mo, day, h, mi, s, milli] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()]
  return `${pad(y, 4)}-${pad(mo)}-${pad(day)} ${pad(h)}:${pad(mi)}:${pad(s)}.${pad(milli, 3)}`
}

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
  ["second", 1000],
]

/** The largest whole unit of a duration: "3 days", "1 hour", "45 seconds" (as in "Up 3 days"). */
export const humanDuration = (ms: number): string => {
  const positive = Math.max(0, ms)
  for (const [unit, size] of UNITS) {
    const n = Math.floor(positive / size)
    if (n >= 1 || unit === "second") return `${n} ${unit}${n === 1 ? "" : "s"}`
  }
  return "0 seconds"
}

/** Pretty JSON with a trailing newline. */
export const jsonText = (value: unknown): string => JSON.stringify(value, null, 2) + "\n"

/** `[a, b]`, as Java prints a list. */
export const bracketList = (items: ReadonlyArray<string>): string => `[${items.join(", ")}]`

/** A value that may be missing: "-" in tables. */
export const orDash = (value: string | undefined): string => (value === undefined || value === "" ? "-" : value)
