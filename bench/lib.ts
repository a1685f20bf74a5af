/**
 * Shared helpers of the benchmarks: statistics, timing, a description of the machine, and the
 * JSON results under bench/results/<name>.json (the latest run overwrites the previous one).
 *
 * Every benchmark writes, besides its own data, a `summary`: an array of `SummaryLine` that
 * bench/all.ts prints as the combined table, so a new benchmark only has to fill it in.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir, totalmem } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { installedZooKeeperVersion, zooKeeperLib } from "../test/zookeeper.ts"

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
/** bench/results, except with BENCH_QUICK=1 (a smoke run must not overwrite the real results). */
export const RESULTS_DIR = process.env["BENCH_QUICK"] === "1" ? join(tmpdir(), "helios-bench-quick") : join(BENCH_DIR, "results")

// ---------------------------------------------------------------------------------------------
// Statistics

/** The p-th percentile (0..100) of `values`, by linear interpolation between closest ranks. */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo)
}

export const median = (values: ReadonlyArray<number>): number => percentile(values, 50)

export const mean = (values: ReadonlyArray<number>): number =>
  values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length

export interface Distribution {
  readonly n: number
  readonly min: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/** min/p50/p90/p99/max/mean of `values`, rounded to 3 decimals (milliseconds, usually). */
export const distribution = (values: ReadonlyArray<number>): Distribution => ({
  n: values.length,
  min: round(Math.min(...values), 3),
  p50: round(percentile(values, 50), 3),
  p90: round(percentile(values, 90), 3),
  p99: round(percentile(values, 99), 3),
  max: round(Math.max(...values), 3),
  mean: round(mean(values), 3),
})

export const round = (x: number, digits = 0): number => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

// ---------------------------------------------------------------------------------------------
// Timing and concurrency

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

/** Runs `f` and returns its value with the elapsed milliseconds. */
export const timed = async <T>(f: () => Promise<T> | T): Promise<{ value: T; ms: number }> => {
  const t0 = nowMs()
  const value = await f()
  return { value, ms: nowMs() - t0 }
}

/**
 * Calls `op(i)` for i in 0..n-1 with at most `inFlight` calls pending; returns the per-call
 * latencies (ms) and the total elapsed time. Calls are started in index order.
 */
export const pipelined = async (
  n: number,
  inFlight: number,
  op: (i: number) => Promise<unknown>,
): Promise<{ ms: number; latencies: number[] }> => {
  const latencies = new Array<number>(n)
  let next = 0
  const t0 = nowMs()
  const worker = async () => {
    while (next < n) {
      const i = next++
      const s = nowMs()
      await op(i)
      latencies[i] = nowMs() - s
    }
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker))
  return { ms: nowMs() - t0, latencies }
}

/**
 * Runs `f` and reports whether it finished within `capMs` (it is not cancelled: give it its own
 * session and close that to stop it), and how it failed otherwise.
 */
