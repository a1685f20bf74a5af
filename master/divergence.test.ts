import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it, vi } from "vitest"
import type { EventLog } from "../core/event-log.ts"
import { position } from "../core/ids.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { foldReadModel } from "../projections/read-model.ts"
import { hostUp } from "../test/event-fixtures.ts"
import { waitFor } from "../test/services.ts"
import { startZooKeeper, type ZooKeeperServer } from "../test/zookeeper.ts"
import { startMaster, type RunningMaster } from "./master.ts"

/*
 * ZooKeeper losing acknowledged writes (issue 17), simulated for real: a private ZooKeeper is
 * stopped and its data dir replaced by a copy taken before the master's last events, then started
 * again. The master applied events the log no longer holds.
 */

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const startServer = async (): Promise<ZooKeeperServer> => {
  const server = await startZooKeeper()
  cleanups.push(() => server.destroy())
  return server
}

const connect = async (server: ZooKeeperServer): Promise<ZkClient> => {
  const zk = await ZkClient.connect(server.connectString, { operationTimeoutMs: 3000 })
  cleanups.push(() => zk.close())
  return zk
}

/**
 * A copy of the server's data as it is now, taken while it runs: what a crash at this instant
 * would leave on disk (the copy reads the same page cache), which ZooKeeper recovers from.
 */
const backUp = (server: ZooKeeperServer): string => {
  const dir = mkdtempSync(join(tmpdir(), "helios-zk-backup-"))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(server.dataDir, "data"), dir, { recursive: true })
  return dir
}

/** ZooKeeper crashed and came back with an older copy of its data: every write since the copy is gone. */
const restore = async (server: ZooKeeperServer, backup: string): Promise<void> => {
  await server.kill()
  rmSync(join(server.dataDir, "data"), { recursive: true, force: true })
  cpSync(backup, join(server.dataDir, "data"), { recursive: true })
  await server.start()
}

/**
 * Like restore, and other writers wrote after the loss, before this master's session got back:
 * they worked on the restored data (here on a copy of it served on another port), then the
 * master's server comes back with that data.
 */
const restoreWithOtherWrites = async (server: ZooKeeperServer, backup: string, write: (connectString: string) => Promise<void>): Promise<void> => {
  const side = mkdtempSync(join(tmpdir(), "helios-zk-side-"))
  cleanups.push(() => rmSync(side, { recursive: true, force: true }))
  cpSync(backup, join(side, "data"), { recursive: true })
  const sideServer = await startZooKeeper({ dataDir: side })
  try {
    await write(sideServer.connectString)
  } finally {
    await sideServer.kill()
  }
  await restore(server, join(side, "data"))
}

/**
 * A restored standalone server refuses clients that saw a newer transaction than it holds until
 * its own transaction id passes theirs: other clients' writes bring it there (as on a real
 * ensemble, where the new leader's epoch does).
 */
const writeUntilConnected = async (server: ZooKeeperServer, clients: ReadonlyArray<ZkClient>): Promise<void> => {
  const other = await connect(server)
  await waitFor(
    async () => {
      if (clients.every((c) => c.isConnected)) return true
      await other.create(`/nudge-${Math.random().toString(36).slice(2)}`)
      return undefined
    },
    { timeoutMs: 60_000, intervalMs: 20, what: "the master's session to reconnect to the restored ZooKeeper" },
  )
}

/** The log as given, except that the projection's rebuild (its second subscription) waits for `release`. */
const gatedRebuild = (log: EventLog): { log: EventLog; release: () => void } => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  let subscriptions = 0
  return {
    release,
    log: {
      append: (events, options) => log.append(events, options),
      read: (after, limit) => log.read(after, limit),
      head: () => log.head(),
      readHostStream: (host, after, limit) => log.readHostStream(host, after, limit),
      subscribe: (after, onEvents) => {
        if (subscriptions++ === 0) return log.subscribe(after, onEvents)
        return log.subscribe(after, async (events) => {
          await gate
          await onEvents(events)
        })
      },
      subscribeHostStream: (host, after, onEvents) => log.subscribeHostStream(host, after, onEvents),
      distrustMemory: () => log.distrustMemory?.(),
      close: () => log.close(),
    },
  }
}

