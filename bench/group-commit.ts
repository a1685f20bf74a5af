/**
 * `npx tsx bench/group-commit.ts`: the gain of client-side group commit (prototype:
 * bench/proto/zookeeper-log-group-commit.ts) over the current ZooKeeper adapter, against raw
 * PERSISTENT_SEQUENTIAL creates, on one private fsync'ing server, alternating round by round.
 * Not part of `npm run bench` (a one-off demonstration of a proposal). Writes
 * bench/results/group-commit.json.
 */
import { EVENT_SCHEMA_VERSION, type EventEnvelope } from "../core/events.ts"
import type { EventLog } from "../core/event-log.ts"
import type { HostName } from "../core/ids.ts"
import type { JobId } from "../core/job.ts"
import { encodeBatch } from "../core/codec.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { distribution, line, log, machine, median, nowMs, pipelined, rate, round, summaryTable, table, waitForQuiet, writeResult, type SummaryLine } from "./lib.ts"
import { GroupCommitZooKeeperEventLog } from "./proto/zookeeper-log-group-commit.ts"
import { counting, rawCreate, readAllEvents, startBenchZooKeeper } from "./zk-bench.ts"

const HOSTS = 50
const ROUNDS = 5
const host = (i: number) => `host-${String(i % HOSTS).padStart(4, "0")}` as HostName
const small = (i: number): EventEnvelope => ({
  event: { _tag: "TaskStateChanged", jobId: "web:v1:3b4ee8f2e9d1c0a5b6c7d8e9f0a1b2c3d4e5f6a7" as JobId, host: host(i), state: "CREATING", goal: "START", throttled: "NO" },
  schemaVersion: EVENT_SCHEMA_VERSION,
  at: Date.UTC(2026, 0, 1) + i,
  actor: { kind: "agent", name: host(i) },
  commandId: `${host(i)}-1-${i}`,
})
const hostless = (i: number): EventEnvelope => ({
  event: { _tag: "JobRemoved", jobId: `web-${i}:v1:3b4ee8f2e9d1c0a5b6c7d8e9f0a1b2c3d4e5f6a7` as JobId },
  schemaVersion: EVENT_SCHEMA_VERSION,
  at: Date.UTC(2026, 0, 1) + i,
  actor: { kind: "user", name: "alice" },
})

const main = async () => {
  const cpuBusyAtStart = await waitForQuiet(15_000)
  const t0 = nowMs()
  log(`bench/group-commit: ${machine().cpuModel}, ${machine().cores} cores, node ${machine().node}`)
  const server = await startBenchZooKeeper()
  const session = await ZkClient.connect(server.connectString)
  const c = counting(session)
  const zk = c.zk
  try {
    await zk.ensurePath("/raw")
    const one = Buffer.from(encodeBatch({ batchId: "8c5e3b1a-2f44-4c1e-9d6a-0b3c2d1e0f9a", bumped: [], events: [small(0)] }))
    const logs: Record<"current" | "group", EventLog> = {
      current: await ZooKeeperEventLog.open(zk, { root: "/current" }),
      group: await GroupCommitZooKeeperEventLog.open(zk, { root: "/group" }),
    }
    const appended = { current: 0, group: 0 }
    let seq = 0
    // warm-up
    for (const k of ["current", "group"] as const) {
      await pipelined(2_000, 64, () => logs[k].append([small(seq++)]))
      appended[k] += 2_000
    }
    await pipelined(2_000, 64, () => rawCreate(zk, "/raw", one))

    const cases = [
      { name: "serial, 1 event/append", n: 600, inFlight: 1, event: small },
      { name: "64 in flight, 1 event/append", n: 4_000, inFlight: 64, event: small },
      { name: "64 in flight, 1 in 8 hostless", n: 4_000, inFlight: 64, event: (i: number) => (i % 8 === 0 ? hostless(i) : small(i)) },
      { name: "256 in flight, 1 event/append", n: 8_000, inFlight: 256, event: small },
    ]
    const rows: Array<Record<string, unknown>> = []
    for (const k of cases) {
      const r: Record<string, number[]> = { current: [], group: [], raw: [] }
      const lat: Record<string, number[]> = { current: [], group: [] }
      const multis: Record<string, number> = {}
      for (let round_ = 0; round_ < ROUNDS; round_++) {
        for (const kind of ["current", "group"] as const) {
          c.reset()
          const res = await pipelined(k.n, k.inFlight, () => logs[kind].append([k.event(seq++)]))
          appended[kind] += k.n
          multis[kind] = (c.counts["multi"] ?? 0) / k.n
          r[kind]!.push(rate(k.n, res.ms))
          lat[kind]!.push(...res.latencies)
        }
        const raw = await pipelined(k.n, k.inFlight, () => rawCreate(zk, "/raw", one))
        r["raw"]!.push(rate(k.n, raw.ms))
      }
      const ratio = (kind: string) => round(median(r[kind]!.map((v, i) => v / r["raw"]![i]!)), 2)
      rows.push({
        case: k.name,
        current: round(median(r["current"]!)),
        group: round(median(r["group"]!)),
        raw: round(median(r["raw"]!)),
        currentVsRaw: ratio("current"),
        groupVsRaw: ratio("group"),
        multisPerAppend: { current: round(multis["current"]!, 3), group: round(multis["group"]!, 3) },
        latencyMs: { current: distribution(lat["current"]!), group: distribution(lat["group"]!) },
        rounds: r,
      })
      log(`  ${k.name}: current ${round(median(r["current"]!))}/s, group commit ${round(median(r["group"]!))}/s, raw ${round(median(r["raw"]!))}/s`)
    }
    // Everything appended is there, once, in a dense order.
    const counts = { current: await readAllEvents(logs.current), group: await readAllEvents(logs.group) }
    const complete = counts.current === appended["current"] && counts.group === appended["group"]

    log("\nCurrent adapter vs group commit (prototype), events/s, median of alternating rounds; ratios are medians of per-round ratios to raw:")
    log(
      table(
        ["case", "current", "group commit", "raw", "current/raw", "group/raw", "multis/append (group)", "p50 ms current", "p50 ms group", "p99 ms current", "p99 ms group"],
        rows.map((x) => {
          const l = x["latencyMs"] as Record<string, { p50: number; p99: number }>
          return [x["case"], x["current"], x["group"], x["raw"], x["currentVsRaw"], x["groupVsRaw"], (x["multisPerAppend"] as Record<string, number>)["group"], l["current"]!.p50, l["group"]!.p50, l["current"]!.p99, l["group"]!.p99]
        }),
      ),
    )
    log(`  every appended event read back once, positions dense: ${complete ? "yes" : "NO"} (${JSON.stringify(counts)})`)
    const summary: SummaryLine[] = rows.flatMap((x) => [
      line(`group commit: ${x["case"]}, current/raw`, x["currentVsRaw"] as number, "ratio", { op: ">=", value: 0.8 }),
      line(`group commit: ${x["case"]}, group/raw`, x["groupVsRaw"] as number, "ratio", { op: ">=", value: 0.8 }),
    ])
    log("\n" + summaryTable(summary))
    const file = writeResult("group-commit", { seconds: round((nowMs() - t0) / 1000, 1), cpuBusyAtStart, rows, complete, counts, summary })
    log(`\nwrote ${file}`)
  } finally {
    await session.close()
    await server.destroy()
  }
}

await main()
