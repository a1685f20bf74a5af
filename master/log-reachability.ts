import type { ZkClient } from "../log/zk-client.ts"

/*
 * Whether this master reaches its log (ZooKeeper). While it does not, reads are served from the
 * state it last applied, which may be behind what other clients wrote (and acknowledged) before the
 * outage, and every write answers 503: /healthz says so (503 LOG_UNAVAILABLE) once the connection
 * has been lost for longer than a short grace, so a leader election or a move to another server (a
 * second or two) does not flap it. ZooKeeper closes its clients' connections when it loses its
 * majority, so a lost majority is seen here as a lost connection.
 */

/** How long the connection may be lost before /healthz says so; default. */
export const DEFAULT_LOG_UNAVAILABLE_GRACE_MS = 3_000

export interface LogOutage {
  /** When the connection was lost (epoch ms). */
  readonly since: number
  readonly forMs: number
}

export class LogReachability {
  private lostAt: number | undefined
  private readonly onConnected = () => (this.lostAt = undefined)
  private readonly onDisconnected = () => (this.lostAt ??= this.now())

  constructor(
    private readonly zk: Pick<ZkClient, "on" | "off" | "isConnected"> | undefined,
    private readonly now: () => number = Date.now,
    private readonly graceMs = DEFAULT_LOG_UNAVAILABLE_GRACE_MS,
  ) {
    if (!zk) return
    if (!zk.isConnected) this.lostAt = now()
    zk.on("connected", this.onConnected)
    zk.on("disconnected", this.onDisconnected)
  }

  /** The current outage once it has lasted longer than the grace; undefined while the log is reached. */
  outage(): LogOutage | undefined {
    if (this.lostAt === undefined) return undefined
    const forMs = this.now() - this.lostAt
    return forMs > this.graceMs ? { since: this.lostAt, forMs } : undefined
  }

  close(): void {
    this.zk?.off("connected", this.onConnected)
    this.zk?.off("disconnected", this.onDisconnected)
  }
}
