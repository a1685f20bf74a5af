/**
 * `npx tsx bench/fold.ts` (also run by `npm run bench`): how fast the master's projection folds,
 * and what a master cold start costs.
 *
 *   1. Fold rate for 1e5 and 1e6 synthetic events (bench/workload.ts: commands decided by
 *      core/decide, so every event is valid): applyEvent only (the fleet state, "after decode"),
 *      applyToReadModel (state + history + command ids: what the master folds), and
 *      decode + fold from encoded batches (1 event per batch as commands append, 100 per batch).
 *      Also decode-only.
 *   2. Snapshots of the 1e6 read model: encode/decode time and size, and cold start from
 *      snapshot + tail vs full replay (simulated in memory: decodeSnapshot, then decode + fold the tail).
 *   3. Master cold start (startMaster in a fresh process, bench/cold-start-worker.ts): time and RSS
 *      on a ZooKeeper log (written 100 events per append, 64 in flight) and on the SQLite log.
 *      Each store holds one log: the 1e5-event cold start reads its first 1e5 events, then the rest
 *      is appended and the 1e6 cold start reads all of it (the larger log is the smaller one plus a
 *      tail, so it is written once). 1e6 events on ZooKeeper is attempted only when the 1e5 run
 *      projects it under ~5 minutes and it fits this run's budget; otherwise 2e5 on ZooKeeper and
 *      1e6 on SQLite. Each cold start's read model is checked against an in-memory fold of the same
 *      events.
 *
 * Part 3 runs first, so that the time budget decides about 1e6 on ZooKeeper before anything else
 * is spent. About 4 minutes here (FOLD_BUDGET_S: 300 s); writes bench/results/fold.json.
 */
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { isDeepStrictEqual } from "node:util"
import { Result } from "effect"
import { decodeBatch, encodeBatch } from "../core/codec.ts"
import { hostsOf, type EventEnvelope, type StoredEvent } from "../core/events.ts"
import { position } from "../core/ids.ts"
import { applyEvent, foldEvents } from "../core/state.ts"
import { CommandIndex } from "../projections/commands.ts"
import { applyHistory, emptyHistory, historySize } from "../projections/history.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { applyToReadModel, emptyReadModel, foldReadModel, type ReadModel } from "../projections/read-model.ts"
import { decodeSnapshot, encodeSnapshot } from "../projections/snapshot.ts"
import {
  gc,
  line,
  log,
  machine,
  median,
  mib,
  nowMs,
  pipelined,
  rate,
  round,
  summaryTable,
  table,
  waitForQuiet,
  writeResult,
  type SummaryLine,
} from "./lib.ts"
import { generateWorkload, mixOf } from "./workload.ts"
import { mapLimit } from "../log/map-limit.ts"
import { startBenchZooKeeper, zkFigures } from "./zk-bench.ts"
import { coldStart, rssOf } from "./cold-start.ts"

const QUICK = process.env["BENCH_QUICK"] === "1"
const SIZES = QUICK ? [10_000, 100_000] : [100_000, 1_000_000]
const LARGEST = SIZES[SIZES.length - 1]!
const ROUNDS = 3
const WRITE_BATCH = 100
const WRITE_INFLIGHT = 64
/** Give up on 1e6 events on ZooKeeper when the 1e5 run projects more than this for write + cold start (the brief's ~6 minutes, with margin). */
const ZK_LARGE_BUDGET_S = 300
/** The whole of fold.ts should finish within this (bench/all.ts stops it at 540 s): 1e6 on ZooKeeper is skipped if it would not fit. */
const FOLD_BUDGET_S = Number(process.env["BENCH_FOLD_BUDGET_S"] ?? 300)
/**
 * Time for what follows the ZooKeeper cold starts (SQLite at 1e6, the folds, the snapshots) on a
 * quiet machine (~105 s measured), scaled by how slow this run is (the workload generation takes
 * ~16 s for 1e6 events on a quiet machine), when deciding the above.
 */
