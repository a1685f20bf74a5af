import type { HostInfo, HostInfoReader } from "../core/host-info.ts"
import type { ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"

/*
 * Whether each host's agent is up, for the leader's housekeeping, kept current by ZooKeeper watches
 * instead of asked for every host every 2 s: with 1,000 hosts that was 500 `exists` a second
 * forever, on the master and on ZooKeeper, even with nothing changing. A host's answer is read once
 * with an `exists` watch on its up mark and reused until the watch fires (the mark appeared or
 * went) or the session disconnects (watches may then be lost: everything is read again).
 */
export class WatchedHostLiveness implements HostInfoReader {
  private readonly known = new Map<string, boolean>()
  /** Hosts with a watch armed, so a re-read after a disconnect does not stack a second one. */
  private readonly armed = new Set<string>()
  private readonly forget = () => {
    this.known.clear()
    this.armed.clear()
  }

  constructor(
    private readonly zk: ZkClient,
    root: string,
    private readonly reader: HostInfoReader,
    private readonly paths = zkPaths(root),
  ) {
    zk.on("disconnected", this.forget)
    zk.on("expired", this.forget)
  }

  get(host: string): Promise<HostInfo | undefined> {
    return this.reader.get(host)
  }

  async isUp(host: string): Promise<boolean> {
    const known = this.known.get(host)
    if (known !== undefined) return known
    const watch = !this.armed.has(host)
    if (watch) this.armed.add(host)
    let stat: Awaited<ReturnType<ZkClient["exists"]>>
    try {
      stat = await this.zk.exists(
        this.paths.hostUp(host),
        watch
          ? () => {
              this.armed.delete(host)
              this.known.delete(host)
            }
          : undefined,
      )
    } catch (e) {
      if (watch) this.armed.delete(host) // no watch was set
      throw e
    }
    // Keep the answer only while a watch guards it (one armed earlier may have fired meanwhile).
    if (this.armed.has(host)) this.known.set(host, stat !== undefined)
    return stat !== undefined
  }

  close(): void {
    this.zk.off("disconnected", this.forget)
    this.zk.off("expired", this.forget)
  }
}
