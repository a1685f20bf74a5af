import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import Database from "better-sqlite3"
import { afterEach, describe, expect, it, vi } from "vitest"
import { encodeEvent } from "../core/codec.ts"
import type { EventLog } from "../core/event-log.ts"
import { hostStream, type EventEnvelope } from "../core/events.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { agentId, envelope, host } from "../test/event-fixtures.ts"
import { uniqueRoot, waitFor, zkConnect } from "../test/services.ts"
import { startMaster, type MasterOptions, type RunningMaster } from "./master.ts"

/*
 * An event this master cannot decode (garbage bytes, or a newer master's schema version) in the
 * log (issue 17): the master holds before it, says why on /healthz, serves reads from the state
 * before it, refuses writes; a restarted master still opens HTTP; --skip-undecodable goes past it.
 */

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "helios-undecodable-"))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const call = async (master: RunningMaster, method: string, path: string) => {
  const res = await fetch(master.url + path, { method })
  return { status: res.status, body: (await res.json()) as any, stale: res.headers.get("Helios-Stale") }
}

const registered = (name: string): EventEnvelope => envelope({ _tag: "HostRegistered", host: host(name), agentId: agentId(`agent-${name}`) })

/** Registers `name` as a master would: its host stream created with the append (the stream is bumped). */
const appendRegistered = (log: EventLog, name: string, schemaVersion = 1) =>
  log.append([{ ...registered(name), schemaVersion }], { expected: { [hostStream(name)]: "none" as const } })

/** A master on `log`, stopped (before the log) at the end of the test; the master's errors are captured. */
const start = async (log: EventLog, options: Partial<MasterOptions> = {}): Promise<RunningMaster> => {
  const master = await startMaster({ log, name: "m1", port: 0, bindAddress: "127.0.0.1", housekeepingIntervalMs: 60_000, divergenceCheckIntervalMs: 0, ...options })
  let stopped: Promise<void> | undefined
  const stop = () => (stopped ??= master.stop())
  cleanups.push(stop)
  return { ...master, stop }
}

const healthOf = async (master: RunningMaster) => call(master, "GET", "/healthz")

/** What a master holding before the undecodable event at `bad` answers: 503 health, stale reads, 503 writes. */
const expectHeldAt = async (master: RunningMaster, bad: number, reason: RegExp, hostsBefore: ReadonlyArray<string>) => {
  const health = await waitFor(async () => {
    const r = await healthOf(master)
    return r.status === 503 ? r : undefined
  }, { what: "/healthz to answer 503" })
  expect(health.body).toMatchObject({ status: "UNDECODABLE_EVENT", position: bad, appliedPosition: bad - 1 })
  expect(health.body.reason).toMatch(reason)
  const hosts = await call(master, "GET", "/hosts")
  expect(hosts.status).toBe(200)
  expect([...hosts.body].sort()).toEqual([...hostsBefore].sort())
  expect(hosts.stale).toBe(`undecodable event at ${bad}`)
  const write = await call(master, "PUT", "/hosts/hw?id=agent-w")
  expect(write.status).toBe(503)
  expect(write.body).toMatchObject({ status: "UNDECODABLE_EVENT", position: bad })
  expect(write.body.reason).toMatch(reason)
  // A read that must see a later position is refused with the same reason, at once.
  expect((await call(master, "GET", `/hosts?after=${bad}&wait=5000`)).body).toMatchObject({ status: "UNDECODABLE_EVENT", position: bad })
}

const quietErrors = () => {
  const errors = vi.spyOn(console, "error").mockImplementation(() => {})
  cleanups.push(() => errors.mockRestore())
  return errors
}

