import type { HostInfoReader } from "../core/host-info.ts"
import type { HostName } from "../core/ids.ts"
import type { HostDetails } from "./responses.ts"

/**
 * What the master serves as a host's details (Helios's HostStatus: hostInfo, agentInfo, labels,
 * environment), from the latest-value facts the agent keeps in its HostInfoStore.
 */
export const hostDetailsFrom =
  (reader: HostInfoReader) =>
  async (host: HostName): Promise<HostDetails | undefined> => {
    const info = await reader.get(host).catch(() => undefined)
    if (info === undefined) return undefined
    const { labels, environment, agentVersion, startTime, uptimeMs, ...hostInfo } = info
    return { hostInfo, agentInfo: { version: agentVersion, startTime, uptime: uptimeMs }, labels, environment }
  }
