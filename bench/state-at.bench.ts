/**
 * `npx tsx bench/state-at.bench.ts` (also run by `npm run bench`): the fleet state as of a past
 * position or time (`GET /state?at=`, `helios status --at`), with checkpoints (master/checkpoints.ts)
 * against a full replay of the log's prefix (what the master did before), in the same run.
 *
 * For logs of 10^4, 10^5 and 10^6 events (bench/workload.ts, on the SQLite log: one log grown from
 * one size to the next, copied at each size; the generated events are then dropped, so the process
 * holds only what a master holds), a master is started on each log (its projection builds the
 * checkpoints as it catches up); then:
 *   - ours: `GET /state?at=P` at random positions P and `at=TIME` at random events' times, over HTTP
 *     (the answer's JSON included), with the checkpoints in a state dir (files, a few decoded in
 *     memory: a random position is mostly a file to decode) and in memory (a master without
 *     --state-dir);
 *   - full replay: the log read from position 0 up to P and folded (stateAsOf), at a few of the same
 *     positions, in the same process.
 * At the largest size it also times the master's cold start without checkpoints, to show what
 * building them costs. Then the same on a private ZooKeeper with a 10^5-event log: a query reads at
 * most one checkpoint interval of the log whatever its length, so this size gives ZooKeeper's figure
 * for any length (10^6 events there would take minutes to write and to cold start).
 *
 * On the same masters, a job's history (`GET /history/jobs/{id}`, `helios history`) of the job with
 * the longest one: over HTTP, and its read of the log in process, ours (EventLog.readAt: only the
 * job's events decoded) against the ranges around its positions read and decoded whole (what the
 * master did before), in the same run.
 * Writes bench/results/state-at.json.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs"
import { get } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { wrapLog, type EventLog } from "../core/event-log.ts"
import type { EventEnvelope, StoredEvent } from "../core/events.ts"
import { position } from "../core/ids.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { stateEntries } from "../master/checkpoints.ts"
import { readEventsAt } from "../master/history-reader.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { encodeCheckpoint, runToEnd } from "../projections/checkpoint-codec.ts"
import { stateAsOf } from "../projections/read-model.ts"
import { benchCleanups, distribution, gc, line, log, machine, mib, nowMs, rng, round, runBench, summaryTable, table, waitForQuiet, writeResult, type SummaryLine } from "./lib.ts"
import { generateWorkload } from "./workload.ts"
import { startBenchZooKeeper } from "./zk-bench.ts"

const QUICK = process.env["BENCH_QUICK"] === "1"
const SIZES = QUICK ? [10_000, 30_000] : [10_000, 100_000, 1_000_000]
const LARGEST = SIZES[SIZES.length - 1]!
const WRITE_BATCH = 100
/** Queries per size and kind of store (positions, then times). */
const POSITIONS = 20
const TIMES = 10
/** Full replays per size (each reads and folds up to the whole log). */
const REPLAYS = (size: number) => (size >= 1_000_000 ? 3 : 5)
const TARGET_MS = 1000
/** On ZooKeeper (a private server): a log of this size, where a query's cost is reading its tail (at most one interval) from ZooKeeper. */
const ZK_SIZE = QUICK ? 10_000 : 100_000

const { cleanups, run: cleanup } = benchCleanups()

/** The old /state: the log read from position 0 in pages of 5,000 up to the bound, then folded. */
const fullReplay = async (log: EventLog, at: { position: number } | { time: number }) => {
  const events: StoredEvent[] = []
  let after = 0
  outer: for (;;) {
    const page = await log.read(position(after), 5000)
    if (page.length === 0) break
    for (const e of page) {
      if ("position" in at ? e.position > at.position : e.envelope.at > at.time) break outer
      events.push(e)
    }
    after = page[page.length - 1]!.position
  }
  return stateAsOf(events, at)
}

interface Query {
  readonly kind: "position" | "time"
  readonly at: string
  readonly httpMs: number
  readonly internalMs: number
  readonly folded: number
  readonly bytes: number
}

/** A GET on a connection of its own (as a CLI makes it): status and body length. */
const httpGet = (url: string): Promise<{ status: number; bytes: number }> =>
  new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let bytes = 0
      res.on("data", (d: Buffer) => (bytes += d.length))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }))
      res.on("error", reject)
    }).on("error", reject)
  })

