/**
 * ZooKeeper accounting for bench/fleet.ts: a ZkClient that counts its requests by kind (and the
 * `multi`s ZooKeeper refused, i.e. claim collisions and version conflicts), and the server's own
 * counters (srvr's zxid: one per write transaction; mntr's znode count, fsyncs and update count).
 */
import { readFileSync } from "node:fs"
import type { ZkClient } from "../log/zk-client.ts"
import { fourLetterWord } from "../test/zookeeper.ts"

export const WRITE_OPS = ["create", "setData", "remove", "multi", "ensurePath"] as const
export const READ_OPS = ["getData", "getChildren", "exists"] as const
const COUNTED = new Set<string>([...WRITE_OPS, ...READ_OPS])

export type OpCounts = Record<string, number>

/** The same session, counting requests made through it into `counts` (shared by many wrappers). */
export const countingZk = (target: ZkClient, counts: OpCounts): ZkClient =>
  new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown
      if (typeof prop === "string" && COUNTED.has(prop) && typeof value === "function")
        return function (this: unknown, ...args: unknown[]) {
          counts[prop] = (counts[prop] ?? 0) + 1
          const r = (value as (...a: unknown[]) => unknown).apply(this, args)
          if (prop === "multi")
            (r as Promise<unknown>).then(
              (failure) => {
                if (failure !== undefined) counts["multiRefused"] = (counts["multiRefused"] ?? 0) + 1
              },
              () => {
                counts["multiLost"] = (counts["multiLost"] ?? 0) + 1
              },
            )
          return r
        }
      return value
    },
  })

export const sumOf = (c: OpCounts, keys: ReadonlyArray<string>): number => keys.reduce((a, k) => a + (c[k] ?? 0), 0)

export interface ServerCounters {
  /** Write transactions so far (the zxid's counter part; a `multi` is one transaction). */
  readonly txns: number
  readonly znodes: number
  /** Group commits of the transaction log (each one fsync). */
  readonly fsyncs: number
  /** Write requests served (mntr zk_cnt_updatelatency). */
  readonly updates: number
  readonly packetsReceived: number
  readonly packetsSent: number
}

export const serverCounters = async (port: number): Promise<ServerCounters> => {
  const [srvr, mntr] = [await fourLetterWord(port, "srvr", 5_000), await fourLetterWord(port, "mntr", 5_000)]
  const zxid = /Zxid:\s*0x([0-9a-f]+)/i.exec(srvr)?.[1] ?? "0"
  const get = (key: string) => Number(new RegExp(`^${key}\\s+(\\d+)`, "m").exec(mntr)?.[1] ?? Number.NaN)
  return {
    // The low 32 bits count transactions within an epoch (a standalone server keeps one epoch).
    txns: Number(BigInt(`0x${zxid}`) & 0xffffffffn),
    znodes: get("zk_znode_count"),
    fsyncs: get("zk_cnt_fsynctime"),
    updates: get("zk_cnt_updatelatency"),
    packetsReceived: get("zk_packets_received"),
    packetsSent: get("zk_packets_sent"),
  }
}

export const counterDelta = (a: ServerCounters, b: ServerCounters): ServerCounters => ({
  txns: b.txns - a.txns,
  znodes: b.znodes - a.znodes,
  fsyncs: b.fsyncs - a.fsyncs,
  updates: b.updates - a.updates,
  packetsReceived: b.packetsReceived - a.packetsReceived,
  packetsSent: b.packetsSent - a.packetsSent,
})

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 1/100 s; NaN where unreadable). */
export const processCpuSeconds = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}
