/**
 * `npx tsx bench/snapshot-write.bench.ts` (also run by `npm run bench`): what writing a master's
 * snapshot costs the API while it serves, for the read model of a 10^6-event log (bench/workload.ts).
 *
 *   - encodeSnapshot in one go: how long it blocks the event loop (the master before);
 *   - saveSnapshot (master/snapshots.ts: captured at once, encoded in slices, written by libuv's
 *     threads) while an HTTP server in the same process is asked back to back by a client in a worker
 *     thread (as a CLI would, from outside): the slowest answers, and the longest the event loop
 *     went without a turn (a 1 ms interval timer's longest gap);
 *   - the alternative not taken, a worker thread: the model would be copied to it by structured
 *     clone; measured on the fleet state and the history index.
 * Writes bench/results/snapshot-write.json.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { Worker } from "node:worker_threads"
import { join } from "node:path"
import type { EventLog } from "../core/event-log.ts"
import { cloneState } from "../core/state.ts"
import { saveSnapshot } from "../master/snapshots.ts"
import { foldReadModel } from "../projections/read-model.ts"
import { encodeSnapshot } from "../projections/snapshot.ts"
import { benchCleanups, distribution, gc, line, log, machine, mib, nowMs, round, runBench, summaryTable, waitForQuiet, writeResult } from "./lib.ts"
import { generateWorkload } from "./workload.ts"

const QUICK = process.env["BENCH_QUICK"] === "1"
const SIZE = QUICK ? 100_000 : 1_000_000
const TARGET_GAP_MS = 50

const { cleanups, run: cleanup } = benchCleanups()

const main = async () => {
  const busy = await waitForQuiet(15_000)
  const t0 = nowMs()
  log(`bench/snapshot-write: ${machine().cpuModel}, ${machine().cores} cores, node ${machine().node} (CPU busy at start ${Math.round(busy * 100)}%)`)
  const { events } = generateWorkload(SIZE)
  const model = foldReadModel(events)
  log(`  generated and folded ${SIZE} events in ${round((nowMs() - t0) / 1000, 1)} s`)
  // A master copies its fleet state every 10,000 events (its checkpoints, master/checkpoints.ts), so
  // the copy a snapshot starts with runs warm there; the first one in a process is several times slower.
  for (let i = 0; i < 3; i++) cloneState(model.state)
  gc()

  const t1 = nowMs()
  const bytes = encodeSnapshot(model)
  const oneGoMs = nowMs() - t1
  log(`  encodeSnapshot in one go: ${round(oneGoMs)} ms, ${mib(bytes.length)} MiB`)
  gc()

  const t2 = nowMs()
  structuredClone(model.state)
  const cloneStateMs = nowMs() - t2
  const t3 = nowMs()
  const h = model.history
  structuredClone({ positions: h.positions, jobNumbers: h.jobNumbers, previous: h.previous, jobIds: h.jobIds, taskStates: h.taskStates })
  const cloneHistoryMs = nowMs() - t3
  log(`  structured clone (what handing the model to a worker costs): state ${round(cloneStateMs)} ms, history index ${round(cloneHistoryMs)} ms (${h.length} job events)`)
  gc()

  const dir = mkdtempSync(join(tmpdir(), "helios-bench-snapshot-"))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, "snapshot.bin")
  const eventLog = { read: async (after: number, limit = 1) => events.slice(after, after + limit) } as unknown as EventLog
  const server = createServer((_, res) => res.end("ok"))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const latencies: number[] = []
  const gaps: number[] = []
  // The client: its own thread, its own event loop (it measures the server, not itself).
  const client = new Worker(
    `const { parentPort } = require("node:worker_threads"); let go = true; parentPort.on("message", () => { go = false });
     (async () => { while (go) { const t = performance.now(); await (await fetch(${JSON.stringify(url)})).text(); parentPort.postMessage(performance.now() - t) } parentPort.postMessage("done") })()`,
    { eval: true },
  )
  const clientDone = new Promise<void>((resolve) => client.on("message", (m: number | "done") => (m === "done" ? resolve() : latencies.push(m))))
  cleanups.push(() => client.terminate().then(() => undefined))
  // Its first answers (connection, warm-up) are not counted.
  while (latencies.length < 20) await new Promise((resolve) => setTimeout(resolve, 10))
  const warm = latencies.length
  let last = nowMs()
  const timer = setInterval(() => {
    const now = nowMs()
    gaps.push(now - last)
    last = now
  }, 1)
  const t4 = nowMs()
  await saveSnapshot(file, eventLog, model)
  const savingMs = nowMs() - t4
  clearInterval(timer)
  client.postMessage("stop")
  await clientDone
  const answers = distribution(latencies.slice(warm))
  const loopGaps = distribution(gaps)
  log(`  saveSnapshot while serving: ${round(savingMs)} ms, ${mib(statSync(file).size)} MiB; ${answers.n} answers, slowest ${round(answers.max, 1)} ms (p99 ${round(answers.p99, 1)}); longest event-loop gap ${round(loopGaps.max, 1)} ms (p99 ${round(loopGaps.p99, 1)})`)

  const summary = [
    line(`snapshot ${SIZE} events: encoding in one go blocks the master`, round(oneGoMs), "ms"),
    line(`snapshot ${SIZE} events written while serving: longest event-loop gap`, round(loopGaps.max, 1), "ms", { op: "<=", value: TARGET_GAP_MS, unit: "ms" }),
    line(`  slowest HTTP answer meanwhile`, round(answers.max, 1), "ms"),
    line(`  time to write it`, round(savingMs), "ms"),
    line(`  structured clone of the model (a worker's input)`, round(cloneStateMs + cloneHistoryMs), "ms"),
  ]
  log(`\n${summaryTable(summary)}`)
  const out = writeResult("snapshot-write", {
    seconds: round((nowMs() - t0) / 1000),
    cpuBusyAtStart: busy,
    config: { size: SIZE, quick: QUICK },
    snapshotMiB: mib(bytes.length),
    oneGoMs: round(oneGoMs),
    structuredClone: { stateMs: round(cloneStateMs), historyIndexMs: round(cloneHistoryMs) },
    sliced: { savingMs: round(savingMs), answers, loopGaps },
    summary,
  })
  log(`wrote ${out}`)
}

await runBench("snapshot-write", main, cleanup)