/** `GET /state?at=` over HTTP, then the same query again in process (to see where the time goes). */
const query = async (m: RunningMaster, kind: Query["kind"], at: string): Promise<Query> => {
  const t = nowMs()
  const res = await httpGet(`${m.url}/state?at=${encodeURIComponent(at)}`)
  const httpMs = nowMs() - t
  if (res.status !== 200) throw new Error(`/state?at=${at}: HTTP ${res.status}`)
  let folded = 0
  const t2 = nowMs()
  await m.checkpoints.stateAsOf(kind === "position" ? { position: Number(at) } : { time: Date.parse(at) }, (s) => (folded = s.folded))
  return { kind, at, httpMs, internalMs: nowMs() - t2, folded, bytes: res.bytes }
}

/** Three times each: the job with the longest history, its GET /history over HTTP, and its read of the log, ours and by ranges. */
const jobHistory = async (m: RunningMaster, eventLog: EventLog) => {
  const history = m.projection.model.history
  const [id, positions] = [...m.projection.model.state.jobs.keys()]
    .map((j) => [j, history.positionsOf(j)] as const)
    .reduce((a, b) => (b[1].length > a[1].length ? b : a))
  // The log without its positional read: readEventsAt reads the ranges around the positions.
  const ranged = { ...wrapLog(eventLog, {}), readAt: undefined } as unknown as EventLog
  const times = async (f: () => Promise<unknown>) => {
    const ms: number[] = []
    for (let i = 0; i < 3; i++) {
      const t = nowMs()
      await f()
      ms.push(nowMs() - t)
    }
    return distribution(ms).p50
  }
  let bytes = 0
  const httpMs = await times(async () => {
    const res = await httpGet(`${m.url}/history/jobs/${encodeURIComponent(id)}`)
    if (res.status !== 200) throw new Error(`/history/jobs/${id}: HTTP ${res.status}`)
    bytes = res.bytes
  })
  const readMs = await times(() => readEventsAt(eventLog, positions))
  const rangesMs = await times(() => readEventsAt(ranged, positions))
  log(`    history of ${id} (${positions.length} events, ${round(bytes / 1024)} KiB): HTTP ${round(httpMs, 1)} ms; read ${round(readMs, 1)} ms, by ranges ${round(rangesMs, 1)} ms`)
  return { job: id, events: positions.length, answerKiB: round(bytes / 1024), httpMs: round(httpMs, 1), readMs: round(readMs, 1), rangesReadMs: round(rangesMs, 1) }
}

/** A master on `eventLog` (checkpoints in `checkpointDir`, else in memory), asked /state?at= at the positions and times. */
const measure = async (eventLog: EventLog, label: string, checkpointDir: string | undefined, positions: ReadonlyArray<number>, times: ReadonlyArray<string>) => {
  const cs = nowMs()
  const m = await startMaster({
    log: eventLog,
    name: "bench",
    port: 0,
    bindAddress: "127.0.0.1",
    housekeepingIntervalMs: 2_000_000_000,
    ...(checkpointDir !== undefined ? { checkpointDir } : {}),
  })
  await m.checkpoints.ready()
  const coldStartMs = nowMs() - cs
  const stats = m.checkpoints.stats()
  const queries: Query[] = []
  for (const p of positions) queries.push(await query(m, "position", String(p)))
  for (const t of times) queries.push(await query(m, "time", t))
  const history = checkpointDir !== undefined ? await jobHistory(m, eventLog) : undefined
  await m.stop()
  gc()
  const slowest = [...queries].sort((a, b) => b.httpMs - a.httpMs).slice(0, 3)
  log(`    slowest: ${slowest.map((q) => `${q.kind} ${q.at}: ${round(q.httpMs)} ms (in process ${round(q.internalMs)} ms, ${q.folded} events folded, ${round(q.bytes / 1024)} KiB)`).join("; ")}`)
  const http = distribution(queries.map((q) => q.httpMs))
  const internal = distribution(queries.map((q) => q.internalMs))
  log(`  ${label}: cold start ${round(coldStartMs / 1000, 1)} s, ${stats.count} checkpoints every ${stats.every} (${mib(stats.bytes)} MiB); /state?at= median ${round(http.p50)} ms, max ${round(http.max)} ms`)
  return {
    variant: checkpointDir !== undefined ? "state dir" : "memory",
    coldStartMs: round(coldStartMs),
    checkpoints: stats.count,
    every: stats.every,
    checkpointsMiB: mib(stats.bytes),
    httpMs: http,
    internalMs: internal,
    foldedMax: Math.max(...queries.map((q) => q.folded)),
    answerKiBMedian: round(distribution(queries.map((q) => q.bytes)).p50 / 1024),
    ...(history ? { history } : {}),
  }
}

