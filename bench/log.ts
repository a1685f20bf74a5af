/**
 * `npm run bench:log`: our ZooKeeper EventLog against raw ZooKeeper, in one run, on one private
 * ZooKeeper server (fsync on, like production), through one client session.
 *
 *   (a) serial appends of one ~230 B TaskStateChanged vs raw PERSISTENT_SEQUENTIAL creates of the
 *       same bytes;  (b) the same with 64 in flight;  (b') 64 in flight, 1 append in 8 without a
 *       host;  (a") (b") hostless events only (isolates the cost of the host-stream index);
 *   (c) batches of 10 events per append;  (c') 100-event batches of a real workload (~60 hosts
 *       each), 8 in flight, capped at 15 s;
 *   (d) catch-up: log.read from 0 over N events vs raw getChildren + getData of N znodes;
 *   (e) a host stream read from 0; and how all of this grows with the log (1e3, 1e4, 5e4 events),
 *       including the latency of reading the newest event (a live follower's cost) vs segment fill,
 *       and the append rate while the log grows (its first step: a fresh log and 50 new hosts).
 *
 * Ours and the baseline alternate round by round after a warm-up; the tables report the median
 * round, and ratios are medians of per-round ratios. Writes bench/results/log.json. About 1.5
 * minutes here (budget: 4).
 */
import { Result } from "effect"
import { decodeBatch, encodeBatch } from "../core/codec.ts"
import { envelopeOf } from "../core/envelope.ts"
import type { EventEnvelope } from "../core/events.ts"
import { position, type HostName } from "../core/ids.ts"
import type { JobId } from "../core/job.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { zkPaths } from "../log/zk-paths.ts"
import {
  attempt,
  distribution,
  line,
  log,
  machine,
  median,
  nowMs,
  pipelined,
  rate,
  round,
  summaryTable,
  table,
  timed,
  waitForQuiet,
  writeResult,
  type Distribution,
  type SummaryLine,
} from "./lib.ts"
import { generateWorkload } from "./workload.ts"
import { counting, rawCreate, rawReadAll, readAllEvents, startBenchZooKeeper, zkFigures } from "./zk-bench.ts"

const QUICK = process.env["BENCH_QUICK"] === "1"
const HOSTS = 50
const ROUNDS = QUICK ? 2 : 5
const SERIAL_N = QUICK ? 300 : 800
const INFLIGHT = 64
const PIPELINED_N = QUICK ? 1_000 : 4_000
const BATCH = 10
const BATCHED_APPENDS = QUICK ? 100 : 400
const READ_INFLIGHT = 256 // what the log's reader uses (mapLimit 256)
const SIZES = QUICK ? [1_000, 5_000] : [1_000, 10_000, 50_000]
/** Positions at which the newest-event read is timed: fills of the first 10,000-position segment, and the sizes. */
const TAIL_AT = QUICK ? [1_000, 2_500, 5_000] : [1_000, 2_500, 5_000, 9_999, 10_000, 50_000]
const SEGMENT = 10_000 // the adapter's default
const MULTIHOST_APPENDS = QUICK ? 20 : 50
const MULTIHOST_CAP_MS = QUICK ? 5_000 : 15_000


const hostName = (i: number) => `host-${String(i % HOSTS).padStart(4, "0")}` as HostName

/** A typical small agent report: 232 B as an event, 274 B as the one-event batch our znode holds. */
const smallEvent = (i: number): EventEnvelope => {
  const host = hostName(i)
  return envelopeOf(
    {
      _tag: "TaskStateChanged",
      jobId: "web:v1:3b4ee8f2e9d1c0a5b6c7d8e9f0a1b2c3d4e5f6a7" as JobId,
      host,
      state: "CREATING",
      goal: "START",
      throttled: "NO",
    },
    { at: Date.UTC(2026, 0, 1) + i, actor: { kind: "agent", name: host }, commandId: `${host}-1-${i}` },
  )
}
/** An event that concerns no host (a job removal): no host-stream ops in its append. */
const hostlessEvent = (i: number): EventEnvelope =>
  envelopeOf(
    { _tag: "JobRemoved", jobId: `web-${i}:v1:3b4ee8f2e9d1c0a5b6c7d8e9f0a1b2c3d4e5f6a7` as JobId },
    {
      at: Date.UTC(2026, 0, 1) + i,
      actor: { kind: "user", name: "alice" },
      commandId: `8c5e3b1a-2f44-4c1e-9d6a-${String(i).padStart(12, "0")}`,
    },
  )
