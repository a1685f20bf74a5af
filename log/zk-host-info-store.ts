import { randomBytes } from "node:crypto"
import { HostHeldByAnotherAgent, decodeHostInfo, type HostInfo, type HostInfoStore } from "../core/host-info.ts"
import { ZK, zkCode, type ZkClient } from "./zk-client.ts"
import { zkPaths } from "./zk-paths.ts"

interface UpMark {
  agentId: string
  /** Unique per store instance (agent process run): tells our mark from a dead predecessor's. */
  instance: string
  pid: number
  since: number
}

const encodeHostInfo = (info: HostInfo): Buffer => Buffer.from(JSON.stringify(info))

/** ZooKeeper: `<root>/hosts/<h>/info` holds the JSON, `<root>/hosts/<h>/up` is ephemeral. */
export class ZkHostInfoStore implements HostInfoStore {
  private readonly paths
  private readonly instance = randomBytes(8).toString("hex")

  constructor(
    private readonly zk: ZkClient,
    root = "/helios",
  ) {
    this.paths = zkPaths(root)
  }

  async put(host: string, info: HostInfo): Promise<void> {
    const path = this.paths.hostInfo(host)
    try {
      await this.zk.setData(path, encodeHostInfo(info))
    } catch (e) {
      if (zkCode(e) !== ZK.Exception.NO_NODE) throw e
      await this.zk.ensurePath(path)
      await this.zk.setData(path, encodeHostInfo(info))
    }
  }

  async get(host: string): Promise<HostInfo | undefined> {
    const data = await this.zk.getDataIfExists(this.paths.hostInfo(host))
    return data === undefined || data.length === 0 ? undefined : decodeHostInfo(data)
  }

  async isUp(host: string): Promise<boolean> {
    return (await this.zk.exists(this.paths.hostUp(host))) !== undefined
  }

  async markUp(host: string, agentId: string): Promise<boolean> {
    const path = this.paths.hostUp(host)
    const mark: UpMark = { agentId, instance: this.instance, pid: process.pid, since: Date.now() }
    await this.zk.ensurePath(this.paths.host(host))
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.zk.create(path, Buffer.from(JSON.stringify(mark)), ZK.CreateMode.EPHEMERAL)
        return true
      } catch (e) {
        if (zkCode(e) !== ZK.Exception.NODE_EXISTS) throw e
      }
      const data = await this.zk.getDataIfExists(path)
      if (data === undefined) continue // vanished meanwhile: create again
      let held: Partial<UpMark> = {}
      try {
        held = JSON.parse(data.toString("utf8")) as Partial<UpMark>
      } catch {
        // unreadable: treat as someone else's stale mark below
      }
      if (held.instance === this.instance) return false
      if (held.agentId !== undefined && held.agentId !== agentId) throw new HostHeldByAnotherAgent(host, held.agentId)
      // Our own agent id from an earlier run (killed; its session not expired yet): take it over.
      try {
        await this.zk.remove(path)
      } catch (e) {
        if (zkCode(e) !== ZK.Exception.NO_NODE) throw e
      }
    }
    throw new Error(`could not create ${path}`)
  }

  async markDown(host: string): Promise<void> {
    const path = this.paths.hostUp(host)
    const data = await this.zk.getDataIfExists(path)
    if (data === undefined) return
    try {
      if ((JSON.parse(data.toString("utf8")) as Partial<UpMark>).instance !== this.instance) return
    } catch {
      return
    }
    try {
      await this.zk.remove(path)
    } catch (e) {
      if (zkCode(e) !== ZK.Exception.NO_NODE) throw e
    }
  }

  async close(): Promise<void> {}
}

