/**
 * `npx tsx bench/packing.bench.ts` (also run by `npm run bench`): what packing sealed segments
 * (log/zk-chain-format.ts) does to ZooKeeper and to a master's cold start, against the same log before
 * it was packed, in the same run.
 *
 * For logs of 10^4, 10^5 and 10^6 events (bench/workload.ts; each size on a fresh private,
 * fsync'ing ZooKeeper, written 100 events per append, 64 appends in flight):
 *   1. before packing: ZooKeeper's znodes per event and heap used after a full GC (jcmd; its cache
 *      of the last 500 transactions flushed first: flushCommittedLog), and a
 *      master cold start without a local snapshot (a fresh process: bench/cold-start-worker.ts);
 *   2. packing, as the leader does it (`packSealed`, one sealed segment kept below the newest):
 *      its time;
 *   3. after packing: the same figures, and znodes per event within the packed (sealed) segments;
 *   4. a master's read model shared beside the log (as the leader does every tenth of the log), a
 *      tenth behind the head: a cold start without a local snapshot from it (10^5 and 10^6);
 *   5. archiving (`helios-master archive`: log/zk-archive.ts) everything the shared snapshot has
 *      passed: its time, the file, ZooKeeper's znodes and heap after it, and the same cold start.
 * At 10^4 events nothing is sealed beyond the segment kept (10,000 positions per segment): the
 * figures show the constant part that packing leaves. Writes bench/results/packing.json.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { EventEnvelope } from "../core/events.ts"
import { mapLimit } from "../log/map-limit.ts"
import { ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { saveSharedSnapshot } from "../master/snapshots.ts"
import { foldReadModel } from "../projections/read-model.ts"
import { coldStart, rssOf } from "./cold-start.ts"
import { benchCleanups, line, log, machine, mib, nowMs, partCleanups, pipelined, round, runBench, summaryTable, table, waitForQuiet, writeResult, type SummaryLine } from "./lib.ts"
import { generateWorkload } from "./workload.ts"
import { startBenchZooKeeper, zkFigures } from "./zk-bench.ts"

const QUICK = process.env["BENCH_QUICK"] === "1"
const SIZES = QUICK ? [10_000, 30_000] : [10_000, 100_000, 1_000_000]
const LARGEST = SIZES[SIZES.length - 1]!
const WRITE_BATCH = 100
const WRITE_INFLIGHT = 64
const ROOT = "/bench-packing"

const { cleanups, run: cleanup } = benchCleanups()

/** ZooKeeper's heap in use after a full GC, in bytes (jcmd against its JVM; NaN if that fails). */
const zkHeapUsed = (pid: number | undefined): number => {
  if (pid === undefined) return Number.NaN
  try {
    execFileSync("jcmd", [String(pid), "GC.run"], { stdio: "ignore", timeout: 60_000 })
    const info = execFileSync("jcmd", [String(pid), "GC.heap_info"], { encoding: "utf8", timeout: 60_000 })
    // Serial/parallel collectors list their generations, G1 one heap: add up every "total …K, used …K".
    const used = [...info.matchAll(/(?:generation|heap)\s+total \d+K, used (\d+)K/g)].map((m) => Number(m[1]))
    return used.length > 0 ? used.reduce((a, b) => a + b, 0) * 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

/**
 * ZooKeeper keeps its last 500 committed transactions in memory (`zookeeper.commitLogCount`, for
 * followers to sync from): after packing or archiving those are 900 KB chunk writes, ~450 MB that
 * are not the data tree. 600 small writes push them out before the heap is measured, as the
 * appends of a running cluster soon would.
 */
const flushCommittedLog = async (zk: ZkClient): Promise<void> => {
  const scratch = "/bench-packing-scratch"
  await zk.ensurePath(scratch)
  await mapLimit(Array.from({ length: 600 }, (_, i) => i), 16, (i) => zk.setData(scratch, Buffer.from(String(i))))
}

/** Znodes that packed segments take: the mark, a node per segment and its chunks. */
const packedZnodes = async (zk: ZkClient, base: string): Promise<{ segments: number; znodes: number }> => {
  const segments = await zk.getChildrenIfExists(base)
  const chunks = await mapLimit(segments, 64, async (s) => (await zk.exists(`${base}/${s}`))?.numChildren ?? 0)
  return { segments: segments.length, znodes: segments.length + chunks.reduce((a, b) => a + b, 0) + (segments.length > 0 ? 1 : 0) }
}

const main = async () => {
  const cpuBusyAtStart = await waitForQuiet(15_000)
  const t0 = nowMs()
  log(`bench/packing: ${machine().cpuModel}, ${machine().cores} cores, node ${machine().node}`)
  const stored = generateWorkload(LARGEST).events
  const workload = stored.map((e) => e.envelope)
  log(`  generated ${workload.length} events in ${round((nowMs() - t0) / 1000, 1)} s`)

  const rows: Array<Record<string, number>> = []
  for (const size of SIZES) {
    const part = partCleanups(cleanups)
    const server = await startBenchZooKeeper(size >= 1_000_000 ? "4g" : "1g")
    part.atExit(() => server.destroy())
    const zk = await ZkClient.connect(server.connectString, { operationTimeoutMs: 30_000 })
    part.atExit(() => zk.close())
    const zlog = await ZooKeeperEventLog.open(zk, { root: ROOT })
    const events: EventEnvelope[] = workload.slice(0, size)
    const batches = Math.ceil(size / WRITE_BATCH)
    const written = await pipelined(batches, WRITE_INFLIGHT, (i) => zlog.append(events.slice(i * WRITE_BATCH, (i + 1) * WRITE_BATCH)))
    log(`  ${size}: written in ${round(written.ms / 1000, 1)} s`)

    const before = await zkFigures(server)
    await flushCommittedLog(zk)
    const heapBefore = zkHeapUsed(server.pid)
    const coldBefore = await coldStart({ kind: "zookeeper", connect: server.connectString, root: ROOT })
    log(`  ${size}: cold start before packing ${round((coldBefore["catchUpMs"] as number) / 1000, 1)} s; ${before.znodes} znodes, heap ${mib(heapBefore)} MiB`)

    const p0 = nowMs()
    const report = await zlog.packSealed()
    const packMs = nowMs() - p0
    const after = await zkFigures(server)
    await flushCommittedLog(zk)
    const heapAfter = zkHeapUsed(server.pid)
    const packed = await packedZnodes(zk, zkPaths(ROOT).log.packed)
    const coldAfter = await coldStart({ kind: "zookeeper", connect: server.connectString, root: ROOT })
    if (coldAfter["position"] !== size || coldBefore["position"] !== size) throw new Error(`a cold start did not reach position ${size}`)
    log(`  ${size}: packed ${report.segments} segments in ${round(packMs / 1000, 1)} s; cold start after ${round((coldAfter["catchUpMs"] as number) / 1000, 1)} s; ${after.znodes} znodes, heap ${mib(heapAfter)} MiB`)
    const packedEvents = packed.segments * 10_000 - (packed.segments > 0 ? 1 : 0)

    // The leader shares a snapshot of its read model every tenth of the log (at least every 10,000
    // events): a new master finds one at most that far behind the head. The worst case: one that far.
    const sharedAt = Math.min(Math.floor(size / 1.1), size - 10_000)
    let coldShared: Record<string, unknown> | undefined
    let sharedBytes = Number.NaN
    if (sharedAt > 0) {
      if (!(await saveSharedSnapshot(zlog.sharedSnapshots, zlog, foldReadModel(stored.slice(0, sharedAt))))) throw new Error("the shared snapshot was not stored")
      sharedBytes = (await zlog.sharedSnapshots.load())!.bytes.length
      coldShared = await coldStart({ kind: "zookeeper", connect: server.connectString, root: ROOT })
      if (coldShared["position"] !== size) throw new Error(`a cold start did not reach position ${size}`)
      log(`  ${size}: cold start from the shared snapshot at ${sharedAt} (${mib(sharedBytes)} MiB) ${round((coldShared["catchUpMs"] as number) / 1000, 1)} s, RSS ${coldShared["rssMiB"]} MiB`)
    }
    // Archiving what the shared snapshot has passed (whole packed segments only).
    const archived: Record<string, number> = {}
    if (sharedAt > 0) {
      const dir = mkdtempSync(join(tmpdir(), "helios-bench-archive-"))
      part.atExit(() => rmSync(dir, { recursive: true, force: true }))
      const a0 = nowMs()
      const archive = await zlog.archive({ throughPosition: sharedAt, dir, now: new Date() })
      archived["archiveSeconds"] = round((nowMs() - a0) / 1000, 1)
      archived["archivedEvents"] = archive.lastPosition ?? 0
      archived["archiveMiB"] = mib(archive.bytes)
      const figures = await zkFigures(server)
      archived["znodesPerEventArchived"] = round(figures.znodes / size, 3)
      await flushCommittedLog(zk)
      archived["zkHeapMiBArchived"] = mib(zkHeapUsed(server.pid))
      const cold = await coldStart({ kind: "zookeeper", connect: server.connectString, root: ROOT })
      if (cold["position"] !== size) throw new Error(`a cold start did not reach position ${size}`)
      archived["coldStartSecondsArchived"] = round((cold["catchUpMs"] as number) / 1000, 1)
      log(
        `  ${size}: archived ${archived["archivedEvents"]} events (${archive.segments} segments, ${archived["archiveMiB"]} MiB) in ${archived["archiveSeconds"]} s; ` +
          `${figures.znodes} znodes, heap ${archived["zkHeapMiBArchived"]} MiB; cold start ${archived["coldStartSecondsArchived"]} s`,
      )
    }
    rows.push({
      size,
      writeSeconds: round(written.ms / 1000, 1),
      segmentsPacked: report.segments,
      packSeconds: round(packMs / 1000, 1),
      znodesBefore: before.znodes,
      znodesAfter: after.znodes,
      znodesPerEventBefore: round(before.znodes / size, 3),
      znodesPerEventAfter: round(after.znodes / size, 3),
      /** Within the packed segments of the global log: its packed znodes per 10,000 events there. */
      packedLogZnodesPer10kEvents: packed.segments > 0 ? round((10_000 * packed.znodes) / packedEvents, 1) : Number.NaN,
      zkDataMiBBefore: mib(before.dataBytes),
      zkDataMiBAfter: mib(after.dataBytes),
      zkHeapMiBBefore: mib(heapBefore),
      zkHeapMiBAfter: mib(heapAfter),
      zkRssMiB: mib(rssOf(server.pid)),
      coldStartSecondsBefore: round((coldBefore["catchUpMs"] as number) / 1000, 1),
      coldStartSecondsAfter: round((coldAfter["catchUpMs"] as number) / 1000, 1),
      masterRssMiBBefore: coldBefore["rssMiB"] as number,
      masterRssMiBAfter: coldAfter["rssMiB"] as number,
      sharedSnapshotAt: sharedAt > 0 ? sharedAt : Number.NaN,
      sharedSnapshotMiB: mib(sharedBytes),
      coldStartSecondsShared: coldShared ? round((coldShared["catchUpMs"] as number) / 1000, 1) : Number.NaN,
      masterRssMiBShared: coldShared ? (coldShared["rssMiB"] as number) : Number.NaN,
      masterHeapMiBAfter: coldAfter["heapUsedMiB"] as number,
      masterHeapMiBShared: coldShared ? (coldShared["heapUsedMiB"] as number) : Number.NaN,
      archiveSeconds: archived["archiveSeconds"] ?? Number.NaN,
      archivedEvents: archived["archivedEvents"] ?? Number.NaN,
      archiveMiB: archived["archiveMiB"] ?? Number.NaN,
      znodesPerEventArchived: archived["znodesPerEventArchived"] ?? Number.NaN,
      zkHeapMiBArchived: archived["zkHeapMiBArchived"] ?? Number.NaN,
      coldStartSecondsArchived: archived["coldStartSecondsArchived"] ?? Number.NaN,
    })
    await part.run()
  }

  log("")
  log(
    table(
      ["events", "segments packed", "pack s", "znodes/event before → after → archived", "packed log znodes per 10k events", "ZK heap MiB before → after → archived", "cold start s before → after → shared snapshot → archived", "master RSS MiB after → shared snapshot", "archive: events, MiB, s"],
      rows.map((r) => [
        r["size"],
        r["segmentsPacked"],
        r["packSeconds"],
        `${r["znodesPerEventBefore"]} → ${r["znodesPerEventAfter"]} → ${r["znodesPerEventArchived"]}`,
        r["packedLogZnodesPer10kEvents"],
        `${r["zkHeapMiBBefore"]} → ${r["zkHeapMiBAfter"]} → ${r["zkHeapMiBArchived"]}`,
        `${r["coldStartSecondsBefore"]} → ${r["coldStartSecondsAfter"]} → ${r["coldStartSecondsShared"]} → ${r["coldStartSecondsArchived"]}`,
        `${r["masterRssMiBAfter"]} → ${r["masterRssMiBShared"]}`,
        `${r["archivedEvents"]}, ${r["archiveMiB"]}, ${r["archiveSeconds"]}`,
      ]),
    ),
  )
  const largest = rows[rows.length - 1]!
  const smallest = rows[0]!
  const growth = (key: string) => round(largest[key]! / smallest[key]!, 1)
  const summary: SummaryLine[] = [
    line(`cold start on ZooKeeper, ${largest["size"]} events, no local snapshot: from the shared one a tenth behind`, largest["coldStartSecondsShared"]!, "s", { op: "<=", value: 10 }),
    line(`cold start on ZooKeeper, ${largest["size"]} events, packed, no snapshot at all (the whole log)`, largest["coldStartSecondsAfter"]!, "s"),
    line(`cold start on ZooKeeper, ${largest["size"]} events, per-position znodes (baseline, same run)`, largest["coldStartSecondsBefore"]!, "s"),
    line(`ZooKeeper znodes per 10,000 events in the global log's packed segments, ${largest["size"]} events`, largest["packedLogZnodesPer10kEvents"]!, "znodes", { op: "<=", value: 500 }),
    line(`ZooKeeper znodes per event overall after packing (host streams and the unpacked newest segments included), ${largest["size"]} events`, largest["znodesPerEventAfter"]!, "znodes", { op: "<=", value: 0.05 }),
    line(`ZooKeeper heap after packing, ${largest["size"]} events`, largest["zkHeapMiBAfter"]!, "MiB"),
    line(`ZooKeeper znodes per event after archiving what the shared snapshot passed, ${largest["size"]} events`, largest["znodesPerEventArchived"]!, "znodes"),
    line(`ZooKeeper heap after archiving, ${largest["size"]} events`, largest["zkHeapMiBArchived"]!, "MiB"),
    line(`time to archive ${largest["archivedEvents"]} events (${largest["archiveMiB"]} MiB file)`, largest["archiveSeconds"]!, "s"),
    line(`master RSS after a cold start from the shared snapshot, ${largest["size"]} events`, largest["masterRssMiBShared"]!, "MiB", { op: "<=", value: 400 }),
    line(`master RSS after a cold start reading the whole log, ${largest["size"]} events`, largest["masterRssMiBAfter"]!, "MiB"),
  ]
  log(summaryTable(summary))
  log(`  growth ×${round(largest["size"]! / smallest["size"]!)} events: cold start before ×${growth("coldStartSecondsBefore")}, after ×${growth("coldStartSecondsAfter")}`)
  writeResult("packing", {
    config: { sizes: SIZES, writeBatch: WRITE_BATCH, writeInFlight: WRITE_INFLIGHT, segmentSize: 10_000, keepSealedSegments: 1 },
    cpuBusyAtStart,
    rows,
    summary,
  })
}

await runBench("packing", main, cleanup)
