/**
 * How long `helios jobs` takes against a local master, wall clock and CPU, the way a user runs it:
 *
 *   - source:  the TypeScript sources through tsx (HELIOS_CLI_FROM_SOURCE=1 bin/helios.js), which
 *              is how every run went before `npm run build` (2.55 s wall, 3.7 s CPU in issue 15);
 *   - built:   bin/helios.js running the compiled dist/ (a checkout after `npm run build`; the
 *              launcher first checks dist/ is up to date with ~600 source files);
 *   - package: the same bin/ and dist/ laid out as an installed package (no sources beside them,
 *              so no freshness check);
 *   - node:    `node -e 0`, the floor no Node program starts under.
 *
 * Same run, same master, interleaved rounds (source, built, package, node, source, ...) so that
 * whatever else the machine does weighs on every variant alike. The master runs in this process on
 * an embedded SQLite log, holding JOBS jobs; each run lists them all. Target: built < 0.3 s wall (p50).
 *
 *   npx tsx bench/cli-latency.ts [ROUNDS]      (also run by `npm run bench`)
 *
 * Writes bench/results/cli-latency.json.
 */
import { execFile, execFileSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { startMaster } from "../master/master.ts"
import { runInProcess } from "../test/cli-helpers.ts"
import { benchCleanups, distribution, line, log, nowMs, round, runBench, summaryTable, table, waitForQuiet, writeResult } from "./lib.ts"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const BIN = join(ROOT, "bin/helios.js")
const QUICK = process.env["BENCH_QUICK"] === "1"
const ROUNDS = Number(process.argv[2] ?? (QUICK ? 3 : 12))
const JOBS = 20
const TARGET_S = 0.3
/** GNU time, for the CPU a run used (user + sys, children included); optional. */
const GNU_TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined

interface Variant {
  readonly name: string
  readonly argv: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
}

interface Sample {
  readonly wallMs: number
  readonly cpuMs: number | undefined
}

/** Runs the variant once; its wall time in ms and CPU (from GNU time). Throws unless it exits 0. */
const runOnce = (v: Variant): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const [cmd, args] = GNU_TIME ? [GNU_TIME, ["-f", "%U %S", process.execPath, ...v.argv]] : [process.execPath, [...v.argv]]
    const t0 = nowMs()
    execFile(cmd, args, { env: { PATH: process.env["PATH"] ?? "", ...v.env }, timeout: 60_000, maxBuffer: 16 << 20 }, (error, _stdout, stderr) => {
      const wallMs = nowMs() - t0
      if (error) return reject(new Error(`${v.name}: ${error.message}\n${stderr}`))
      const m = GNU_TIME ? /(\d+\.\d+) (\d+\.\d+)\s*$/.exec(stderr) : null
      resolve({ wallMs, cpuMs: m ? (Number(m[1]) + Number(m[2])) * 1000 : undefined })
    })
  })

