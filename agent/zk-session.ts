import type { ZkClient } from "../log/zk-client.ts"
import type { Logger } from "./logger.ts"

/**
 * Logs the ZooKeeper session's changes and calls `onConnected` on every (re)connection, when the
 * agent registers again and retries its queued facts. Returns the unsubscribe.
 */
export const followZkSession = (
  zk: ZkClient,
  root: string | undefined,
  logger: Logger,
  onConnected: () => void,
): (() => void) => {
  const connected = () => {
    logger.log("info", "ZooKeeper connected", { root })
    onConnected()
  }
  const expired = () => logger.log("warn", "ZooKeeper session expired", { root })
  const disconnected = () => logger.log("info", "ZooKeeper disconnected", { root })
  zk.on("connected", connected)
  zk.on("expired", expired)
  zk.on("disconnected", disconnected)
  return () => {
    zk.off("connected", connected)
    zk.off("expired", expired)
    zk.off("disconnected", disconnected)
  }
}
