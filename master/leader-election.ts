import { ZK, type ZkClient } from "../log/zk-client.ts"
import type { ZkPaths } from "../log/zk-paths.ts"

/*
 * Which master does the background work (housekeeping): the one holding the lowest node under
 * /election. Each master takes an ephemeral sequential node there when it first asks, and again if
 * its node went (a session expiry); without ZooKeeper (solo) this master always leads.
 */
export class LeaderElection {
  private node: string | undefined

  constructor(
    private readonly zk: ZkClient | undefined,
    private readonly paths: ZkPaths,
    private readonly name: string,
  ) {}

  async isLeader(): Promise<boolean> {
    const zk = this.zk
    if (!zk) return true
    await zk.ensurePath(this.paths.election)
    if (this.node === undefined || !(await zk.exists(this.node)))
      this.node = await zk.create(`${this.paths.election}/m-`, Buffer.from(this.name), ZK.CreateMode.EPHEMERAL_SEQUENTIAL)
    const children = (await zk.getChildren(this.paths.election)).sort()
    return `${this.paths.election}/${children[0]}` === this.node
  }

  /** Leaves the election (on stop), so another master leads at once rather than after our session ends. */
  async resign(): Promise<void> {
    if (this.zk && this.node) await this.zk.remove(this.node).catch(() => {})
  }
}