describe("an event a master cannot decode, on ZooKeeper", () => {
  const kinds = [
    {
      kind: "an event with a newer schema version",
      reason: /schema version 99 is newer/,
      // A newer master's event, laid out by the log itself: batch, markers and host-stream pointer.
      write: async (log: ZooKeeperEventLog, _zk: ZkClient, _root: string, _at: number) => {
        await appendRegistered(log, "h-new", 99)
      },
    },
    {
      kind: "garbage bytes",
      reason: /not msgpack|not a batch/,
      // A raw znode at the next position, where the log keeps its batches.
      write: async (_log: ZooKeeperEventLog, zk: ZkClient, root: string, at: number) => {
        await zk.create(zkPaths(root).log.entry(Math.floor(at / 10_000), at), Buffer.from([0xc1, 0xff, 0x00, 0x13]))
      },
    },
  ]

  for (const { kind, reason, write } of kinds)
    it(`${kind}: holds before it (503 health naming it, stale reads, 503 writes), a restarted master (cold, from a snapshot) still serves; --skip-undecodable goes past it`, async () => {
      const errors = quietErrors()
      const root = uniqueRoot("undecodable")
      const zk = await ZkClient.connect(zkConnect())
      cleanups.push(() => zk.close())
      const log = await ZooKeeperEventLog.open(zk, { root })
      cleanups.push(() => log.close())
      const snapshotFile = join(tempDir(), "snapshot.bin")

      const first = await start(log, { snapshotFile, snapshotEveryEvents: 1 })
      expect((await call(first, "PUT", "/hosts/h1?id=agent-1")).status).toBe(200)
      const bad = (await log.head()) + 1
      await write(log, zk, root, bad)
      // Written after it by someone who can (another, upgraded master): it may depend on it.
      await appendRegistered(log, "h-after")
      const head = await log.head()
      expect(head).toBeGreaterThan(bad)

      await expectHeldAt(first, bad, reason, ["h1"])
      const loud = errors.mock.calls.filter((args) => String(args[0]).includes("UNDECODABLE_EVENT"))
      expect(loud).toHaveLength(1)
      expect(String(loud[0]![0])).toContain(`--skip-undecodable ${bad}`)
      expect(await log.head()).toBe(head) // nothing was written
      await first.stop()

      // Restarted, cold and from the snapshot at bad - 1: it opens HTTP and says the same.
      const cold = await start(log, { name: "m2" })
      await expectHeldAt(cold, bad, reason, ["h1"])
      await cold.stop()
      const fromSnapshot = await start(log, { name: "m3", snapshotFile })
      await expectHeldAt(fromSnapshot, bad, reason, ["h1"])
      await fromSnapshot.stop()

      // Told to skip it: healthy, the later events applied, writes taken again.
      const skipping = await start(log, { name: "m4", snapshotFile, skipUndecodable: [bad] })
      const health = await waitFor(async () => {
        const r = await healthOf(skipping)
        return r.status === 200 ? r : undefined
      }, { what: "/healthz OK after the skip" })
      expect(health.body).toMatchObject({ status: "OK", position: head })
      const hosts = await call(skipping, "GET", "/hosts")
      expect([...hosts.body].sort()).toEqual(["h-after", "h1"])
      expect(hosts.stale).toBeNull()
      expect(errors.mock.calls.some((args) => String(args[0]).includes(`SKIPPED the undecodable event at`) && String(args[0]).includes(`${bad}`))).toBe(true)
      expect((await call(skipping, "PUT", "/hosts/h2?id=agent-2")).status).toBe(200)
      if (kind.includes("schema"))
        // The skipped append bumped h-new's stream: a master that counted it decides with the right version.
        expect((await call(skipping, "PUT", "/hosts/h-new?id=agent-x")).status).toBe(200)
    })
})

describe("an event a master cannot decode, in the embedded SQLite log (solo)", () => {
  it("holds before it; a restarted master serves and says why; --skip-undecodable goes past it", async () => {
    quietErrors()
    const file = join(tempDir(), "log.db")
    const open = () => {
      const log = new SqliteEventLog(file)
      let closed: Promise<void> | undefined
      const closeOnce = log.close.bind(log)
      const close = () => (closed ??= closeOnce())
      cleanups.push(close)
      log.close = close
      return log
    }
    const log = open()
    const first = await start(log)
    expect((await call(first, "PUT", "/hosts/h1?id=agent-1")).status).toBe(200)
    const bad = (await log.head()) + 1
    // A row from a newer build, written beside the log's own connection.
    const raw = new Database(file)
    raw.prepare("INSERT INTO events (position, bumped, event) VALUES (?, NULL, ?)").run(bad, Buffer.from(encodeEvent({ ...registered("h-new"), schemaVersion: 99 })))
    raw.close()
    await appendRegistered(log, "h-after")
    await expectHeldAt(first, bad, /schema version 99 is newer/, ["h1"])
    await first.stop()
    await log.close()

    const again = open()
    const restarted = await start(again)
    await expectHeldAt(restarted, bad, /schema version 99 is newer/, ["h1"])
    await restarted.stop()

    const skipping = await start(again, { skipUndecodable: [bad] })
    await waitFor(async () => ((await healthOf(skipping)).status === 200 ? true : undefined), { what: "/healthz OK after the skip" })
    expect([...(await call(skipping, "GET", "/hosts")).body].sort()).toEqual(["h-after", "h1"])
  })
})
