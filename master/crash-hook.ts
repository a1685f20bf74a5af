import { existsSync, rmSync } from "node:fs"
import type { ZkClient } from "../log/zk-client.ts"

/**
 * Test-only fault injection (test/nemesis.ts). With HELIOS_TEST_CRASH_FILE=PATH set, a master that
 * sends a ZooKeeper multi (an append) while PATH exists removes PATH and kills itself (SIGKILL, no
 * cleanup) right after the request has been written to the socket, before any reply can arrive:
 * the append may land with nobody left to acknowledge it, and the client has to retry elsewhere.
 * The test arms a crash by creating the file. Unset (production): nothing is installed.
 */
export const installCrashHook = (zk: ZkClient, env: NodeJS.ProcessEnv = process.env): void => {
  const trigger = env["HELIOS_TEST_CRASH_FILE"]
  if (trigger === undefined || trigger === "") return
  const multi = zk.multi.bind(zk)
  zk.multi = (build) => {
    const connected = zk.isConnected // a multi while disconnected is refused without being sent
    const result = multi(build)
    if (connected && existsSync(trigger)) {
      rmSync(trigger, { force: true })
      console.log(`helios-master: HELIOS_TEST_CRASH_FILE: killing myself right after sending a multi`)
      // The client flushes its queue on the next tick; one macrotask later the request is in the kernel.
      setImmediate(() => process.kill(process.pid, "SIGKILL"))
    }
    return result
  }
}
