/**
 * ZooKeeper helpers shared by the benchmarks: a private fsync'ing server, a ZkClient that counts
 * its round trips, the raw baseline (sequential znodes read back with getChildren + getData), and
 * the server's own figures (mntr).
 */
import type { EventLog } from "../core/event-log.ts"
import type { StoredEvent } from "../core/events.ts"
import { mapLimit } from "../log/map-limit.ts"
import { position } from "../core/ids.ts"
import { ZK, type ZkClient } from "../log/zk-client.ts"
import { fourLetterWord, startZooKeeper, type ZooKeeperServer } from "../test/zookeeper.ts"

/** Production-like: the transaction log is fsync'ed (ZooKeeper's default), more heap than tests get. */
export const startBenchZooKeeper = (maxHeap = "1g"): Promise<ZooKeeperServer> => startZooKeeper({ fsync: true, maxHeap })

/** ZkClient methods that are one round trip each (the *IfExists helpers call these). */
const ROUND_TRIPS = new Set(["create", "getData", "setData", "exists", "getChildren", "remove", "multi", "ensurePath"])

export interface CountingClient {
  readonly zk: ZkClient
  readonly counts: Record<string, number>
  reset(): void
  total(): number
}

/** The same session, counting the round trips made through it (by method). */
export const counting = (target: ZkClient): CountingClient => {
  const counts: Record<string, number> = {}
  const zk = new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver)
      if (typeof prop === "string" && ROUND_TRIPS.has(prop) && typeof value === "function")
        return function (this: unknown, ...args: unknown[]) {
          counts[prop] = (counts[prop] ?? 0) + 1
          return (value as (...a: unknown[]) => unknown).apply(this, args)
        }
      return value
    },
  })
  return {
    zk,
    counts,
    reset: () => {
      for (const k of Object.keys(counts)) delete counts[k]
    },
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
  }
}


/** The raw baseline's append: one PERSISTENT_SEQUENTIAL znode per event under `dir`. */
export const rawCreate = (zk: ZkClient, dir: string, data: Buffer): Promise<string> =>
  zk.create(`${dir}/e-`, data, ZK.CreateMode.PERSISTENT_SEQUENTIAL)

/** The raw baseline's catch-up: list `dir`, then getData every child (`inFlight` at a time, like the log's reader). */
export const rawReadAll = async (zk: ZkClient, dir: string, inFlight = 256, limit = Number.POSITIVE_INFINITY): Promise<Buffer[]> => {
  const names = (await zk.getChildren(dir)).sort().slice(0, limit)
  return mapLimit(names, inFlight, async (name) => (await zk.getData(`${dir}/${name}`)).data)
}

/** Reads a whole log from position 0 in chunks of `chunk`, as a cold-starting projection does. */
export const readAllEvents = async (log: EventLog, chunk = 10_000, onEvents?: (events: ReadonlyArray<StoredEvent>) => void): Promise<number> => {
  let after = 0
  let n = 0
  for (;;) {
    const events = await log.read(position(after), chunk)
    if (events.length === 0) return n
    onEvents?.(events)
    n += events.length
    after = events[events.length - 1]!.position
  }
}

/** The server's znode count and approximate data size (mntr). */
export const zkFigures = async (server: ZooKeeperServer): Promise<{ znodes: number; dataBytes: number }> => {
  const mntr = await fourLetterWord(server.port, "mntr", 5_000)
  const get = (key: string) => Number(new RegExp(`^${key}\\s+(\\d+)`, "m").exec(mntr)?.[1] ?? Number.NaN)
  return { znodes: get("zk_znode_count"), dataBytes: get("zk_approximate_data_size") }
}
