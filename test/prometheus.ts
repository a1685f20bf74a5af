/*
 * A small parser of the Prometheus text exposition format (what GET /metrics answers), for tests:
 * every sample line `name{label="value",...} number` becomes { name, labels, value }; comments
 * (# HELP, # TYPE) must name a type the format knows. Throws on a line it cannot read, so a test
 * also checks that the output is well-formed.
 */

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"])

/** Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes `Nan`). */
const parseValue = (text: string): number => {
  const lower = text.toLowerCase()
  if (lower === "+inf" || lower === "inf") return Infinity
  if (lower === "-inf") return -Infinity
  if (lower === "nan") return NaN
  const n = Number(text)
  if (text.trim() === "" || Number.isNaN(n)) throw new Error(`not a sample value: ${text}`)
  return n
}

/** The labels of `{a="x",b="y\"z"}` (without the braces). */
const parseLabels = (text: string, line: string): Record<string, string> => {
  const labels: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    const eq = text.indexOf("=", i)
    if (eq < 0) throw new Error(`bad labels in: ${line}`)
    const name = text.slice(i, eq).trim()
    if (!NAME.test(name) || text[eq + 1] !== '"') throw new Error(`bad label ${name} in: ${line}`)
    let j = eq + 2
    let value = ""
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\\") {
        j++
        value += text[j] === "n" ? "\n" : text[j]
      } else value += text[j]
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`)
    labels[name] = value
    i = j + 1
    if (text[i] === ",") i++
  }
  return labels
}

export const parsePrometheus = (text: string): Sample[] => {
  const samples: Sample[] = []
  for (const raw of text.split("\n")) {
    const line = raw.trim()
    if (line === "") continue
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line)
      if (m === null) continue // a free comment
      if (!NAME.test(m[2]!)) throw new Error(`bad metric name: ${line}`)
      if (m[1] === "TYPE" && !TYPES.has(m[3] ?? "")) throw new Error(`bad metric type: ${line}`)
      continue
    }
    const brace = line.indexOf("{")
    let name: string
    let labels: Record<string, string> = {}
    let rest: string
    if (brace >= 0) {
      name = line.slice(0, brace)
      const close = line.lastIndexOf("}")
      if (close < brace) throw new Error(`bad sample: ${line}`)
      labels = parseLabels(line.slice(brace + 1, close), line)
      rest = line.slice(close + 1).trim()
    } else {
      const space = line.indexOf(" ")
      name = line.slice(0, space)
      rest = line.slice(space + 1).trim()
    }
    if (!NAME.test(name)) throw new Error(`bad metric name: ${line}`)
    samples.push({ name, labels, value: parseValue(rest.split(/\s+/)[0]!) })
  }
  return samples
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
export const metricValue = (samples: ReadonlyArray<Sample>, name: string, labels: Readonly<Record<string, string>> = {}): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)

/** Whether any sample is named `name` with `labels` among its labels. */
export const hasMetric = (samples: ReadonlyArray<Sample>, name: string, labels: Readonly<Record<string, string>> = {}): boolean =>
  samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))

/** GET `url` and parse it; checks the content type is Prometheus text. */
export const scrape = async (url: string, headers: Record<string, string> = {}): Promise<Sample[]> => {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) })
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}`)
  const type = res.headers.get("content-type") ?? ""
  if (!type.startsWith("text/plain")) throw new Error(`GET ${url}: content-type ${type}, expected text/plain (Prometheus text format)`)
  return parsePrometheus(await res.text())
}
