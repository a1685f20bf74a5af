/**
 * `npm run bench`: every benchmark in sequence, each in its own node process, then one combined
 * summary. Budget: the whole run stays under 15 minutes on the 2-core dev machine (each benchmark
 * is killed at its own time limit or when the run's budget is spent). It always exits 0: benchmarks
 * report, they never fail CI (and `npm test` does not run them).
 *
 *   npm run bench                 all of them
 *   npm run bench -- log          only those whose name contains "log"
 *   BENCH_QUICK=1 npm run bench   small sizes, for checking that the scripts still work (results go
 *                                 to $TMPDIR/helios-bench-quick, not bench/results)
 *
 * Adding a benchmark: create `bench/<name>.bench.ts` (it is picked up automatically, in name order,
 * after the ones in BENCHMARKS below) that
 *   - runs on its own with `npx tsx bench/<name>.bench.ts`, starting whatever it needs
 *     (bench/zk-bench.ts starts a private ZooKeeper) and cleaning up after itself;
 *   - prints its tables, and calls `writeResult("<name>", { ..., summary })` from bench/lib.ts, where
 *     `summary` is an array of `line(metric, value, unit, target?)`: those lines make this script's
 *     combined table;
 *   - finishes well within its time limit (add it to LIMITS_S if it needs more than the default).
 */
import { spawn } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { BENCH_DIR, log, machine, nowMs, readResult, round, table, waitForQuiet, writeResult, type SummaryLine } from "./lib.ts"

/** The benchmarks that predate the *.bench.ts convention, run first. */
const BENCHMARKS = ["log.ts", "fold.ts", "deploy.ts", "fleet.ts", "rollout.ts", "cli-latency.ts"]
/** Time limit per benchmark, in seconds (default DEFAULT_LIMIT_S). */
const LIMITS_S: Record<string, number> = { "log.ts": 240, "fold.ts": 540, "deploy.ts": 180, "fleet.ts": 420, "rollout.ts": 420, "cli-latency.ts": 150, "state-at.bench.ts": 600, "snapshot-write.bench.ts": 240 }
const DEFAULT_LIMIT_S = 180
const BUDGET_S = 14.5 * 60

const resultName = (file: string) => file.replace(/\.bench\.ts$/, "").replace(/\.ts$/, "")

const discover = (): string[] => {
  const extra = readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith(".bench.ts"))
    .sort()
  return [...BENCHMARKS, ...extra.filter((f) => !BENCHMARKS.includes(f))]
}

/** Runs one benchmark file in a fresh node (with --expose-gc); resolves with its exit status. */
const run = (file: string, limitS: number): Promise<{ code: number | null; signal: string | null; timedOut: boolean; seconds: number }> =>
  new Promise((resolve) => {
    const t0 = nowMs()
    const child = spawn(process.execPath, ["--import", "tsx", "--expose-gc", "--max-old-space-size=8192", join(BENCH_DIR, file)], {
      stdio: "inherit",
      env: process.env,
    })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      log(`\n!! ${file} exceeded its ${limitS} s limit: stopping it`)
      child.kill("SIGTERM")
      setTimeout(() => child.kill("SIGKILL"), 5_000).unref()
    }, limitS * 1000)
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, timedOut, seconds: round((nowMs() - t0) / 1000, 1) })
    })
    child.on("error", () => {
      clearTimeout(timer)
      resolve({ code: -1, signal: null, timedOut, seconds: round((nowMs() - t0) / 1000, 1) })
    })
  })

const main = async () => {
  const started = Date.now()
  const t0 = nowMs()
  const filters = process.argv.slice(2)
  const files = discover().filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  const m = machine()
  log(`npm run bench: ${files.join(", ")}`)
  log(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, node ${m.node}, ZooKeeper ${m.zookeeper}, docker ${m.docker ?? "not available"}`)

  const runs: Array<Record<string, unknown>> = []
  const lines: Array<SummaryLine & { bench: string }> = []
  for (const file of files) {
    const left = BUDGET_S - (nowMs() - t0) / 1000
    if (left < 30) {
      log(`\n== ${file}: skipped, the run's ${BUDGET_S} s budget is spent`)
      runs.push({ file, status: "skipped (budget)" })
      continue
    }
    // Someone else's test run on the same 2 cores skews every figure: wait a little for quiet.
    const busy = await waitForQuiet(20_000)
    log(`\n== ${file} (CPU busy before start: ${Math.round(busy * 100)}%)`)
    const r = await run(file, Math.min(LIMITS_S[file] ?? DEFAULT_LIMIT_S, left))
    const name = resultName(file)
    const result = readResult(name)
    const fresh = result !== undefined && Date.parse(String(result["date"])) >= started
    const status = r.timedOut ? "timed out" : r.code === 0 && fresh ? "ok" : `failed (exit ${r.code ?? r.signal})`
    runs.push({ file, status, seconds: r.seconds, cpuBusyBefore: busy, result: fresh ? `bench/results/${name}.json` : undefined })
    if (fresh) for (const l of result.summary ?? []) lines.push({ bench: name, ...l })
  }

  const seconds = round((nowMs() - t0) / 1000, 1)
  log(`\n==== Summary (${seconds} s) ====`)
  log(table(["benchmark", "status", "seconds", "CPU busy before"], runs.map((r) => [r["file"], r["status"], r["seconds"] ?? "", r["cpuBusyBefore"] === undefined ? "" : `${Math.round((r["cpuBusyBefore"] as number) * 100)}%`])))
  log("")
  log(
    table(
      ["metric", "value", "unit", "target", "ok"],
      lines.map((l) => [l.metric, l.value, l.unit, l.target ?? "", l.ok === undefined ? "" : l.ok ? "yes" : "NO"]),
    ),
  )
  const file = writeResult("all", { seconds, runs, summary: lines })
  log(`\nwrote ${file}`)
}

await main()
process.exit(0)
