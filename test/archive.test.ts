/**
 * Archiving the log's oldest packed segments to a file, on a real ZooKeeper (log/zk-archive.ts,
 * README "Retention and archiving"): the segments leave ZooKeeper; a reader given the archive
 * reads the log exactly as before; one without it is told the events are archived (410 Gone from a
 * master), reads everything after them as before, and an agent with no state of its own reaches
 * the same desired state from its host stream's base; a damaged archive is refused, never read.
 */
import { execFile } from "node:child_process"
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"
import { HostStreamFollower } from "../agent/host-stream.ts"
import { silentLogger } from "../agent/logger.ts"
import { generateWorkload } from "../bench/workload.ts"
import { emptyDesiredState, foldHostStream, type DesiredState } from "../core/desired-state.ts"
import { EventsArchived, type EventLog } from "../core/event-log.ts"
import type { StoredEvent } from "../core/events.ts"
import { position, type HostName } from "../core/ids.ts"
import { ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { lastPositionBefore } from "../master/archive-command.ts"
import { startMaster } from "../master/master.ts"
import { saveSharedSnapshot } from "../master/snapshots.ts"
import { foldReadModel } from "../projections/read-model.ts"
import { uniqueRoot, waitFor, zkConnect } from "./services.ts"

const cleanups: Array<() => unknown> = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {})
})

const SEGMENT = 250
const openLog = async (root: string, archiveDir?: string) => {
  const zk = await ZkClient.connect(zkConnect())
  const log = await ZooKeeperEventLog.open(zk, { root, segmentSize: SEGMENT, hostSegmentSize: 50, keepSealedSegments: 0, ...(archiveDir ? { archiveDir } : {}) })
  cleanups.push(() => zk.close(), () => log.close())
  return log
}

const readAll = async (log: EventLog, after = 0): Promise<StoredEvent[]> => {
  const out: StoredEvent[] = []
  for (let at = after; ; ) {
    const page = await log.read(position(at), 1000)
    if (page.length === 0) return out
    out.push(...page)
    at = page.at(-1)!.position
  }
}

const foldOf = async (log: EventLog, host: HostName): Promise<DesiredState> => {
  let state = emptyDesiredState(host)
  for (;;) {
    const events = await log.readHostStream(host, state.hostPosition)
    if (events.length === 0) return state
    state = foldHostStream(state, events)
  }
}

const serve = async (log: EventLog) => {
  const master = await startMaster({ log, name: `m-${Math.random().toString(36).slice(2, 8)}`, port: 0, bindAddress: "127.0.0.1", housekeepingIntervalMs: 60_000, packIntervalMs: 0 })
  cleanups.push(() => master.stop())
  const get = async (path: string) => {
    const res = await fetch(master.url + path)
    return { status: res.status, text: await res.text() }
  }
  return { master, get }
}

