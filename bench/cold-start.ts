/**
 * A master cold start in a fresh node process (bench/cold-start-worker.ts prints one JSON line),
 * and a process's resident memory: shared by the benchmarks that measure cold starts.
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { BENCH_DIR } from "./lib.ts"

/** Runs bench/cold-start-worker.ts in a fresh node and returns its JSON line. */
export const coldStart = (args: Record<string, unknown>): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--expose-gc", join(BENCH_DIR, "cold-start-worker.ts"), JSON.stringify(args)], {
      stdio: ["ignore", "pipe", "inherit"],
    })
    let out = ""
    child.stdout.on("data", (d: Buffer) => (out += d.toString()))
    child.on("error", reject)
    child.on("exit", (code) => {
      const last = out.trim().split("\n").at(-1) ?? ""
      try {
        resolve(JSON.parse(last) as Record<string, unknown>)
      } catch {
        reject(new Error(`cold-start worker exited with ${code}: ${out.slice(-2000)}`))
      }
    })
  })

/** Resident memory of a process, in bytes (NaN if unknown). */
export const rssOf = (pid: number | undefined): number => {
  if (pid === undefined) return Number.NaN
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) * 1024
  } catch {
    return Number.NaN
  }
}
