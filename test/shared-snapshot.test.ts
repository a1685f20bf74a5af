/**
 * The masters' shared snapshot on a real ZooKeeper (log/zk-shared-snapshot.ts): the leader shares
 * its read model beside the log; a master with no snapshot of its own starts from it and reads only
 * the log after it, with the same answers as a master that read the whole log; a damaged one is
 * said and ignored (the whole log is read instead).
 */
import { afterAll, describe, expect, it, vi } from "vitest"
import type { EventLog } from "../core/event-log.ts"
import { ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { generateWorkload } from "../bench/workload.ts"
import { uniqueRoot, waitFor, zkConnect } from "./services.ts"

const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

/** A master on `root` whose log records where its projection subscribed from. */
const start = async (root: string, options: { share?: boolean } = {}) => {
  const zk = await ZkClient.connect(zkConnect())
  cleanups.push(() => zk.close())
  const log = await ZooKeeperEventLog.open(zk, { root })
  const subscribedFrom: number[] = []
  const counted = new Proxy(log, {
    get(target, key) {
      if (key === "subscribe")
        return (after: number, ...rest: unknown[]) => {
          subscribedFrom.push(after)
          return (target.subscribe as (...a: unknown[]) => unknown)(after, ...rest)
        }
      const value = Reflect.get(target, key, target) as unknown
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  }) as EventLog
  const master: RunningMaster = await startMaster({
    log: counted,
    zk,
    zkRoot: root,
    name: `m-${Math.random().toString(36).slice(2, 8)}`,
    port: 0,
    bindAddress: "127.0.0.1",
    housekeepingIntervalMs: 100,
    packIntervalMs: options.share ? 100 : 0,
    snapshotEveryEvents: 200,
  })
  cleanups.push(() => master.stop())
  const get = async (path: string) => (await fetch(master.url + path)).json()
  return { master, log, zk, subscribedFrom, get }
}

/** What a user sees of the fleet: jobs, hosts, every job's status, one job's history. */
const answers = async (get: (path: string) => Promise<unknown>, jobIds: ReadonlyArray<string>) => ({
  jobs: await get("/jobs"),
  hosts: await get("/hosts"),
  statuses: await Promise.all(jobIds.map((id) => get(`/jobs/${id}/status`))),
  history: await get(`/history/jobs/${jobIds[0]}`),
})

describe("the masters' shared snapshot", () => {
  it("a master with no snapshot of its own starts from the one the leader shared, reads only the log after it, and answers as one that read the whole log; a damaged one is ignored", async () => {
    const root = uniqueRoot("shared-snapshot")
    const { events, batches } = generateWorkload(1_500, { hosts: 20, seed: 11 })
    const writer = await ZkClient.connect(zkConnect())
    cleanups.push(() => writer.close())
    const log = await ZooKeeperEventLog.open(writer, { root })
    const append = async (from: number, to: number) => {
      for (const [first, count] of batches) if (first > from && first <= to) await log.append(events.slice(first - 1, first - 1 + count).map((e) => e.envelope))
    }
    await append(0, 1_000)
    const leader = await start(root, { share: true })
    // The leader shares its model once it leads and enough events came (200 here).
    const sharedPosition = async () => {
      const p = await log.sharedSnapshots.position()
      return p !== undefined && p > 0 ? p : undefined
    }
    expect(await waitFor(sharedPosition, { timeoutMs: 30_000, what: "a shared snapshot" })).toBeGreaterThan(900)
    await append(1_000, 1_500)
    const head = Number(await log.head())
    await waitFor(() => (leader.master.projection.position >= head ? true : undefined), { timeoutMs: 30_000 })
    const jobIds = [...leader.master.projection.model.state.jobs.keys()].slice(0, 5)
    expect(jobIds.length).toBeGreaterThan(0)
    const expected = await answers(leader.get, jobIds)
    // Stopped (a share under way finishes first), so that the shared snapshot stays where it is now.
    await leader.master.stop()
    const sharedAt = (await sharedPosition())!

    const fresh = await start(root)
    expect(fresh.subscribedFrom[0], "where the new master's projection started").toBe(sharedAt)
    expect(fresh.master.projection.position).toBe(head)
    expect(await answers(fresh.get, jobIds)).toEqual(expected)

    // Damage a chunk: its digest no longer matches, so it is said and ignored, and the whole log is read.
    const chunks = await writer.getChildren(zkPaths(root).sharedSnapshotChunks)
    await writer.setData(`${zkPaths(root).sharedSnapshotChunks}/${chunks[0]}`, Buffer.from("not a snapshot"))
    const said = vi.spyOn(console, "error")
    try {
      const careful = await start(root)
      expect(said.mock.calls.some(([line]) => String(line).includes("ignoring the shared snapshot") && String(line).includes("digest"))).toBe(true)
      expect(careful.subscribedFrom[0]).toBe(0)
      expect(await answers(careful.get, jobIds)).toEqual(expected)
    } finally {
      said.mockRestore()
    }
  })
})