const REST_ALLOWANCE_S = 110
/** Of which the in-memory folds and snapshots at 1e6 (~65 s measured), when deciding their size after the cold starts. */
const IN_MEMORY_ALLOWANCE_S = 70
const QUIET_GENERATION_S_PER_MILLION = 16

const elapsed = (t0: number) => round((nowMs() - t0) / 1000, 1)

/** Median events/s of `rounds` timed runs of `f` (each on fresh state), after a full GC (with --expose-gc). */
const measure = (n: number, rounds: number, f: () => void): { perSec: number; rounds: number[] } => {
  gc()
  const rates: number[] = []
  for (let r = 0; r < rounds; r++) {
    const t = nowMs()
    f()
    rates.push(rate(n, nowMs() - t))
  }
  return { perSec: round(median(rates)), rounds: rates }
}

/** Encodes events into batches of `size` (the last may be shorter). */
const encodeInBatches = (events: ReadonlyArray<StoredEvent>, size: number): Array<{ first: number; bytes: Uint8Array }> => {
  const out: Array<{ first: number; bytes: Uint8Array }> = []
  for (let i = 0; i < events.length; i += size) {
    const slice = events.slice(i, i + size)
    out.push({ first: slice[0]!.position, bytes: encodeBatch({ batchId: randomUUID(), bumped: slice.at(-1)!.bumped, events: slice.map((e) => e.envelope) }) })
  }
  return out
}

type Decoder = typeof decodeBatch

/** Decodes batches and folds them into a read model, as a catching-up master does. */
const decodeAndFold = (batches: ReadonlyArray<{ first: number; bytes: Uint8Array }>, decode: Decoder = decodeBatch, model: ReadModel = emptyReadModel()): ReadModel => {
  for (const { first, bytes } of batches) {
    const r = decode(bytes)
    if (Result.isFailure(r)) throw r.failure
    const evs = r.success.events
    for (let i = 0; i < evs.length; i++)
      applyToReadModel(model, { position: position(first + i), envelope: evs[i]!, bumped: i === evs.length - 1 ? r.success.bumped : [] })
  }
  return model
}

const decodeOnly = (batches: ReadonlyArray<{ bytes: Uint8Array }>, decode: Decoder = decodeBatch): void => {
  for (const { bytes } of batches) if (Result.isFailure(decode(bytes))) throw new Error("decode failed")
}

/** The sizes of a read model that do not depend on stream versions. */
const modelSummary = (m: ReadModel): Record<string, number> => ({
  jobs: m.state.jobs.size,
  hosts: m.state.hosts.size,
  deployments: [...m.state.deployments.values()].reduce((n, d) => n + d.size, 0),
  tasks: [...m.state.tasks.values()].reduce((n, t) => n + t.size, 0),
  historyEntries: historySize(m.history),
  commandIds: m.commands.size,
})