const main = async () => {
  const { cleanups, run: cleanup } = benchCleanups()
  await runBench(
    "cli-latency",
    async () => {
      // The build the "built" and "package" variants run (a no-op when dist/ is up to date).
      execFileSync(process.execPath, [join(ROOT, "scripts/build.mjs")], { stdio: "inherit" })
      const dir = mkdtempSync(join(tmpdir(), "helios-bench-cli-"))
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
      const sqlite = new SqliteEventLog(join(dir, "events.db"))
      cleanups.push(() => sqlite.close())
      const master = await startMaster({ log: sqlite, port: 0, bindAddress: "127.0.0.1", name: "bench-cli" })
      cleanups.push(() => master.stop())
      const env = { HOME: dir, HELIOS_MASTER: master.url }
      for (let i = 0; i < JOBS; i++) {
        const r = await runInProcess(["create", "-q", `bench-${i}:v1`, "helios-test/web:latest", "-p", `http=80:${8000 + i}`, "--env", `N=${i}`], { env })
        if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`)
      }

      // An installed package's layout: bin/ and dist/ without the sources (node_modules linked).
      const pkgRoot = join(dir, "package")
      mkdirSync(pkgRoot)
      cpSync(join(ROOT, "bin"), join(pkgRoot, "bin"), { recursive: true })
      cpSync(join(ROOT, "dist"), join(pkgRoot, "dist"), { recursive: true })
      cpSync(join(ROOT, "package.json"), join(pkgRoot, "package.json"))
      symlinkSync(join(ROOT, "node_modules"), join(pkgRoot, "node_modules"))

      const variants: Variant[] = [
        { name: "source (tsx)", argv: [BIN, "jobs"], env: { ...env, HELIOS_CLI_FROM_SOURCE: "1" } },
        { name: "built (bin/helios.js → dist)", argv: [BIN, "jobs"], env },
        { name: "package (installed layout)", argv: [join(pkgRoot, "bin/helios.js"), "jobs"], env },
        { name: "node -e 0", argv: ["-e", "0"], env: {} },
      ]
      // The built variant must run dist/, not fall back to the sources.
      // (Not spawnSync: the master answering it runs in this process.)
      const which = await promisify(execFile)(process.execPath, [BIN, "jobs", "-q"], { env: { PATH: process.env["PATH"] ?? "", ...env, HELIOS_DEBUG: "1" } })
      if (!which.stderr.includes("running the bundle") || which.stdout.trim().split("\n").length !== JOBS)
        throw new Error(`bin/helios.js did not list ${JOBS} jobs from dist/: ${which.stderr}${which.stdout}`)

      const busy = await waitForQuiet(30_000)
      log(`cli-latency: ${ROUNDS} rounds of ${variants.map((v) => v.name).join(", ")} (CPU busy before: ${Math.round(busy * 100)}%)`)
      for (const v of variants) await runOnce(v) // warm the page cache
      const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]))
      for (let r = 0; r < ROUNDS; r++) for (const v of variants) samples.get(v.name)!.push(await runOnce(v))

      const rows = variants.map((v) => {
        const s = samples.get(v.name)!
        const cpu = s.every((x) => x.cpuMs !== undefined) ? distribution(s.map((x) => x.cpuMs!)) : undefined
        return { variant: v.name, wallMs: distribution(s.map((x) => x.wallMs)), cpuMs: cpu }
      })
      log(
        table(
          ["variant", "wall p50 ms", "wall p90 ms", "wall min ms", "CPU p50 ms"],
          rows.map((r) => [r.variant, round(r.wallMs.p50), round(r.wallMs.p90), round(r.wallMs.min), r.cpuMs ? round(r.cpuMs.p50) : ""]),
        ),
      )
      const [source, built, pkg] = rows
      const summary = [
        line("helios jobs from source (tsx), wall p50", round(source!.wallMs.p50 / 1000, 3), "s"),
        line("helios jobs built (bin → dist), wall p50", round(built!.wallMs.p50 / 1000, 3), "s", { op: "<=", value: TARGET_S, unit: "s" }),
        line("helios jobs installed package, wall p50", round(pkg!.wallMs.p50 / 1000, 3), "s", { op: "<=", value: TARGET_S, unit: "s" }),
        line("helios jobs built / source (wall p50)", round(built!.wallMs.p50 / source!.wallMs.p50, 3), "×"),
        // The fastest run: what the variant costs when nothing else competes for the CPU.
        line("helios jobs built, wall min", round(built!.wallMs.min / 1000, 3), "s"),
        line("helios jobs from source (tsx), wall min", round(source!.wallMs.min / 1000, 3), "s"),
        ...(built!.cpuMs && source!.cpuMs ? [line("helios jobs built, CPU p50", round(built!.cpuMs.p50 / 1000, 3), "s"), line("helios jobs from source, CPU p50", round(source!.cpuMs.p50 / 1000, 3), "s")] : []),
      ]
      log("")
      log(summaryTable(summary))
      const file = writeResult("cli-latency", { rounds: ROUNDS, jobs: JOBS, cpuBusyBefore: busy, variants: rows, summary })
      log(`\nwrote ${file}`)
    },
    cleanup,
  )
}

await main()