describe("archiving the log's oldest segments", () => {
  it("moves packed segments to a file; with the file every read is as before, without it they are 410 Gone and an agent starts from its stream's base; a damaged file is refused", async () => {
    const root = uniqueRoot("archive")
    const dir = mkdtempSync(join(tmpdir(), "helios-archive-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const { events } = generateWorkload(3_000, { hosts: 12, seed: 5 })
    const writer = await openLog(root)
    // Appended 7 events at a time: batches run across segment boundaries (250 positions each).
    const batches: Array<readonly [number, number]> = []
    for (let first = 1; first <= events.length; first += 7) {
      batches.push([first, Math.min(7, events.length - first + 1)])
      await writer.append(events.slice(first - 1, first + 6).map((e) => e.envelope))
    }
    await writer.packSealed()
    const head = Number(await writer.head())
    const before = await readAll(writer)
    expect(before.length).toBe(head)
    const hosts = [...new Set(events.flatMap((e) => ("host" in e.envelope.event ? [e.envelope.event.host] : [])))] as HostName[]
    const folds = new Map(await Promise.all(hosts.map(async (h) => [h, await foldOf(writer, h)] as const)))

    // What users saw before archiving: the whole log, an early job's history, the fleet as of position 500.
    const old = await serve(await openLog(root))
    await waitFor(() => (old.master.projection.position >= head ? true : undefined), { timeoutMs: 30_000 })
    const earlyJob = before.find((e) => e.envelope.event._tag === "JobCreated")!.envelope.event as { job: { id: string } }
    const expected = { events: await old.get("/events?after=0"), history: await old.get(`/history/jobs/${earlyJob.job.id}`), stateAt: await old.get("/state?at=500") }
    expect(expected.history.status).toBe(200)

    // Archived through the end of a segment where a batch runs on into the next one: readers of the
    // next segment still need that batch's bytes.
    const straddling = batches.find(([first, count]) => first < 1_500 && first >= 500 && Math.floor(first / SEGMENT) < Math.floor((first + count - 1) / SEGMENT))
    expect(straddling, "a batch across a segment boundary").toBeDefined()
    const last = (Math.floor(straddling![0] / SEGMENT) + 1) * SEGMENT - 1
    const FILE = `log-1-${last}.helios-archive`

    // Nothing is archived before a shared snapshot has passed it.
    expect((await writer.archive({ throughPosition: last, dir, now: new Date() })).reason).toContain("no shared snapshot")
    expect(await saveSharedSnapshot(writer.sharedSnapshots, writer, old.master.projection.model)).toBe(true)
    await old.master.stop()

    // A shared snapshot whose chunks cannot be read back (two masters sharing at once removed them)
    // is not one a master could start from: nothing is archived against it.
    {
      const chunksPath = zkPaths(root).sharedSnapshotChunks
      const zkc = await ZkClient.connect(zkConnect())
      try {
        const [chunk] = await zkc.getChildren(chunksPath)
        const { data } = await zkc.getData(`${chunksPath}/${chunk}`)
        await zkc.remove(`${chunksPath}/${chunk}`)
        expect((await writer.archive({ throughPosition: last, dir, now: new Date() })).reason).toContain("cannot be read back")
        expect(readdirSync(dir)).toEqual([])
        await zkc.create(`${chunksPath}/${chunk}`, data)
      } finally {
        await zkc.close()
      }
    }

    // The connection lost while the archived znodes are removed, after the mark has moved: the run
    // still reports the file as the archive (it is the only full copy now), and the next removes them.
    const zkLossy = await ZkClient.connect(zkConnect())
    cleanups.push(() => zkLossy.close())
    const lossy = new Proxy(zkLossy, {
      get(target, key) {
        if (key === "multi") return async () => Promise.reject(new Error("injected: ZooKeeper connection lost"))
        const value = Reflect.get(target, key) as unknown
        return typeof value === "function" ? value.bind(target) : value
      },
    })
    const archiver = await ZooKeeperEventLog.open(lossy, { root, segmentSize: SEGMENT, hostSegmentSize: 50, keepSealedSegments: 0 })
    cleanups.push(() => archiver.close())
    const report = await archiver.archive({ throughPosition: last, dir, now: new Date("2026-12-06T00:00:00Z") })
    expect(report).toMatchObject({ firstPosition: 1, lastPosition: last, segments: (last + 1) / SEGMENT, hostsRebased: hosts.length, znodesRemoved: 0 })
    expect(report.removalLeft).toMatch(/connection lost.*next run/)
    expect(report.file).toBe(join(dir, FILE))
    const cleanup = await writer.archive({ throughPosition: last, dir, now: new Date() })
    expect([cleanup.file, cleanup.znodesRemoved > 0]).toEqual([undefined, true])
    // It holds jobs' env and tokens: readable by its owner only.
    expect(statSync(report.file!).mode & 0o777).toBe(0o600)
    // Their chunks left ZooKeeper but the newest one's last (the batch running on); the packed segments after them stayed.
    const paths = zkPaths(root)
    const zk = await ZkClient.connect(zkConnect())
    cleanups.push(() => zk.close())
    const newest = (last + 1) / SEGMENT - 1
    const left = (await zk.getChildren(paths.log.packed)).map(Number).sort((a, b) => a - b)
    expect(left[0]).toBe(newest)
    expect(left[1]).toBe(newest + 1)
    expect(await zk.getChildren(paths.log.packedSegment(newest))).toHaveLength(1)
    // A second run with the same bound finds nothing more to do.
    expect((await writer.archive({ throughPosition: last, dir, now: new Date() })).reason).toContain("nothing to archive")

    // With the archive: every read as before (global log from any position, host streams from 0).
    const withArchive = await openLog(root, dir)
    expect(await readAll(withArchive)).toEqual(before)
    expect(await readAll(withArchive, 777)).toEqual(before.slice(777))
    for (const h of hosts.slice(0, 3)) expect(await foldOf(withArchive, h)).toEqual(folds.get(h))

    // Without it: a read of archived positions rejects naming them; a read after them is as before.
    const without = await openLog(root)
    const refused = await without.read(position(0), 10).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(EventsArchived)
    expect((refused as EventsArchived).through).toBe(last)
    expect((refused as EventsArchived).message).toContain(FILE)
    expect(await readAll(without, last)).toEqual(before.slice(last))
    expect(await readAll(without, last + 1)).toEqual(before.slice(last + 1))

    // An agent with no state of its own reaches, from its stream's base, the fold of its whole stream.
    for (const h of hosts) {
      const follower = new HostStreamFollower({ log: without, host: h, file: join(dir, `desired-${h}.json`), logger: silentLogger, onCommandIds: () => {}, onDesiredChange: () => {} })
      await follower.catchUp()
      expect(follower.state, `host ${h}`).toEqual(folds.get(h))
    }

    // `helios-master archive --before TIME` finds the last event stamped before TIME, archived ones counting as older.
    for (const time of [before[1999]!.envelope.at, before[500]!.envelope.at, before[0]!.envelope.at, before.at(-1)!.envelope.at + 1]) {
      const expectedPosition = before.filter((e) => e.envelope.at < time).at(-1)?.position ?? 0
      expect(await lastPositionBefore(withArchive, time), `before ${time}`).toBe(expectedPosition)
      // Without it, a time inside the archived range finds some position there (nothing more to archive), one after it the same.
      const found = await lastPositionBefore(without, time)
      if (expectedPosition >= last) expect(found, `before ${time}, without the archive`).toBe(expectedPosition)
      else expect([found >= expectedPosition, found <= last], `before ${time}, without the archive: ${found}`).toEqual([true, true])
    }

    // Masters: without the archive, 410 Gone for what is archived and the rest as before; with it, everything as before.
    const gone = await serve(without)
    expect(gone.master.projection.position).toBe(head)
    const events410 = await gone.get("/events?after=0")
    expect(events410.status).toBe(410)
    expect(JSON.parse(events410.text)).toMatchObject({ status: "ARCHIVED", archivedThrough: last })
    expect((await gone.get(`/history/jobs/${earlyJob.job.id}`)).status).toBe(410)
    expect((await gone.get("/state?at=500")).status).toBe(410)
    const tail = await gone.get(`/events?after=${last}`)
    expect(tail.status).toBe(200)
    expect(tail.text).toBe(expected.events.text.split("\n").slice(last).join("\n"))
    const kept = await serve(withArchive)
    expect(await kept.get("/events?after=0")).toEqual(expected.events)
    expect(await kept.get(`/history/jobs/${earlyJob.job.id}`)).toEqual(expected.history)
    expect(await kept.get("/state?at=500")).toEqual(expected.stateAt)

    // A damaged copy (one byte of a chunk changed) is refused: its chunk's digest does not match.
    const damagedDir = mkdtempSync(join(tmpdir(), "helios-archive-damaged-"))
    cleanups.push(() => rmSync(damagedDir, { recursive: true, force: true }))
    copyFileSync(report.file!, join(damagedDir, FILE))
    const bytes = readFileSync(join(damagedDir, FILE))
    bytes[100] = bytes[100]! ^ 0xff
    writeFileSync(join(damagedDir, FILE), bytes)
    const damaged = await openLog(root, damagedDir)
    const why = await damaged.read(position(0), 10).catch((e: unknown) => e)
    expect(why).toBeInstanceOf(EventsArchived)
    expect((why as EventsArchived).message).toContain("damaged")

    // A master that cannot start from the shared snapshot (damaged here) needs the archive: without it, it says so at once.
    const chunks = await zk.getChildren(paths.sharedSnapshotChunks)
    await zk.setData(`${paths.sharedSnapshotChunks}/${chunks[0]}`, Buffer.from("not a snapshot"))
    await expect(serve(without)).rejects.toThrow(/cannot start from position 0: positions 1\.\.\d+ were archived to .*--archive-dir/)
    const fromArchive = await serve(withArchive)
    expect(fromArchive.master.projection.position).toBe(head)
    expect(await fromArchive.get(`/history/jobs/${earlyJob.job.id}`)).toEqual(expected.history)

    // Appends and packing go on after archiving.
    await writer.append([events[0]!.envelope])
    expect(Number(await withArchive.head())).toBe(head + 1)
  })

  it("helios-master archive: refuses bad flags with a usage line, says why when there is nothing to archive, and archives the first sealed segment of a log with 10,000-position segments", async () => {
    const run = (args: string[]) =>
      promisify(execFile)("npx", ["tsx", "master/main.ts", "archive", ...args], { cwd: join(import.meta.dirname, "..") }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      )
    const bad = await run(["--through", "soon", "--dir", "/tmp"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--through: expected a log position")
    expect((await run(["--before", "yesterday", "--dir", "/tmp"])).stderr).toContain("--before: expected an ISO-8601 time")
    expect((await run(["--dir", "/tmp"])).stderr).toContain("give one of --through POSITION and --before ISO-TIME")
    const root = uniqueRoot("archive-cli")
    const dir = mkdtempSync(join(tmpdir(), "helios-archive-cli-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const empty = await run(["--through", "1000", "--dir", dir, "--zk", zkConnect(), "--zk-root", root])
    expect(empty.code).toBe(0)
    expect(empty.stdout).toContain("no shared snapshot yet")

    // A log as a cluster has it (10,000 positions per segment): two sealed segments, packed, and a
    // shared snapshot past the first. The command archives that one and says what it did.
    const zk = await ZkClient.connect(zkConnect())
    cleanups.push(() => zk.close())
    const log = await ZooKeeperEventLog.open(zk, { root, keepSealedSegments: 0 })
    cleanups.push(() => log.close())
    const { events } = generateWorkload(25_000, { hosts: 20, seed: 3 })
    for (let first = 1; first <= events.length; first += 100) await log.append(events.slice(first - 1, first + 99).map((e) => e.envelope))
    expect((await log.packSealed()).segments).toBeGreaterThanOrEqual(2)
    expect(await saveSharedSnapshot(log.sharedSnapshots, log, foldReadModel(events.slice(0, 15_000)))).toBe(true)
    const archived = await run(["--through", "20000", "--dir", dir, "--zk", zkConnect(), "--zk-root", root])
    expect(archived.stderr).toBe("")
    expect(archived.stdout).toContain(`positions 1..9999 (1 segments`)
    expect(archived.stdout).toContain(join(dir, "log-1-9999.helios-archive"))
    const refused = await log.read(position(0), 1).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(EventsArchived)
    const rest = (await readAll(log, 9_999)).map((e) => [e.position, e.envelope])
    expect(rest).toEqual(events.slice(9_999).map((e) => [e.position, e.envelope]))
  }, 120_000)
})
