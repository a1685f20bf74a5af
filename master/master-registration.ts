import { ZK, zkCode, type ZkClient } from "../log/zk-client.ts"
import type { ZkPaths } from "../log/zk-paths.ts"
import { failureText, RepeatedFailureLog } from "./failure-log.ts"

/** What the registration uses of a ZooKeeper session. */
export type RegistrationZk = Pick<ZkClient, "on" | "off" | "isConnected" | "ensurePath" | "create" | "exists" | "remove" | "getChildrenIfExists">

/*
 * This master's entry under /masters in ZooKeeper: an ephemeral node named for the master and
 * holding the URL where agents relay their facts (agent/master-relay.ts reads them; `helios masters`
 * lists the names). Ephemeral, so it goes with our session; written again once ZooKeeper is reached
 * after a session expiry. A write that fails there (ZooKeeper gone again, a timeout) is said on
 * stderr and tried again at the next reconnect, never an unhandled rejection.
 *
 * An entry found already there is left by an earlier run of this master (killed, restarted within
 * its session timeout) or is our own: it is watched, and written again when it goes with that
 * session, so a restarted master does not drop out of /masters.
 *
 * Without ZooKeeper (solo) there is one master, this one, and nothing to announce.
 */
export class MasterRegistration {
  private url: string | undefined
  private stopped = false
  /** Whether our entry is in place for the current session, as far as we know. */
  private announced = false
  private writing = false
  /** Asked to write again while a write was going on. */
  private again = false
  private readonly onExpired = () => {
    this.announced = false
    if (this.zk?.isConnected) this.rewrite()
  }
  private readonly onConnected = () => {
    if (!this.announced) this.rewrite()
  }
  /** Our entry was removed or changed (an earlier run's session ended): write ours again. */
  private readonly onEntryChanged = () => {
    this.announced = false
    if (this.zk?.isConnected) this.rewrite()
  }

  constructor(
    private readonly zk: RegistrationZk | undefined,
    private readonly paths: ZkPaths,
    private readonly name: string,
    private readonly failures = new RepeatedFailureLog(),
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
    this.zk.on("expired", this.onExpired)
    this.zk.on("connected", this.onConnected)
  }

  stopReannouncing(): void {
    this.stopped = true
    this.zk?.off("expired", this.onExpired)
    this.zk?.off("connected", this.onConnected)
  }

  /** Removes our entry: the last step of a stop, once we no longer serve. */
  async withdraw(): Promise<void> {
    await this.zk?.remove(this.paths.master(this.name)).catch(() => {})
  }

  /** Writes the entry again in the background; a failure is said and left to the next reconnect. */
  private rewrite(): void {
    if (this.stopped) return
    if (this.writing) {
      this.again = true
      return
    }
    this.writing = true
    const task = `announcing this master in ZooKeeper (${this.paths.master(this.name)})`
    this.write()
      .then(
        () => this.failures.succeeded(task),
        (error: unknown) => this.failures.failed(task, failureText(error), "tried again at the next reconnect"),
      )
      .finally(() => {
        this.writing = false
        if (this.again) {
          this.again = false
          if (!this.announced) this.rewrite()
        }
      })
  }

  private async write(): Promise<void> {
    const zk = this.zk
    if (!zk || this.url === undefined || this.stopped) return
    const path = this.paths.master(this.name)
    await zk.ensurePath(this.paths.masters)
    try {
      await zk.create(path, Buffer.from(this.url), ZK.CreateMode.EPHEMERAL)
    } catch (error) {
      if (zkCode(error) !== ZK.Exception.NODE_EXISTS) throw error
    }
    // Armed once per path and session (the client keeps one watcher per function).
    if ((await zk.exists(path, this.onEntryChanged)) === undefined) throw new Error(`${path} went away as it was written`)
    this.announced = true
  }
}