const main = async () => {
  const cpuBusyAtStart = await waitForQuiet(15_000)
  const t0 = nowMs()
  log(`bench/fold: ${machine().cpuModel}, ${machine().cores} cores, node ${machine().node}${(globalThis as { gc?: unknown }).gc ? "" : " (run with --expose-gc for steadier numbers)"}`)

  // ------------------------------------------------------------------------------------------
  // Workload
  const gen = nowMs()
  const workload = generateWorkload(LARGEST)
  /** How much slower than a quiet machine this run is (other work on the 2 cores), at least 1. */
  const slowness = Math.max(1, (nowMs() - gen) / 1000 / ((QUIET_GENERATION_S_PER_MILLION * LARGEST) / 1e6))
  const all = workload.events
  const mix = mixOf(all)
  log(`  generated ${all.length} events in ${elapsed(gen)} s: ${Object.entries(mix).map(([k, v]) => `${k} ${round((100 * v) / all.length, 1)}%`).join(", ")}`)
  const envelopes = (n: number): EventEnvelope[] => all.slice(0, n).map((e) => e.envelope)
  /** What a master that read the first n events must hold (stream versions aside: the stores get them re-batched). */
  const expected = new Map<number, Record<string, number>>()
  {
    const m = emptyReadModel()
    const points = [...new Set([Math.min(100_000, LARGEST), 2 * Math.min(100_000, LARGEST), ...SIZES])].filter((p) => p <= LARGEST).sort((a, b) => a - b)
    let i = 0
    for (const p of points) {
      for (; i < p; i++) applyToReadModel(m, all[i]!)
      expected.set(p, modelSummary(m))
    }
  }

  // ------------------------------------------------------------------------------------------
  // 3. Master cold start on ZooKeeper and on SQLite (each in a fresh process)
  const cold: Array<Record<string, unknown>> = []
  let zkLarge: { attempted: boolean; reason: string } = { attempted: false, reason: "" }
  {
    const server = await startBenchZooKeeper("3g")
    try {
      const zk = await ZkClient.connect(server.connectString, { operationTimeoutMs: 30_000 })
      try {
        const zkSmall = Math.min(100_000, LARGEST)
        // One log, grown: each run appends what the previous one did not write.
        const root = "/cold"
        const zlog = await ZooKeeperEventLog.open(zk, { root })
        let written = 0
        const runZk = async (size: number) => {
          const evs = envelopes(size)
          const from = written
          const batch = (i: number) => evs.slice(from + i * WRITE_BATCH, Math.min(size, from + (i + 1) * WRITE_BATCH))
          const batches = Math.ceil((size - from) / WRITE_BATCH)
          // Serially until every host of the log has been written once: an append that must first
          // create a host stream or load its cursor can be overtaken by later ones (legal for
          // concurrent appends), and the log should keep the workload's order (checked below).
          const writtenHosts = new Set(evs.slice(0, from).flatMap((e) => hostsOf(e.event)))
          const newHosts = new Set(evs.slice(from).flatMap((e) => hostsOf(e.event)).filter((h) => !writtenHosts.has(h)))
          const seen = new Set<string>()
          let warm = 0
          while (warm < batches && seen.size < newHosts.size) {
            for (const e of batch(warm)) for (const h of hostsOf(e.event)) if (newHosts.has(h)) seen.add(h)
            warm++
          }
          const a = await pipelined(warm, 1, (i) => zlog.append(batch(i)))
          const b = await pipelined(batches - warm, WRITE_INFLIGHT, (i) => zlog.append(batch(warm + i)))
          if ((await zlog.head()) !== size) throw new Error(`ZooKeeper log holds ${await zlog.head()} events, expected ${size}`)
          written = size
          const figures = await zkFigures(server)
          const writeMs = a.ms + b.ms
          log(`  ZooKeeper: wrote events ${from + 1}..${size} (${WRITE_BATCH}/append) in ${round(writeMs / 1000, 1)} s [${elapsed(t0)} s]`)
          const r = await coldStart({ kind: "zookeeper", connect: server.connectString, root })
          const row: Record<string, unknown> = {
            store: "zookeeper",
            size,
            appendedEvents: size - from,
            writeSeconds: round(writeMs / 1000, 1),
            writeEventsPerSec: rate(size - from, writeMs),
            serialWarmEvents: Math.min(size - from, warm * WRITE_BATCH),
            pipelinedWriteEventsPerSec: rate(size - from - Math.min(size - from, warm * WRITE_BATCH), b.ms),
            zkZnodes: figures.znodes,
            zkDataMiB: mib(figures.dataBytes),
            zkRssMiB: mib(rssOf(server.pid)),
            ...r,
            sameModel: isDeepStrictEqual(r["model"], expected.get(size)),
          }
          cold.push(row)
          log(`  ZooKeeper cold start ${size}: ${round((r["catchUpMs"] as number) / 1000, 1)} s, RSS ${r["rssMiB"]} MiB [${elapsed(t0)} s]`)
          return { writeSeconds: writeMs / 1000, catchUpSeconds: (r["catchUpMs"] as number) / 1000, zkDataMiB: mib(figures.dataBytes) }
        }
        const small = await runZk(zkSmall)
        if (LARGEST > zkSmall) {
          // what is left to write, and a cold start of the whole log (which reads ~1.25x slower per
          // event than the small one: 13.5k vs 16.7k events/s measured)
          const projected = (small.writeSeconds * (LARGEST - zkSmall) + 1.25 * small.catchUpSeconds * LARGEST) / zkSmall
          const heapOk = (small.zkDataMiB * LARGEST) / zkSmall < 1_000
          const left = FOLD_BUDGET_S - (nowMs() - t0) / 1000
          const fits = projected + REST_ALLOWANCE_S * slowness <= left
          if (projected <= ZK_LARGE_BUDGET_S && heapOk && fits && !QUICK) {
            zkLarge = { attempted: true, reason: `the ${zkSmall}-event run projected ${round(projected)} s for ${LARGEST} (limit ${ZK_LARGE_BUDGET_S} s)` }
            await runZk(LARGEST)
          } else {
            zkLarge = {
              attempted: false,
              reason:
                `the ${zkSmall}-event run projected ${round(projected)} s for ${LARGEST} (limit ${ZK_LARGE_BUDGET_S} s)` +
                `${heapOk ? "" : ", ZooKeeper heap too small"}${fits ? "" : `, more than this run's budget left (${round(left)} s, machine ${round(slowness, 1)}x slower than quiet)`}; measured ${2 * zkSmall} on ZooKeeper and ${LARGEST} on SQLite instead`,
            }
            if (!QUICK) await runZk(2 * zkSmall)
          }
        }
      } finally {
        await zk.close()
      }
    } finally {
      await server.destroy()
    }

    const dir = mkdtempSync(join(tmpdir(), "helios-bench-sqlite-"))
    try {
      // One log, grown, as on ZooKeeper.
      const file = join(dir, "log.db")
      let written = 0
      for (const size of SIZES) {
        const slog = new SqliteEventLog(file)
        const evs = envelopes(size)
        const w = nowMs()
        for (let i = written; i < size; i += WRITE_BATCH) await slog.append(evs.slice(i, Math.min(size, i + WRITE_BATCH)))
        const writeMs = nowMs() - w
        if ((await slog.head()) !== size) throw new Error(`SQLite log holds ${await slog.head()} events, expected ${size}`)
        await slog.close()
        log(`  SQLite: wrote events ${written + 1}..${size} (${WRITE_BATCH}/append) in ${round(writeMs / 1000, 1)} s [${elapsed(t0)} s]`)
        const appended = size - written
        written = size
        const r = await coldStart({ kind: "sqlite", file })
        cold.push({ store: "sqlite", size, appendedEvents: appended, writeSeconds: round(writeMs / 1000, 1), writeEventsPerSec: rate(appended, writeMs), ...r, sameModel: isDeepStrictEqual(r["model"], expected.get(size)) })
        log(`  SQLite cold start ${size}: ${round((r["catchUpMs"] as number) / 1000, 1)} s, RSS ${r["rssMiB"]} MiB [${elapsed(t0)} s]`)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  gc()

  // warm the JIT on a small prefix
  for (let i = 0; i < 3; i++) {
    foldReadModel(all.slice(0, 20_000))
    foldEvents(all.slice(0, 20_000))
    decodeAndFold(encodeInBatches(all.slice(0, 5_000), 1))
  }

  // If the cold starts ran long (a busy machine), the in-memory part stays at the smaller size so
  // the whole run keeps to its budget.
  const MEM = (nowMs() - t0) / 1000 + IN_MEMORY_ALLOWANCE_S * slowness > FOLD_BUDGET_S ? SIZES[0]! : LARGEST
  if (MEM < LARGEST) log(`  (in-memory folds and snapshots at ${MEM} events only: ${round((nowMs() - t0) / 1000)} s of the ${FOLD_BUDGET_S} s budget spent)`)

  // ------------------------------------------------------------------------------------------
  // 1. Fold rates. At the largest size one round each (a million events is a long enough sample);
  // decode-only and one-event batches only at the smaller size (their cost per event does not grow).
  const folds: Array<Record<string, unknown>> = []
  let fullReplayMs = Number.NaN
  let full100: Array<{ first: number; bytes: Uint8Array }> = []
  for (const size of SIZES.filter((n) => n <= MEM)) {
    const events = size === all.length ? all : all.slice(0, size)
    const large = size >= 1_000_000
    const rounds = large ? 1 : ROUNDS
    gc()
    const stateOnly = measure(size, rounds, () => foldEvents(events))
    const readModel = measure(size, rounds, () => foldReadModel(events))
    // what the read model's two indexes beyond the state cost: history (every job event, kept) and command ids
    const stateAndHistory = measure(size, rounds, () => {
      const m = emptyReadModel()
      for (const e of events) {
        applyEvent(m.state, e)
        applyHistory(m.history, e)
      }
    })
    gc()
    // decode + fold from batches of 100 events (how the cold-start logs below are written); at the
    // largest size it is measured by the full replay of section 2
    const b100 = encodeInBatches(events, 100)
    const decodeFold100 = size === MEM ? { perSec: Number.NaN, rounds: [] } : measure(size, rounds, () => void decodeAndFold(b100))
    const bytes100 = b100.reduce((n, b) => n + b.bytes.length, 0)
    const extra: Record<string, number> = {}
    if (!large) {
      extra["decode100PerSec"] = measure(size, rounds, () => decodeOnly(b100)).perSec
      // one event per batch: most appends carry one command's single event
      const b1 = encodeInBatches(events, 1)
      extra["decodeFold1PerSec"] = measure(size, 1, () => void decodeAndFold(b1)).perSec
      extra["bytesPerEventBatchesOf1"] = round(b1.reduce((n, b) => n + b.bytes.length, 0) / size)
    }
    if (size === MEM) full100 = b100
    const row = {
      size,
      applyEventPerSec: stateOnly.perSec,
      applyEventRounds: stateOnly.rounds,
      readModelPerSec: readModel.perSec,
      readModelRounds: readModel.rounds,
      stateAndHistoryPerSec: stateAndHistory.perSec,
      decodeFold100PerSec: decodeFold100.perSec,
      bytesPerEventBatchesOf100: round(bytes100 / size),
      ...extra,
    }
    folds.push(row)
    log(`  fold ${size}: applyEvent ${row.applyEventPerSec}/s, read model ${row.readModelPerSec}/s${size === MEM ? "" : `, decode+fold ${row.decodeFold100PerSec}/s`} [${elapsed(t0)} s]`)
  }

  // ------------------------------------------------------------------------------------------
  // 2. Snapshots (at 1e5 and at MEM - TAIL), and snapshot + tail vs full replay (in memory).
  const TAIL = Math.min(10_000, Math.floor(MEM / 10))
  const snapshotRows: Array<Record<string, unknown>> = []
  const tailRows: Array<Record<string, unknown>> = []
  {
    // The log is `full100` (the batches written to the stores below): the full replay decodes and
    // folds all of it, timed apart from the snapshots taken on the way.
    const model = emptyReadModel()
    let next = 0
    let foldMs = 0
    const replayUpTo = (p: number) => {
      const s = nowMs()
      while (next < full100.length && full100[next]!.first <= p) decodeAndFold([full100[next++]!], decodeBatch, model)
      foldMs += nowMs() - s
    }
    let atTail: { bytes: Uint8Array; light: Uint8Array } | undefined
    for (const p of [...new Set([Math.min(100_000, MEM - TAIL), MEM - TAIL])]) {
      replayUpTo(p)
      const enc = nowMs()
      const bytes = encodeSnapshot(model)
      const encodeMs = nowMs() - enc
      // (the large snapshot's decode is timed below, in the snapshot + tail cold start)
      let decodeMs: number | undefined
      if (p !== MEM - TAIL) {
        const dec = nowMs()
        decodeSnapshot(bytes)
        decodeMs = nowMs() - dec
      }
      /** The same snapshot without the history index (what it would weigh were history capped or kept elsewhere). */
      const light = encodeSnapshot({ ...model, history: emptyHistory() })
      const stateOnlyEnc = nowMs()
      const stateOnly = encodeSnapshot({ ...model, history: emptyHistory(), commands: new CommandIndex() })
      const stateOnlyEncodeMs = nowMs() - stateOnlyEnc
      snapshotRows.push({
        position: p,
        bytes: bytes.length,
        MiB: mib(bytes.length),
        encodeMs: round(encodeMs),
        decodeMs: decodeMs === undefined ? undefined : round(decodeMs),
        bytesWithoutHistory: light.length,
        bytesStateOnly: stateOnly.length,
        stateOnlyEncodeMs: round(stateOnlyEncodeMs, 1),
        historyEntries: historySize(model.history),
        commandIds: model.commands.size,
      })
      if (p === MEM - TAIL) atTail = { bytes, light }
    }
    replayUpTo(MEM)
    fullReplayMs = foldMs
    folds.at(-1)!["decodeFold100PerSec"] = rate(MEM, foldMs)
    log(`  decode+fold of ${MEM} events (the full replay): ${rate(MEM, foldMs)}/s`)
    const reference = model // the full replay, to check snapshot + tail against
    const tailBatches = full100.filter((b) => b.first > MEM - TAIL)
    gc()
    const s = nowMs()
    let restored: ReadModel | undefined = decodeSnapshot(atTail!.bytes)
    const decodeMs = nowMs() - s
    snapshotRows.at(-1)!["decodeMs"] = round(decodeMs)
    decodeAndFold(tailBatches, decodeBatch, restored)
    const totalMs = nowMs() - s
    const same =
      restored.state.position === reference.state.position &&
      isDeepStrictEqual(restored.state, reference.state) &&
      restored.history.jobs.size === reference.history.jobs.size &&
      restored.history.length === reference.history.length &&
      restored.history.positions.subarray(0, restored.history.length).every((p, i) => p === reference.history.positions[i]) &&
      restored.commands.size === reference.commands.size
    restored = undefined
    gc()
    const s2 = nowMs()
    const lightModel = decodeSnapshot(atTail!.light)
    const lightDecodeMs = nowMs() - s2
    decodeAndFold(tailBatches, decodeBatch, lightModel)
    const lightTotalMs = nowMs() - s2
    tailRows.push({
      tail: TAIL,
      snapshotMiB: mib(atTail!.bytes.length),
      decodeSnapshotMs: round(decodeMs),
      foldTailMs: round(totalMs - decodeMs),
      totalMs: round(totalMs),
      fullReplayMs: round(fullReplayMs),
      speedup: round(fullReplayMs / totalMs, 1),
      sameAsFullReplay: same,
      withoutHistory: { snapshotMiB: mib(atTail!.light.length), decodeSnapshotMs: round(lightDecodeMs), totalMs: round(lightTotalMs), speedup: round(fullReplayMs / lightTotalMs, 1) },
    })
  }
  full100 = []
  const largestSnapshotBytes = snapshotRows.at(-1)!["bytes"] as number
  gc()
  log(`  snapshots done [${elapsed(t0)} s]`)

  // What fetching that snapshot from ZooKeeper would cost: its size in 900 kB znodes (the content
  // does not matter), written 4 and read back 16 in flight, on a fresh server.
  let snapshotFetch: Record<string, unknown> | undefined
  {
    const server = await startBenchZooKeeper("2g")
    try {
      const zk = await ZkClient.connect(server.connectString, { operationTimeoutMs: 30_000 })
      try {
        const bytes = Buffer.alloc(largestSnapshotBytes, 7)
        const chunk = 900_000
        const chunks = Math.ceil(bytes.length / chunk)
        await zk.ensurePath("/snapshot-probe")
        const w = nowMs()
        await mapLimit(Array.from({ length: chunks }, (_, i) => i), 4, (i) =>
          zk.create(`/snapshot-probe/${String(i).padStart(6, "0")}`, Buffer.from(bytes.subarray(i * chunk, (i + 1) * chunk))),
        )
        const writeMs = nowMs() - w
        const r = nowMs()
        const names = await zk.getChildren("/snapshot-probe")
        const parts = await mapLimit(names.sort(), 16, async (n) => (await zk.getData(`/snapshot-probe/${n}`)).data)
        const readMs = nowMs() - r
        snapshotFetch = { bytes: bytes.length, chunks, writeMs: round(writeMs), readMs: round(readMs), readMiBPerSec: round(mib(parts.reduce((n, p) => n + p.length, 0)) / (readMs / 1000), 1) }
      } finally {
        await zk.close()
      }
    } finally {
      await server.destroy()
    }
  }

  // ------------------------------------------------------------------------------------------
  // Tables
  log("\nFold rate (events/s, median of rounds; workload: " + Object.entries(mix).map(([k, v]) => `${k} ${round((100 * v) / all.length)}%`).join(", ") + "):")
  log(
    table(
      ["events", "applyEvent (state)", "state + history", "read model (+ command ids)", "decode+fold (100/batch)", "decode only", "decode+fold (1/batch)"],
      folds.map((f) => [f["size"], f["applyEventPerSec"], f["stateAndHistoryPerSec"], f["readModelPerSec"], f["decodeFold100PerSec"], f["decode100PerSec"], f["decodeFold1PerSec"]]),
    ),
  )
  log("\nSnapshots of the read model:")
  log(
    table(
      ["at position", "MiB", "encode ms", "decode ms", "MiB without history", "MiB state only", "state-only encode ms", "history entries", "command ids"],
      snapshotRows.map((s) => [s["position"], s["MiB"], s["encodeMs"], s["decodeMs"], mib(s["bytesWithoutHistory"] as number), mib(s["bytesStateOnly"] as number), s["stateOnlyEncodeMs"], s["historyEntries"], s["commandIds"]]),
    ),
  )
  log(`\nCold start in memory, ${MEM} events: snapshot + tail vs full replay (decode + fold of every event):`)
  log(
    table(
      ["tail events", "snapshot MiB", "decodeSnapshot ms", "fold tail ms", "total ms", "full replay ms", "speedup", "same state", "no-history MiB", "no-history total ms", "no-history speedup"],
      tailRows.map((t) => {
        const w = t["withoutHistory"] as Record<string, number>
        return [t["tail"], t["snapshotMiB"], t["decodeSnapshotMs"], t["foldTailMs"], t["totalMs"], t["fullReplayMs"], t["speedup"], t["sameAsFullReplay"] ? "yes" : "NO", w["snapshotMiB"], w["totalMs"], w["speedup"]]
      }),
    ),
  )
  if (snapshotFetch) log(`  fetching that ${mib(snapshotFetch["bytes"] as number)} MiB snapshot from ZooKeeper (${snapshotFetch["chunks"]} znodes of 900 kB): ${snapshotFetch["readMs"]} ms (${snapshotFetch["readMiBPerSec"]} MiB/s)`)
  log(`\nMaster cold start (startMaster in a fresh process, reading with the real adapter; log written ${WRITE_BATCH} events/append${cold.some((c) => c["store"] === "zookeeper") ? `, on ZooKeeper ${WRITE_INFLIGHT} in flight after a few serial appends` : ""}; "same model": its read model matches an in-memory fold of the same events):`)
  log(
    table(
      ["store", "events", "write s", "write events/s", "startMaster s", "served stale", "caught up s", "events/s", "RSS MiB", "heap MiB", "same model", "ZK znodes", "ZK RSS MiB"],
      cold.map((c) => [c["store"], c["size"], c["writeSeconds"], c["writeEventsPerSec"], round((c["startMasterMs"] as number) / 1000, 1), c["servedStale"] ? "YES" : "no", round((c["catchUpMs"] as number) / 1000, 1), c["eventsPerSec"], c["rssMiB"], c["heapUsedMiB"], c["sameModel"] ? "yes" : "NO", c["zkZnodes"] ?? "", c["zkRssMiB"] ?? ""]),
    ),
  )
  log(`  1e6 on ZooKeeper: ${zkLarge.attempted ? "measured" : "not measured"} (${zkLarge.reason})`)

  const largestFold = folds.at(-1)!
  const largestCold = (store: string) => cold.filter((c) => c["store"] === store).at(-1)
  const zkCold = largestCold("zookeeper")
  const sqlCold = largestCold("sqlite")
  const summary: SummaryLine[] = [
    line(`fold: applyEvent after decode, ${largestFold["size"]} events`, largestFold["applyEventPerSec"] as number, "events/s", { op: ">=", value: 1_000_000 }),
    line(`fold: read model after decode, ${largestFold["size"]} events`, largestFold["readModelPerSec"] as number, "events/s", { op: ">=", value: 1_000_000 }),
    line(`fold: decode + fold, ${largestFold["size"]} events`, largestFold["decodeFold100PerSec"] as number, "events/s"),
    line(`snapshot: size at position ${snapshotRows.at(-1)!["position"]}`, snapshotRows.at(-1)!["MiB"] as number, "MiB"),
    line(`snapshot: size without history at ${snapshotRows.at(-1)!["position"]}`, mib(snapshotRows.at(-1)!["bytesWithoutHistory"] as number), "MiB"),
    ...tailRows.map((t) => line(`cold start in memory: snapshot + ${t["tail"]} tail vs full replay`, t["speedup"] as number, "x faster")),
    ...tailRows.map((t) => line(`  same, snapshot without history`, (t["withoutHistory"] as Record<string, number>)["speedup"]!, "x faster")),
  ]
  if (zkCold) {
    summary.push(line(`cold start: ZooKeeper ${zkCold["size"]} events`, round((zkCold["catchUpMs"] as number) / 1000, 1), "s"))
    summary.push(line(`cold start: ZooKeeper ${zkCold["size"]} events RSS`, zkCold["rssMiB"] as number, "MiB"))
  }
  if (sqlCold) {
    summary.push(line(`cold start: SQLite ${sqlCold["size"]} events`, round((sqlCold["catchUpMs"] as number) / 1000, 1), "s"))
    summary.push(line(`cold start: SQLite ${sqlCold["size"]} events RSS`, sqlCold["rssMiB"] as number, "MiB"))
  }
  log("\n" + summaryTable(summary))
  const seconds = elapsed(t0)
  const file = writeResult("fold", {
    seconds,
    cpuBusyAtStart,
    inMemoryLargest: MEM,
    config: { sizes: SIZES, rounds: ROUNDS, writeBatch: WRITE_BATCH, writeInFlight: WRITE_INFLIGHT, workload: { hosts: 100, deploymentsPerHost: 5, seed: 42 }, quick: QUICK },
    workloadMix: mix,
    folds,
    snapshots: snapshotRows,
    snapshotPlusTail: tailRows,
    snapshotFetchFromZooKeeper: snapshotFetch,
    coldStart: cold,
    zooKeeperLarge: zkLarge,
    summary,
  })
  log(`\nwrote ${file} in ${seconds} s`)
}

await main()