/** One event in MIXED_EVERY concerns no host, as job creations/removals do among agents' reports. */
const MIXED_EVERY = 8
const MIXED_N = QUICK ? 300 : 1_000
const mixedEvent = (i: number): EventEnvelope => (i % MIXED_EVERY === 0 ? hostlessEvent(i) : smallEvent(i))

const batchBytes = (events: EventEnvelope[]) =>
  Buffer.from(encodeBatch({ batchId: "8c5e3b1a-2f44-4c1e-9d6a-0b3c2d1e0f9a", bumped: [], events }))

interface Round {
  ours: number
  raw: number
  oursLatency: number[]
  rawLatency: number[]
}

/** Medians over rounds; the ratio is the median of per-round ratios (a round's two halves run back to back, so they share the machine's noise). */
const summarise = (rounds: Round[]) => {
  const ours = median(rounds.map((r) => r.ours))
  const raw = median(rounds.map((r) => r.raw))
  return {
    oursPerSec: round(ours),
    rawPerSec: round(raw),
    ratio: round(median(rounds.map((r) => r.ours / r.raw)), 2),
    oursRounds: rounds.map((r) => r.ours),
    rawRounds: rounds.map((r) => r.raw),
    oursLatencyMs: distribution(rounds.flatMap((r) => r.oursLatency)),
    rawLatencyMs: distribution(rounds.flatMap((r) => r.rawLatency)),
  }
}