const main = async () => {
  const busy = await waitForQuiet(15_000)
  const t0 = nowMs()
  const elapsed = () => round((nowMs() - t0) / 1000)
  log(`bench/state-at: ${machine().cpuModel}, ${machine().cores} cores, node ${machine().node} (CPU busy at start ${Math.round(busy * 100)}%)`)
  const gen = nowMs()
  const dir = mkdtempSync(join(tmpdir(), "helios-bench-state-at-"))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const r = rng(7)
  let realCheckpoint: Record<string, number> = {}
  let zkPlan: { envelopes: EventEnvelope[]; positions: number[]; times: string[] } | undefined
  /** Per size: its log file and the positions and times to ask for. */
  const plans: Array<{ size: number; file: string; positions: number[]; times: string[] }> = []
  {
    const workload = generateWorkload(LARGEST)
    const all = workload.events
    log(`  generated ${all.length} events in ${round((nowMs() - gen) / 1000, 1)} s`)
    // The logs below are appended without expected versions (the stores re-batch the events), so
    // their states carry no stream versions; a real log's do (one per job and host stream).
    const entries = stateEntries(workload.state)
    const encoded = runToEnd(encodeCheckpoint({ position: LARGEST, maxAt: 0, fingerprint: "", state: workload.state })).length
    realCheckpoint = { entries, streams: workload.state.versions.size, estimatedMiB: mib(entries * 40), encodedMiB: mib(encoded) }
    log(`  a checkpoint of the state after ${LARGEST} events with its ${workload.state.versions.size} stream versions: ${entries} map entries, ~${mib(entries * 40)} MiB in memory, ${mib(encoded)} MiB as a file`)
    const file = join(dir, "log.db")
    let written = 0
    for (const size of SIZES) {
      const slog = new SqliteEventLog(file)
      const w = nowMs()
      for (let i = written; i < size; i += WRITE_BATCH) await slog.append(all.slice(i, Math.min(size, i + WRITE_BATCH)).map((e) => e.envelope))
      await slog.close()
      log(`  SQLite: wrote events ${written + 1}..${size} in ${round((nowMs() - w) / 1000, 1)} s [${elapsed()} s]`)
      written = size
      const copy = join(dir, `log-${size}.db`)
      copyFileSync(file, copy)
      plans.push({
        size,
        file: copy,
        positions: Array.from({ length: POSITIONS }, () => 1 + r.int(size)),
        times: Array.from({ length: TIMES }, () => new Date(all[r.int(size)]!.envelope.at).toISOString()),
      })
    }
    rmSync(file)
    zkPlan = {
      envelopes: all.slice(0, ZK_SIZE).map((e) => e.envelope),
      positions: Array.from({ length: POSITIONS }, () => 1 + r.int(ZK_SIZE)),
      times: Array.from({ length: TIMES }, () => new Date(all[r.int(ZK_SIZE)]!.envelope.at).toISOString()),
    }
  }
  gc()
  const rows: Array<Record<string, unknown>> = []
  let coldStartWithout: Record<string, number> | undefined
  for (const { size, file, positions, times } of plans) {
    const slog = new SqliteEventLog(file)
    const variants: Array<Record<string, unknown>> = []
    for (const variant of ["state dir", "memory"] as const)
      variants.push(await measure(slog, `${size} events, checkpoints in ${variant}`, variant === "state dir" ? join(dir, `checkpoints-${size}`) : undefined, positions, times))
    // The full replay, at the first few of the same positions.
    const replays: Array<{ at: number; ms: number }> = []
    for (const p of positions.slice(0, REPLAYS(size))) {
      const t = nowMs()
      await fullReplay(slog, { position: p })
      replays.push({ at: p, ms: nowMs() - t })
      gc()
    }
    const replay = distribution(replays.map((x) => x.ms))
    log(`  ${size} events, full replay at ${replays.length} of the same positions: median ${round(replay.p50)} ms, max ${round(replay.max)} ms [${elapsed()} s]`)
    if (size === LARGEST) {
      // What building checkpoints costs a cold start: the same master with (practically) none.
      const cs = nowMs()
      const m = await startMaster({ log: slog, name: "bench", port: 0, bindAddress: "127.0.0.1", housekeepingIntervalMs: 2_000_000_000, checkpointEvery: Number.MAX_SAFE_INTEGER })
      coldStartWithout = { size, coldStartMs: round(nowMs() - cs) }
      await m.stop()
      gc()
      log(`  ${size} events, cold start without checkpoints: ${round(coldStartWithout.coldStartMs! / 1000, 1)} s [${elapsed()} s]`)
    }
    await slog.close()
    rows.push({ size, variants, replayMs: replay, replays })
  }

  // ZooKeeper: the same queries on a log there (its reads are what a query's tail costs).
  let zkRow: Record<string, unknown> | undefined
  {
    const server = await startBenchZooKeeper()
    cleanups.push(() => server.destroy())
    const zk = await ZkClient.connect(server.connectString, { operationTimeoutMs: 30_000 })
    cleanups.push(() => zk.close())
    const zlog = await ZooKeeperEventLog.open(zk, { root: "/state-at" })
    const w = nowMs()
    const { envelopes, positions, times } = zkPlan!
    // Serially: the log keeps the workload's order (an append creating a host stream may be overtaken by later ones).
    for (let i = 0; i < envelopes.length; i += WRITE_BATCH) await zlog.append(envelopes.slice(i, i + WRITE_BATCH))
    zkPlan = undefined
    log(`  ZooKeeper: wrote ${ZK_SIZE} events in ${round((nowMs() - w) / 1000, 1)} s [${elapsed()} s]`)
    const ours = await measure(zlog, `${ZK_SIZE} events on ZooKeeper, checkpoints in state dir`, join(dir, "checkpoints-zk"), positions, times)
    const replays: number[] = []
    for (const p of positions.slice(0, 3)) {
      const t = nowMs()
      await fullReplay(zlog, { position: p })
      replays.push(nowMs() - t)
    }
    const replay = distribution(replays)
    log(`  ${ZK_SIZE} events on ZooKeeper, full replay at 3 of the same positions: median ${round(replay.p50)} ms [${elapsed()} s]`)
    zkRow = { size: ZK_SIZE, ours, replayMs: replay }
  }

  const ours = (row: Record<string, unknown>, variant: string) =>
    ((row["variants"] as Array<Record<string, unknown>>).find((v) => v["variant"] === variant)!)
  log(`\nGET /state?at= at ${POSITIONS} random positions and ${TIMES} random times (HTTP, ms), vs the log's prefix read and folded:`)
  log(
    table(
      ["events", "checkpoints in", "every", "count", "MiB", "median ms", "p90 ms", "max ms", "in-process median ms", "max events folded", "replay median ms", "replay / ours"],
      rows.flatMap((row) =>
        (["state dir", "memory"] as const).map((variant) => {
          const v = ours(row, variant)
          const http = v["httpMs"] as ReturnType<typeof distribution>
          const internal = v["internalMs"] as ReturnType<typeof distribution>
          const replay = row["replayMs"] as ReturnType<typeof distribution>
          return [row["size"], variant, v["every"], v["checkpoints"], v["checkpointsMiB"], round(http.p50, 1), round(http.p90, 1), round(http.max, 1), round(internal.p50, 1), v["foldedMax"], round(replay.p50), round(replay.p50 / internal.p50, 1)]
        }),
      ),
    ),
  )
  const first = rows[0]!
  const last = rows[rows.length - 1]!
  const growth = (variant: string) => round((ours(last, variant)["httpMs"] as ReturnType<typeof distribution>).p50 / (ours(first, variant)["httpMs"] as ReturnType<typeof distribution>).p50, 1)
  const replayGrowth = round((last["replayMs"] as ReturnType<typeof distribution>).p50 / (first["replayMs"] as ReturnType<typeof distribution>).p50, 1)
  const sizesGrowth = round((last["size"] as number) / (first["size"] as number))
  log(`growth from ${first["size"]} to ${last["size"]} events (x${sizesGrowth}): ours x${growth("state dir")} (state dir), x${growth("memory")} (memory); full replay x${replayGrowth}`)
  const withCp = ours(last, "memory")["coldStartMs"] as number
  if (coldStartWithout) log(`cold start at ${LARGEST} events: ${round(withCp / 1000, 1)} s building checkpoints in memory, ${round(coldStartWithout.coldStartMs! / 1000, 1)} s without`)

  type History = { job: string; events: number; answerKiB: number; httpMs: number; readMs: number; rangesReadMs: number }
  const histories: Array<[number | string, History]> = [
    ...rows.map((row) => [row["size"] as number, ours(row, "state dir")["history"] as History] as [number, History]),
    ...(zkRow ? [[`${zkRow["size"] as number} on ZooKeeper`, (zkRow["ours"] as Record<string, unknown>)["history"] as History] as [string, History]] : []),
  ]
  log(`\nGET /history/jobs/{id} of the job with the longest history (median of 3), and its read of the log in process: ours (only its events decoded) vs the ranges around them read whole (the master before):`)
  log(
    table(
      ["log events", "job events", "answer KiB", "HTTP ms", "read ms", "ranges read ms", "ranges / ours"],
      histories.map(([size, h]) => [size, h.events, h.answerKiB, h.httpMs, h.readMs, h.rangesReadMs, round(h.rangesReadMs / Math.max(0.1, h.readMs), 1)]),
    ),
  )

  const summary: SummaryLine[] = [
    ...histories.flatMap(([size, h]) => [
      line(`history of the longest job (${h.events} events), ${size} events: HTTP`, h.httpMs, "ms"),
      line(`  its read: ranges / ours, ${size} events`, round(h.rangesReadMs / Math.max(0.1, h.readMs), 1), "x"),
    ]),
    ...rows.flatMap((row) => [
      line(`state?at= median, ${row["size"]} events (checkpoints in state dir)`, round((ours(row, "state dir")["httpMs"] as ReturnType<typeof distribution>).p50, 1), "ms", row["size"] === 1_000_000 ? { op: "<=", value: TARGET_MS, unit: "ms" } : undefined),
      line(`state?at= max, ${row["size"]} events (state dir)`, round((ours(row, "state dir")["httpMs"] as ReturnType<typeof distribution>).max, 1), "ms", row["size"] === 1_000_000 ? { op: "<=", value: TARGET_MS, unit: "ms" } : undefined),
      line(`state?at= median, ${row["size"]} events (memory)`, round((ours(row, "memory")["httpMs"] as ReturnType<typeof distribution>).p50, 1), "ms"),
      line(`  full replay median, ${row["size"]} events`, round((row["replayMs"] as ReturnType<typeof distribution>).p50), "ms"),
    ]),
    line(`state?at= growth ${first["size"]} -> ${last["size"]} events (state dir)`, growth("state dir"), "x"),
    line(`  full replay growth, same sizes`, replayGrowth, "x"),
    ...(coldStartWithout ? [line(`cold start ${LARGEST} events (SQLite): with checkpoints / without`, round(withCp / coldStartWithout.coldStartMs!, 2), "x")] : []),
    ...(zkRow
      ? [
          line(`state?at= median, ${zkRow["size"]} events on ZooKeeper (state dir)`, round(((zkRow["ours"] as Record<string, unknown>)["httpMs"] as ReturnType<typeof distribution>).p50, 1), "ms"),
          line(`state?at= max, ${zkRow["size"]} events on ZooKeeper (state dir)`, round(((zkRow["ours"] as Record<string, unknown>)["httpMs"] as ReturnType<typeof distribution>).max, 1), "ms", { op: "<=", value: TARGET_MS, unit: "ms" }),
          line(`  full replay median, ${zkRow["size"]} events on ZooKeeper`, round((zkRow["replayMs"] as ReturnType<typeof distribution>).p50), "ms"),
        ]
      : []),
  ]
  log(`\n${summaryTable(summary)}`)
  const out = writeResult("state-at", {
    seconds: elapsed(),
    cpuBusyAtStart: busy,
    config: { sizes: SIZES, writeBatch: WRITE_BATCH, positions: POSITIONS, times: TIMES, store: "sqlite", workload: { hosts: 100, deploymentsPerHost: 5, seed: 42 }, quick: QUICK },
    rows,
    coldStartWithoutCheckpoints: coldStartWithout,
    checkpointWithStreamVersions: realCheckpoint,
    zooKeeper: zkRow,
    summary,
  })
  log(`wrote ${out}`)
}

await runBench("state-at", main, cleanup)