const call = async (master: RunningMaster, method: string, path: string) => {
  const res = await fetch(master.url + path, { method })
  return { status: res.status, body: (await res.json()) as any }
}

/** Registers host hN (one command); answers its position. */
const register = async (master: RunningMaster, n: number): Promise<number> => {
  const r = await call(master, "PUT", `/hosts/h${n}?id=agent-${n}`)
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return r.body.position
}

interface Setup {
  readonly server: ZooKeeperServer
  readonly zk: ZkClient
  readonly log: ZooKeeperEventLog
  readonly master: RunningMaster
  readonly release: () => void
  /** The log's last position in the backup, and what the master applied after it. */
  readonly backupPosition: number
  readonly applied: number
  readonly backup: string
}

/** A master applies hosts h1..h3, the data is backed up, then it applies h4..h6. */
const masterAheadOfBackup = async (options: { withSession: boolean; checkIntervalMs?: number }): Promise<Setup> => {
  const server = await startServer()
  const zk = await connect(server)
  const log = await ZooKeeperEventLog.open(zk, { root: "/helios" })
  const gated = gatedRebuild(log)
  const master = await startMaster({
    log: gated.log,
    ...(options.withSession ? { zk, zkRoot: "/helios" } : {}),
    name: "m1",
    port: 0,
    bindAddress: "127.0.0.1",
    housekeepingIntervalMs: 60_000,
    divergenceCheckIntervalMs: options.checkIntervalMs ?? 0, // only the trigger under test
  })
  cleanups.push(async () => {
    gated.release()
    await master.stop()
    await log.close()
  })
  for (const n of [1, 2, 3]) await register(master, n)
  const backupPosition = master.projection.position
  const backup = backUp(server)
  for (const n of [4, 5, 6]) await register(master, n)
  const applied = master.projection.position
  expect(applied).toBeGreaterThan(backupPosition)
  return { server, zk, log, master, release: gated.release, backupPosition, applied, backup }
}

/** The master's read model equals a fresh replay of the whole log. */
const expectProjectionEqualsLog = async (master: RunningMaster, log: EventLog) => {
  const replay = foldReadModel(await log.read(position(0), 100_000))
  expect(master.projection.position).toBe(replay.state.position)
  expect([...master.projection.model.state.hosts.keys()].sort()).toEqual([...replay.state.hosts.keys()].sort())
}