const main = async () => {
  const cpuBusyAtStart = await waitForQuiet(15_000)
  const t0 = nowMs()
  log(`bench/log: ${machine().cpuModel}, ${machine().cores} cores, node ${machine().node}, ZooKeeper ${machine().zookeeper}`)
  const server = await startBenchZooKeeper()
  const session = await ZkClient.connect(server.connectString)
  const counted = counting(session)
  const zk = counted.zk
  try {
    const ours = await ZooKeeperEventLog.open(zk, { root: "/bench/ours" })
    const oursBatched = await ZooKeeperEventLog.open(zk, { root: "/bench/ours-batched" })
    for (const dir of ["/bench/raw/append", "/bench/raw/batched", "/bench/raw/growth"]) await zk.ensurePath(dir)
    const one = batchBytes([smallEvent(0)])
    const ten = batchBytes(Array.from({ length: BATCH }, (_, j) => smallEvent(j)))
    let seq = 0

    // Warm-up: JIT on both sides, the log's head and host stream nodes, ZooKeeper's first snapshot.
    await pipelined(2_000, INFLIGHT, () => ours.append([smallEvent(seq++)]))
    await pipelined(2_000, INFLIGHT, () => rawCreate(zk, "/bench/raw/append", one))
    await pipelined(300, 1, () => ours.append([smallEvent(seq++)]))
    await pipelined(300, 1, () => rawCreate(zk, "/bench/raw/append", one))
    await pipelined(100, INFLIGHT, (i) => oursBatched.append(Array.from({ length: BATCH }, (_, j) => smallEvent(i * BATCH + j))))
    log(`  warm-up done (${round((nowMs() - t0) / 1000, 1)} s)`)

    // (a) serial, (b) 64 in flight: alternating rounds.
    const serial: Round[] = []
    const inflight: Round[] = []
    const mixed: Round[] = []
    const hostlessSerial: Round[] = []
    const hostlessInflight: Round[] = []
    let mixedMultisPerAppend = 0
    let inflightMultisPerAppend = 0
    let opsPerAppend = 0
    for (let r = 0; r < ROUNDS; r++) {
      counted.reset()
      const a = await pipelined(SERIAL_N, 1, () => ours.append([smallEvent(seq++)]))
      opsPerAppend = counted.total() / SERIAL_N
      const b = await pipelined(SERIAL_N, 1, () => rawCreate(zk, "/bench/raw/append", one))
      serial.push({ ours: rate(SERIAL_N, a.ms), raw: rate(SERIAL_N, b.ms), oursLatency: a.latencies, rawLatency: b.latencies })
      counted.reset()
      const c = await pipelined(PIPELINED_N, INFLIGHT, () => ours.append([smallEvent(seq++)]))
      inflightMultisPerAppend = (counted.counts["multi"] ?? 0) / PIPELINED_N
      const d = await pipelined(PIPELINED_N, INFLIGHT, () => rawCreate(zk, "/bench/raw/append", one))
      inflight.push({ ours: rate(PIPELINED_N, c.ms), raw: rate(PIPELINED_N, d.ms), oursLatency: c.latencies, rawLatency: d.latencies })
      if (r < 3) {
        // Events that concern no host: the append is one create, like the raw baseline (plus a check
        // of p-1 while p-1 is still in flight); the gap to (a)/(b) is the host-stream index (a second
        // znode per event).
        const h1 = await pipelined(SERIAL_N / 2, 1, () => ours.append([hostlessEvent(seq++)]))
        const h2 = await pipelined(SERIAL_N / 2, 1, () => rawCreate(zk, "/bench/raw/append", one))
        hostlessSerial.push({ ours: rate(SERIAL_N / 2, h1.ms), raw: rate(SERIAL_N / 2, h2.ms), oursLatency: h1.latencies, rawLatency: h2.latencies })
        const h3 = await pipelined(PIPELINED_N / 2, INFLIGHT, () => ours.append([hostlessEvent(seq++)]))
        const h4 = await pipelined(PIPELINED_N / 2, INFLIGHT, () => rawCreate(zk, "/bench/raw/append", one))
        hostlessInflight.push({ ours: rate(PIPELINED_N / 2, h3.ms), raw: rate(PIPELINED_N / 2, h4.ms), oursLatency: h3.latencies, rawLatency: h4.latencies })
      }
      if (r < 2) {
        // (b') the same, but one append in 8 concerns no host: appends no longer reach ZooKeeper in claim order.
        counted.reset()
        const e = await pipelined(MIXED_N, INFLIGHT, () => ours.append([mixedEvent(seq++)]))
        mixedMultisPerAppend = (counted.counts["multi"] ?? 0) / MIXED_N
        const f = await pipelined(MIXED_N, INFLIGHT, () => rawCreate(zk, "/bench/raw/append", one))
        mixed.push({ ours: rate(MIXED_N, e.ms), raw: rate(MIXED_N, f.ms), oursLatency: e.latencies, rawLatency: f.latencies })
      }
    }
    const mixedSummary = { ...summarise(mixed), multisPerAppend: round(mixedMultisPerAppend, 2) }
    const hostlessSerialSummary = summarise(hostlessSerial)
    const hostlessInflightSummary = summarise(hostlessInflight)
    const serialSummary = summarise(serial)
    const inflightSummary = { ...summarise(inflight), multisPerAppend: round(inflightMultisPerAppend, 2) }
    log(`  (a) serial ${serialSummary.oursPerSec}/s vs raw ${serialSummary.rawPerSec}/s; (b) ${INFLIGHT} in flight ${inflightSummary.oursPerSec}/s vs ${inflightSummary.rawPerSec}/s`)

    // (c) batches of 10 events per append, 64 in flight. Baselines: one raw znode per event (64 in
    // flight), and one raw znode holding the whole 10-event batch (what a batch could cost).
    const batched: Round[] = []
    const rawPerBatch: number[] = []
    for (let r = 0; r < Math.max(3, ROUNDS - 2); r++) {
      const a = await pipelined(BATCHED_APPENDS, INFLIGHT, (i) =>
        oursBatched.append(Array.from({ length: BATCH }, (_, j) => smallEvent(seq + i * BATCH + j))),
      )
      seq += BATCHED_APPENDS * BATCH
      const b = await pipelined(BATCHED_APPENDS * BATCH, INFLIGHT, () => rawCreate(zk, "/bench/raw/append", one))
      const c = await pipelined(BATCHED_APPENDS, INFLIGHT, () => rawCreate(zk, "/bench/raw/batched", ten))
      batched.push({ ours: rate(BATCHED_APPENDS * BATCH, a.ms), raw: rate(BATCHED_APPENDS * BATCH, b.ms), oursLatency: a.latencies, rawLatency: b.latencies })
      rawPerBatch.push(rate(BATCHED_APPENDS * BATCH, c.ms))
    }
    const batchedSummary = { ...summarise(batched), rawOneZnodePerBatchEventsPerSec: round(median(rawPerBatch)) }

    // (c') 100-event batches of a real workload (one big command's worth: ~60 hosts per batch), 8 in
    // flight. Capped: the adapter retries claim collisions up to 200 times before LogUnavailable.
    const workload = generateWorkload(MULTIHOST_APPENDS * 100, { seed: 7 }).events.map((e) => e.envelope)
    // Its own session, closed afterwards: appends still retrying after the cap then stop at once.
    const multiHostSession = counting(await ZkClient.connect(server.connectString))
    const multiHost = await ZooKeeperEventLog.open(multiHostSession.zk, { root: "/bench/ours-multihost" })
    const mh = await attempt(MULTIHOST_CAP_MS, () => pipelined(MULTIHOST_APPENDS, 8, (i) => multiHost.append(workload.slice(i * 100, (i + 1) * 100))))
    const multiHostSummary = {
      ok: mh.ok,
      eventsPerSec: mh.ok ? rate(MULTIHOST_APPENDS * 100, mh.ms) : 0,
      error: mh.error,
      seconds: round(mh.ms / 1000, 1),
      multis: multiHostSession.counts["multi"] ?? 0,
      headReads: multiHostSession.counts["getChildren"] ?? 0,
      appends: MULTIHOST_APPENDS,
    }
    await multiHost.close()
    await multiHostSession.zk.close()
    log(`  (c') 100-event multi-host batches, 8 in flight: ${mh.ok ? `${multiHostSummary.eventsPerSec} events/s` : `FAILED after ${multiHostSummary.seconds} s: ${mh.error}`} (${multiHostSummary.multis} multis for ${MULTIHOST_APPENDS} appends)`)
    log(`  (c) batched ${batchedSummary.oursPerSec} events/s vs raw ${batchedSummary.rawPerSec} events/s`)

    // Catch-up of the batched log: every event is still a znode (the batch's first holds the data,
    // the others are empty markers), so a reader pays one getData per event, not per batch.
    counted.reset()
    const batchedEvents = (await readAllEvents(oursBatched)) || 1
    const batchedReadOps = { ...counted.counts }
    const batchedRead: number[] = []
    const rawBatchedRead: number[] = []
    let rawBatchedEvents = 0
    for (let r = 0; r < 2; r++) {
      batchedRead.push(rate(batchedEvents, (await timed(() => readAllEvents(oursBatched))).ms))
      const raw = await timed(() => rawReadAll(zk, "/bench/raw/batched", READ_INFLIGHT))
      rawBatchedEvents = raw.value.length * BATCH
      rawBatchedRead.push(rate(rawBatchedEvents, raw.ms))
    }
    const batchedCatchUp = {
      events: batchedEvents,
      oursEventsPerSec: round(median(batchedRead)),
      zkReadsPerEvent: round(Object.values(batchedReadOps).reduce((a, b) => a + b, 0) / batchedEvents, 3),
      zkOps: batchedReadOps,
      rawOneZnodePerBatchEvents: rawBatchedEvents,
      rawOneZnodePerBatchEventsPerSec: round(median(rawBatchedRead)),
    }
    log(`  batched catch-up ${batchedCatchUp.oursEventsPerSec} events/s (${batchedCatchUp.zkReadsPerEvent} ZooKeeper reads/event)`)

    // (d), (e), growth: a fresh log and a fresh raw directory, filled with single-event appends
    // (64 in flight, events spread over 50 hosts) up to each size.
    const growth = await ZooKeeperEventLog.open(zk, { root: "/bench/growth", segmentSize: SEGMENT })
    const growthPaths = zkPaths("/bench/growth")
    let filled = 0
    const fills: Array<{ from: number; to: number; oursPerSec: number; rawPerSec: number; multisPerAppend: number }> = []
    const tails: Array<{ size: number; segmentFill: number; oursMs: Distribution; rawMs: Distribution; oursZkOps: Record<string, number> }> = []
    const sizes: Array<Record<string, unknown>> = []
    const decodeRates: number[] = []
    const stops = [...new Set([...SIZES, ...TAIL_AT])].sort((a, b) => a - b)
    for (const size of stops) {
      const n = size - filled
      const base = filled
      counted.reset()
      const a = await pipelined(n, INFLIGHT, (i) => growth.append([smallEvent(base + i)]))
      const multisPerAppend = round((counted.counts["multi"] ?? 0) / n, 2)
      const b = await pipelined(n, INFLIGHT, (i) => rawCreate(zk, "/bench/raw/growth", batchBytes([smallEvent(base + i)])))
      fills.push({ from: filled, to: size, oursPerSec: rate(n, a.ms), rawPerSec: rate(n, b.ms), multisPerAppend })
      filled = size

      if (TAIL_AT.includes(size)) {
        // A follower that is one event behind: ours reads after head-1; the raw reader knows the
        // next sequential name and getData's it.
        const oursMs: number[] = []
        const rawMs: number[] = []
        const lastRaw = `/bench/raw/growth/e-${String(size - 1).padStart(10, "0")}`
        counted.reset()
        for (let i = 0; i < 30; i++) {
          const s = nowMs()
          const got = await growth.read(position(size - 1))
          oursMs.push(nowMs() - s)
          if (got.length !== 1) throw new Error(`tail read at ${size} returned ${got.length} events`)
          const s2 = nowMs()
          await zk.getData(lastRaw)
          rawMs.push(nowMs() - s2)
        }
        const oursZkOps = Object.fromEntries(Object.entries(counted.counts).map(([k, v]) => [k, v / 30]))
        const children = await zk.getChildren(growthPaths.log.segment(Math.floor(size / SEGMENT)))
        tails.push({ size, segmentFill: children.length, oursMs: distribution(oursMs), rawMs: distribution(rawMs), oursZkOps })
      }

      if (!SIZES.includes(size)) continue
      // (d) catch-up from 0, alternating ours and raw.
      const oursRates: number[] = []
      const rawRates: number[] = []
      let rawDatas: Buffer[] = []
      counted.reset()
      const reps = size >= 50_000 ? 2 : 3
      let oursOps: Record<string, number> = {}
      for (let r = 0; r < reps; r++) {
        const got = await timed(() => readAllEvents(growth))
        if (got.value !== size) throw new Error(`catch-up read ${got.value} events, expected ${size}`)
        if (r === 0) oursOps = { ...counted.counts }
        oursRates.push(rate(size, got.ms))
        const raw = await timed(() => rawReadAll(zk, "/bench/raw/growth", READ_INFLIGHT))
        rawDatas = raw.value
        rawRates.push(rate(raw.value.length, raw.ms))
      }
      // The decode our reader does on top of the fetch (same bytes as the raw znodes hold).
      const dec = await timed(() => {
        for (const d of rawDatas) if (Result.isFailure(decodeBatch(d))) throw new Error("raw znode did not decode")
      })
      decodeRates.push(rate(rawDatas.length, dec.ms))
      const rawPlusDecode = 1000 / (1000 / median(rawRates) + dec.ms / rawDatas.length)

      // (e) one host's stream from 0 (HOSTS hosts share the log evenly), vs raw getData of as many znodes.
      const host = hostName(0)
      const hostRates: number[] = []
      const hostRawRates: number[] = []
      let hostEvents = 0
      counted.reset()
      let hostOps: Record<string, number> = {}
      for (let r = 0; r < reps; r++) {
        const got = await timed(async () => {
          let after = 0
          let k = 0
          for (;;) {
            const evs = await growth.readHostStream(host, after)
            if (evs.length === 0) return k
            k += evs.length
            after = evs[evs.length - 1]!.hostPosition
          }
        })
        if (r === 0) hostOps = { ...counted.counts }
        hostEvents = got.value
        hostRates.push(rate(got.value, got.ms))
        const raw = await timed(() => rawReadAll(zk, "/bench/raw/growth", READ_INFLIGHT, hostEvents))
        hostRawRates.push(rate(raw.value.length, raw.ms))
      }
      const figures = await zkFigures(server)
      const row = {
        size,
        catchUp: {
          oursEventsPerSec: round(median(oursRates)),
          rawFetchEventsPerSec: round(median(rawRates)),
          rawFetchPlusDecodeEventsPerSec: round(rawPlusDecode),
          ratio: round(median(oursRates) / median(rawRates), 2),
          ratioVsRawPlusDecode: round(median(oursRates) / rawPlusDecode, 2),
          oursSeconds: round(size / median(oursRates), 2),
          oursRounds: oursRates,
          rawRounds: rawRates,
          zkRoundTripsPerEvent: round(Object.values(oursOps).reduce((x, y) => x + y, 0) / size, 3),
          zkOps: oursOps,
          decodeEventsPerSec: decodeRates.at(-1),
        },
        hostStream: {
          host,
          events: hostEvents,
          oursEventsPerSec: round(median(hostRates)),
          rawSameCountEventsPerSec: round(median(hostRawRates)),
          ratio: round(median(hostRates) / median(hostRawRates), 2),
          zkRoundTripsPerEvent: round(Object.values(hostOps).reduce((x, y) => x + y, 0) / Math.max(1, hostEvents), 3),
          zkOps: hostOps,
        },
        zooKeeper: figures,
      }
      sizes.push(row)
      log(
        `  size ${size}: catch-up ${row.catchUp.oursEventsPerSec}/s vs raw ${row.catchUp.rawFetchEventsPerSec}/s; host stream ${row.hostStream.oursEventsPerSec}/s (${hostEvents} events) [${round((nowMs() - t0) / 1000, 1)} s]`,
      )
    }

    // ------------------------------------------------------------------------------------------
    // Tables
    const appendRows = [
      ["(a) serial, 1 event/append", serialSummary, "events/s"],
      [`(b) ${INFLIGHT} in flight, 1 event/append`, inflightSummary, "events/s"],
      [`(b') ${INFLIGHT} in flight, 1 in ${MIXED_EVERY} hostless`, mixedSummary, "events/s"],
      ["(a\") serial, hostless events only", hostlessSerialSummary, "events/s"],
      [`(b") ${INFLIGHT} in flight, hostless only`, hostlessInflightSummary, "events/s"],
      [`(c) ${BATCH} events/append, ${INFLIGHT} in flight`, batchedSummary, "events/s"],
    ] as const
    log("\nAppends (median of alternating rounds; raw = PERSISTENT_SEQUENTIAL create of the same bytes, same session):")
    log(
      table(
        ["case", "ours/s", "raw/s", "ours/raw", "target", "multis/append", "ours p50 ms", "ours p99 ms", "raw p50 ms", "raw p99 ms"],
        appendRows.map(([name, s]) => [
          name,
          s.oursPerSec,
          s.rawPerSec,
          s.ratio,
          name.startsWith("(c)") || name.includes('")') ? "" : ">= 0.8",
          "multisPerAppend" in s ? s.multisPerAppend : 1,
          s.oursLatencyMs.p50,
          s.oursLatencyMs.p99,
          s.rawLatencyMs.p50,
          s.rawLatencyMs.p99,
        ]),
      ),
    )
    log(
      `  (c') 100-event batches of the workload (~60 hosts each), 8 in flight: ${multiHostSummary.ok ? `${multiHostSummary.eventsPerSec} events/s` : `FAILED after ${multiHostSummary.seconds} s (${multiHostSummary.error}); ${multiHostSummary.multis} multis and ${multiHostSummary.headReads} head listings for ${MULTIHOST_APPENDS} appends`}\n` +
      `  ours: ${round(opsPerAppend, 2)} ZooKeeper round trip(s) per append (one multi: create p and the host-stream entry, each after a check of the previous position unless this writer saw it land; concurrent appends share multis); ` +
        `(c) one raw znode holding the 10-event batch: ${batchedSummary.rawOneZnodePerBatchEventsPerSec} events/s`,
    )

    log(`\nCatch-up from 0 (log.read in chunks of 10,000; raw: getChildren + getData, ${READ_INFLIGHT} in flight), events/s:`)
    log(
      table(
        ["log size", "ours", "raw fetch", "ours/raw", "raw+decode", "ours/(raw+dec)", "ours s", "ZK ops/event", "host events", "host ours", "host raw", "ZK ops/host event", "znodes", "ZK data MB"],
        sizes.map((s) => {
          const c = s["catchUp"] as Record<string, number>
          const h = s["hostStream"] as Record<string, number>
          const z = s["zooKeeper"] as { znodes: number; dataBytes: number }
          return [s["size"], c["oursEventsPerSec"], c["rawFetchEventsPerSec"], c["ratio"], c["rawFetchPlusDecodeEventsPerSec"], c["ratioVsRawPlusDecode"], c["oursSeconds"], c["zkRoundTripsPerEvent"], h["events"], h["oursEventsPerSec"], h["rawSameCountEventsPerSec"], h["zkRoundTripsPerEvent"], z.znodes, round(z.dataBytes / 1e6, 1)]
        }),
      ),
    )
    log(
      `  batched log (${batchedCatchUp.events} events, ${BATCH}/append): ${batchedCatchUp.oursEventsPerSec} events/s, ${batchedCatchUp.zkReadsPerEvent} ZK reads/event; ` +
        `raw one-znode-per-batch: ${batchedCatchUp.rawOneZnodePerBatchEventsPerSec} events/s`,
    )

    log("\nReading the newest event (a live follower one event behind), ms:")
    log(
      table(
        ["log size", "children in segment", "ours p50", "ours p99", "raw getData p50", "ZK ops/read"],
        tails.map((t) => [t.size, t.segmentFill, t.oursMs.p50, t.oursMs.p99, t.rawMs.p50, round(Object.values(t.oursZkOps).reduce((a, b) => a + b, 0), 1)]),
      ),
    )

    log("\nAppend rate while the log grows (64 in flight; the first step writes to a fresh log and 50 new host streams), events/s:")
    log(table(["from", "to", "ours", "raw", "ours/raw", "multis/append"], fills.map((f) => [f.from, f.to, f.oursPerSec, f.rawPerSec, round(f.oursPerSec / f.rawPerSec, 2), f.multisPerAppend])))

    const largest = sizes.at(-1)!
    const summary: SummaryLine[] = [
      line("log: serial append ours/raw", serialSummary.ratio, "ratio", { op: ">=", value: 0.8 }),
      line(`log: ${INFLIGHT}-in-flight append ours/raw`, inflightSummary.ratio, "ratio", { op: ">=", value: 0.8 }),
      line("log: serial append", serialSummary.oursPerSec, "events/s"),
      line(`log: ${INFLIGHT}-in-flight append`, inflightSummary.oursPerSec, "events/s"),
      line("log: hostless events, serial ours/raw", hostlessSerialSummary.ratio, "ratio"),
      line(`log: hostless events, ${INFLIGHT} in flight ours/raw`, hostlessInflightSummary.ratio, "ratio"),
      line(`log: ${INFLIGHT}-in-flight mixed (1/${MIXED_EVERY} hostless) ours/raw`, mixedSummary.ratio, "ratio", { op: ">=", value: 0.8 }),
      line("log: fresh log, 50 new hosts, 64 in flight", fills[0]!.oursPerSec, "events/s"),
      line("log: 100-event multi-host batches, 8 in flight", multiHostSummary.eventsPerSec, "events/s"),
      line(`log: ${BATCH}-event batches, ${INFLIGHT} in flight`, batchedSummary.oursPerSec, "events/s"),
      line(`log: catch-up at ${largest["size"]} events`, (largest["catchUp"] as Record<string, number>)["oursEventsPerSec"]!, "events/s"),
      line(`log: catch-up ours/raw fetch at ${largest["size"]}`, (largest["catchUp"] as Record<string, number>)["ratio"]!, "ratio"),
      line(`log: host stream read at ${largest["size"]}`, (largest["hostStream"] as Record<string, number>)["oursEventsPerSec"]!, "events/s"),
      line("log: newest-event read, full segment, p50", tails.reduce((m, t) => (t.segmentFill > m.segmentFill ? t : m)).oursMs.p50, "ms"),
    ]
    log("\n" + summaryTable(summary))
    const seconds = round((nowMs() - t0) / 1000, 1)
    const file = writeResult("log", {
      seconds,
      cpuBusyAtStart,
      config: { hosts: HOSTS, rounds: ROUNDS, serialN: SERIAL_N, inFlight: INFLIGHT, pipelinedN: PIPELINED_N, batch: BATCH, batchedAppends: BATCHED_APPENDS, readInFlight: READ_INFLIGHT, segmentSize: SEGMENT, eventBytes: one.length, zooKeeper: "standalone, forceSync=yes, -Xmx1g", quick: QUICK },
      appends: { serial: serialSummary, inflight: inflightSummary, hostlessSerial: hostlessSerialSummary, hostlessInflight: hostlessInflightSummary, mixed: mixedSummary, multiHostBatches: multiHostSummary, batched: batchedSummary, zkRoundTripsPerAppend: opsPerAppend },
      batchedCatchUp,
      sizes,
      tailReads: tails,
      appendWhileGrowing: fills,
      summary,
    })
    log(`\nwrote ${file} in ${seconds} s`)
  } finally {
    await session.close()
    await server.destroy()
  }
}

await main()