export const attempt = async (capMs: number, f: () => Promise<unknown>): Promise<{ ok: boolean; ms: number; error?: string }> => {
  const s = nowMs()
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([f(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not done after ${capMs} ms`)), capMs)))])
    return { ok: true, ms: nowMs() - s }
  } catch (e) {
    return { ok: false, ms: nowMs() - s, error: (e as { reason?: string; message?: string }).reason ?? (e as Error).message }
  } finally {
    clearTimeout(timer)
  }
}

/** Items per second of `count` items in `ms` milliseconds. */
export const rate = (count: number, ms: number): number => (ms <= 0 ? Number.POSITIVE_INFINITY : round((count * 1000) / ms))

/** Forces a full GC if node runs with --expose-gc (bench/all.ts passes it); a no-op otherwise. */
export const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) {
    g()
    g()
  }
}

export const mib = (bytes: number): number => round(bytes / 1024 / 1024, 1)

/** A small deterministic PRNG (mulberry32), so synthetic workloads are the same every run. */
export const rng = (seed: number) => {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (n: number): number => Math.floor(next() * n),
    pick: <T>(xs: ReadonlyArray<T>): T => xs[Math.floor(next() * xs.length)]!,
  }
}

// ---------------------------------------------------------------------------------------------
// Machine description

const tryRun = (cmd: string, args: string[]): string | undefined => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5_000 }).trim()
  } catch {
    return undefined
  }
}

/**
 * Fraction (0..1) of all CPUs busy during the next `ms` milliseconds, from /proc/stat: how much
 * else is running. NaN where /proc/stat is missing.
 */
export const cpuBusy = async (ms = 1000): Promise<number> => {
  const sample = () => {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3]! + (f[4] ?? 0)
    return { idle, total: f.reduce((a, b) => a + b, 0) }
  }
  try {
    const a = sample()
    await new Promise((r) => setTimeout(r, ms))
    const b = sample()
    return round(1 - (b.idle - a.idle) / Math.max(1, b.total - a.total), 2)
  } catch {
    return Number.NaN
  }
}

/**
 * Waits (at most `maxWaitMs`) until less than `threshold` of the CPUs are busy, so a benchmark
 * does not start on top of someone else's test run. Returns the last busy fraction seen.
 */
export const waitForQuiet = async (maxWaitMs = 60_000, threshold = 0.3): Promise<number> => {
  const deadline = Date.now() + maxWaitMs
  let busy = await cpuBusy()
  while (busy >= threshold && Date.now() < deadline) busy = await cpuBusy(2000)
  return busy
}

export interface Machine {
  readonly cpuModel: string
  readonly cores: number
  readonly memoryGiB: number
  readonly node: string
  readonly os: string
  readonly zookeeper: string
  readonly docker: string | undefined
}

let machineCache: Machine | undefined

/** What the numbers were measured on. */
export const machine = (): Machine => {
  if (machineCache) return machineCache
  let cpuModel = cpus()[0]?.model ?? "unknown"
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))
    if (m) cpuModel = m[1]!.trim()
  } catch {}
  let os: string = process.platform
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync("/etc/os-release", "utf8"))
    if (m) os = m[1]!
  } catch {}
  machineCache = {
    cpuModel,
    cores: cpus().length,
    memoryGiB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    os,
    zookeeper: installedZooKeeperVersion() ?? `none in ${zooKeeperLib()}`,
    docker: tryRun("docker", ["version", "--format", "{{.Server.Version}}"]),
  }
  return machineCache
}

// ---------------------------------------------------------------------------------------------
// Results

/** One line of the combined summary printed by bench/all.ts. */
export interface SummaryLine {
  readonly metric: string
  readonly value: number
  readonly unit: string
  /** e.g. ">= 0.8" or "<= 240 s"; absent when the figure has no target. */
  readonly target?: string
  /** Whether `value` meets `target` (absent without a target). */
  readonly ok?: boolean
}

export const line = (metric: string, value: number, unit: string, target?: { op: ">=" | "<="; value: number; unit?: string }): SummaryLine =>
  target === undefined
    ? { metric, value, unit }
    : {
        metric,
        value,
        unit,
        target: `${target.op} ${target.value}${target.unit ? ` ${target.unit}` : ""}`,
        ok: target.op === ">=" ? value >= target.value : value <= target.value,
      }

/** The 1/5/15-minute load averages when this module was loaded (other work on the machine skews the numbers). */
const loadAtStart = loadavg().map((x) => round(x, 2))

/** Writes bench/results/<name>.json (overwriting the previous run) with the date and the machine. */
export const writeResult = (name: string, data: Record<string, unknown>): string => {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `${name}.json`)
  const body = { name, date: new Date().toISOString(), machine: machine(), loadAverage: { atStart: loadAtStart, atEnd: loadavg().map((x) => round(x, 2)) }, ...data }
  writeFileSync(file, JSON.stringify(body, null, 2) + "\n")
  return file
}

export const readResult = (name: string): (Record<string, unknown> & { summary?: SummaryLine[] }) | undefined => {
  try {
    return JSON.parse(readFileSync(join(RESULTS_DIR, `${name}.json`), "utf8"))
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Printing

const fmt = (v: unknown): string => {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return String(v)
    if (Number.isInteger(v)) return v.toLocaleString("en-US")
    return Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en-US") : String(round(v, 2))
  }
  return v === undefined || v === null ? "" : String(v)
}

/** A plain-text table with right-aligned numbers. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<unknown>>): string => {
  const cells = [header.map(String), ...rows.map((r) => r.map(fmt))]
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)))
  const numeric = header.map((_, c) => rows.every((r) => r[c] === undefined || r[c] === null || typeof r[c] === "number"))
  const render = (r: ReadonlyArray<string>) =>
    r.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd()
  return [render(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(render)].join("\n")
}

export const summaryTable = (lines: ReadonlyArray<SummaryLine>): string =>
  table(
    ["metric", "value", "unit", "target", "ok"],
    lines.map((l) => [l.metric, l.value, l.unit, l.target ?? "", l.ok === undefined ? "" : l.ok ? "yes" : "NO"]),
  )

export const log = (...args: unknown[]): void => console.log(...args)

/**
 * A benchmark's cleanups (containers, servers, temp dirs), run once in reverse order: at the end of
 * the run, or on SIGINT/SIGTERM (then the process exits 130). `done` runs after them.
 */
export const benchCleanups = (done: () => void = () => {}) => {
  const cleanups: Array<() => Promise<void> | void> = []
  let running: Promise<void> | undefined
  const run = (): Promise<void> =>
    (running ??= (async () => {
      for (const c of cleanups.splice(0).reverse()) {
        try {
          await c()
        } catch (e) {
          log(`cleanup: ${String(e)}`)
        }
      }
      done()
    })())
  let signalled = false
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      if (signalled) return // a second signal (e.g. from npx tsx relaying it) must not cut the cleanup short
      signalled = true
      log(`\n${signal}: cleaning up`)
      void run().finally(() => process.exit(130))
    })
  return { cleanups, run }
}

/**
 * The cleanups of one part of a run (one size): `atExit` registers one both here and with the run's
 * (so a signal still runs it), `run` runs this part's in reverse order and takes them off the run's.
 */
export const partCleanups = (cleanups: Array<() => Promise<void> | void>) => {
  const local: Array<() => Promise<void> | void> = []
  return {
    atExit: (f: () => Promise<void> | void) => {
      local.push(f)
      cleanups.push(f)
    },
    run: async () => {
      for (const f of local.splice(0).reverse()) {
        const i = cleanups.indexOf(f)
        if (i >= 0) cleanups.splice(i, 1)
        try {
          await f()
        } catch (e) {
          log(`cleanup: ${String(e)}`)
        }
      }
    },
  }
}

/** Runs a benchmark's main, then its cleanups whatever happened, and exits (1 if main failed). */
export const runBench = async (name: string, main: () => Promise<void>, cleanup: () => Promise<void>): Promise<never> => {
  try {
    await main()
  } catch (e) {
    console.error(`bench/${name} failed:`, e)
    process.exitCode = 1
  } finally {
    await cleanup()
  }
  process.exit(process.exitCode ?? 0)
}