describe("a master whose ZooKeeper lost acknowledged events", () => {
  it("finds the log behind what it applied on reconnecting: /healthz 503 DIVERGED at once, writes 503, says so, rebuilds, OK again at the log's position", async () => {
    const errors = vi.spyOn(console, "error")
    cleanups.push(() => errors.mockRestore())
    const s = await masterAheadOfBackup({ withSession: true })
    expect((await call(s.master, "GET", "/healthz")).status).toBe(200)
    // A live follower of /events (the dashboard, `helios events --follow`): its stream ends when the
    // master diverges, so that it reads the log again from its last position instead of trusting it.
    const followed = await fetch(`${s.master.url}/events?follow=true&after=${s.applied}`)
    expect(followed.status).toBe(200)
    const streamEnded = followed.text().then(() => "ended")

    await restore(s.server, s.backup)
    await writeUntilConnected(s.server, [s.zk])

    const health = await waitFor(async () => {
      const r = await call(s.master, "GET", "/healthz")
      return r.status === 503 ? r : undefined
    })
    expect(health.body).toMatchObject({ status: "DIVERGED", position: s.applied, logPosition: s.backupPosition })
    expect(health.body.reason).toContain(`ends at position ${s.backupPosition}`)
    expect(errors.mock.calls.some((args) => String(args[0]).includes("DIVERGED"))).toBe(true)
    expect(await Promise.race([streamEnded, new Promise((r) => setTimeout(() => r("still open"), 10_000))])).toBe("ended")
    // No decision on the divergent projection is written.
    const refused = await call(s.master, "PUT", "/hosts/h7?id=agent-7")
    expect(refused.status).toBe(503)
    expect(await s.log.head()).toBe(s.backupPosition)

    s.release()
    const ok = await waitFor(async () => {
      const r = await call(s.master, "GET", "/healthz")
      return r.status === 200 ? r : undefined
    })
    expect(ok.body).toEqual({ status: "OK", position: s.backupPosition })
    await expectProjectionEqualsLog(s.master, s.log)
    expect([...s.master.projection.model.state.hosts.keys()].sort()).toEqual(["h1", "h2", "h3"])
    // Healthy again: writes land after the log's end.
    expect(await register(s.master, 7)).toBeGreaterThan(s.backupPosition)
    await expectProjectionEqualsLog(s.master, s.log)
  })

  it("finds another batch at a position it applied (other writers reused the lost positions): DIVERGED, then rebuilt to the log", async () => {
    const s = await masterAheadOfBackup({ withSession: true })
    // Another master's writes take the lost positions and more, before this master reconnects.
    await restoreWithOtherWrites(s.server, s.backup, async (connectString) => {
      const otherZk = await ZkClient.connect(connectString)
      try {
        const other = await ZooKeeperEventLog.open(otherZk, { root: "/helios" })
        const lost = s.applied - s.backupPosition
        for (let i = 0; i < lost + 3; i++) await other.append([hostUp(`x${i}`, `other-${i}`, "another-master")])
        expect(await other.head()).toBeGreaterThan(s.applied)
        await other.close()
      } finally {
        await otherZk.close()
      }
    })
    await writeUntilConnected(s.server, [s.zk])

    const health = await waitFor(async () => {
      const r = await call(s.master, "GET", "/healthz")
      return r.status === 503 ? r : undefined
    })
    expect(health.body).toMatchObject({ status: "DIVERGED", position: s.applied })
    expect(health.body.reason).toContain(`another event at position ${s.applied}`)

    s.release()
    const ok = await waitFor(async () => {
      const r = await call(s.master, "GET", "/healthz")
      return r.status === 200 ? r : undefined
    })
    expect(ok.body.position).toBe(await s.log.head())
    await expectProjectionEqualsLog(s.master, s.log)
    // h4..h6 were lost; the other master's events (facts about unregistered hosts) change no host.
    expect([...s.master.projection.model.state.hosts.keys()].sort()).toEqual(["h1", "h2", "h3"])
  })

  it("finds out on its own append when the log gives out again a position it applied (no reconnect check, no periodic check)", async () => {
    const s = await masterAheadOfBackup({ withSession: false })
    await restore(s.server, s.backup)
    await writeUntilConnected(s.server, [s.zk])
    expect((await call(s.master, "GET", "/healthz")).status).toBe(200) // nothing told it yet

    // The append lands (it is in the log, so it is acknowledged) at a position the master applied.
    const landed = await register(s.master, 9)
    expect(landed).toBe(s.backupPosition + 1)
    const health = await call(s.master, "GET", "/healthz")
    expect(health.status).toBe(503)
    expect(health.body).toMatchObject({ status: "DIVERGED", position: s.applied })
    expect(health.body.reason).toContain(`position ${s.backupPosition + 1}`)
    expect((await call(s.master, "PUT", "/hosts/h10?id=agent-10")).status).toBe(503)

    s.release()
    await waitFor(async () => ((await call(s.master, "GET", "/healthz")).status === 200 ? true : undefined))
    await expectProjectionEqualsLog(s.master, s.log)
    expect([...s.master.projection.model.state.hosts.keys()].sort()).toEqual(["h1", "h2", "h3", "h9"])
  })

  it("its periodic check finds log znodes gone without any reconnect (deleted with a raw client as the simulation)", async () => {
    const s = await masterAheadOfBackup({ withSession: true, checkIntervalMs: 200 })
    const raw = await connect(s.server)
    const paths = zkPaths("/helios")
    for (let p = s.applied; p > s.backupPosition; p--) await raw.remove(paths.log.entry(0, p))
    const health = await waitFor(async () => {
      const r = await call(s.master, "GET", "/healthz")
      return r.status === 503 ? r : undefined
    })
    // The check may run between two of the deletions: the log it saw ends anywhere below what the master applied.
    expect(health.body).toMatchObject({ status: "DIVERGED", position: s.applied })
    expect(health.body.logPosition).toBeGreaterThanOrEqual(s.backupPosition)
    expect(health.body.logPosition).toBeLessThan(s.applied)
    expect(health.body.reason).toContain("periodic check")
    s.release()
    await waitFor(async () => ((await call(s.master, "GET", "/healthz")).status === 200 ? true : undefined))
    await expectProjectionEqualsLog(s.master, s.log)
  })
})
