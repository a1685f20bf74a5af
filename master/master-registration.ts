import { ZK, type ZkClient } from "../log/zk-client.ts"
import type { ZkPaths } from "../log/zk-paths.ts"

/*
 * This master's entry under /masters in ZooKeeper: an ephemeral node named for the master and
 * holding the URL where agents relay their facts (agent/master-relay.ts reads them; `helios masters`
 * lists the names). Ephemeral, so it goes with our session; announced again after a session expiry.
 * Without ZooKeeper (solo) there is one master, this one, and nothing to announce.
 */
export class MasterRegistration {
  private readonly reannounce = () => void this.zk?.waitConnected(30_000).then(() => this.write(), () => {})
  private url: string | undefined

  constructor(
    private readonly zk: ZkClient | undefined,
    private readonly paths: ZkPaths,
    private readonly name: string,
  ) {}

  /** Names of the masters that are up, sorted. */
  async masters(): Promise<string[]> {
    return this.zk ? (await this.zk.getChildrenIfExists(this.paths.masters)).sort() : [this.name]
  }

  /** Announces this master at `url`, now and after every session expiry until `stopReannouncing`. */
  async announce(url: string): Promise<void> {
    if (!this.zk) return
    this.url = url
    await this.write()
    this.zk.on("expired", this.reannounce)
  }

  stopReannouncing(): void {
    this.zk?.off("expired", this.reannounce)
  }

  /** Removes our entry: the last step of a stop, once we no longer serve. */
  async withdraw(): Promise<void> {
    await this.zk?.remove(this.paths.master(this.name)).catch(() => {})
  }

  private async write(): Promise<void> {
    if (!this.zk || this.url === undefined) return
    await this.zk.ensurePath(this.paths.masters)
    await this.zk.create(this.paths.master(this.name), Buffer.from(this.url), ZK.CreateMode.EPHEMERAL).catch(() => {})
  }
}
