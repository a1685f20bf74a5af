import type { HostName } from "../core/ids.ts"
import type { ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import type { HostDetails } from "./responses.ts"

/** Reads the latest-value host facts an agent keeps in ZooKeeper (JSON in the host's info node). */
export const zkHostDetails =
  (zk: ZkClient, root: string) =>
  async (host: HostName): Promise<HostDetails | undefined> => {
    const data = await zk.getDataIfExists(zkPaths(root).hostInfo(host)).catch(() => undefined)
    if (!data || data.length === 0) return undefined
    try {
      return JSON.parse(data.toString("utf8")) as HostDetails
    } catch {
      return undefined
    }
  }
