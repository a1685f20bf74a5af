/**
 * Reads every znode of a cluster's global log straight from ZooKeeper, for test/log-checker.ts:
 * not through EventLog.read (which stops at the first hole and flattens batches), so holes,
 * orphan markers and batch ids stay visible.
 */
import { Result } from "effect"
import { decodeBatch } from "../core/codec.ts"
import { mapLimit } from "../log/map-limit.ts"
import type { ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import type { LogEntry } from "./log-checker.ts"

export const readWholeLog = async (zk: ZkClient, root: string): Promise<LogEntry[]> => {
  const chain = zkPaths(root).log
  // What the ensemble acknowledged, not what a lagging follower has applied.
  await zk.sync(chain.base)
  const segments = (await zk.getChildrenIfExists(chain.base)).sort()
  const entries: LogEntry[] = []
  for (const segment of segments) {
    const base = `${chain.base}/${segment}`
    const names = await zk.getChildrenIfExists(base)
    const datas = await mapLimit(names, 64, async (name) => (await zk.getData(`${base}/${name}`)).data)
    names.forEach((name, i) => {
      const position = Number(name)
      const data = datas[i]!
      if (data.length === 0) return entries.push({ position })
      const batch = decodeBatch(data)
      if (Result.isFailure(batch)) throw new Error(`log position ${position} does not decode: ${batch.failure.reason}`)
      entries.push({ position, batch: batch.success })
    })
  }
  return entries.sort((a, b) => a.position - b.position)
}
