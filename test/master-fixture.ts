import { ZkClient, type ZkClientOptions } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { startMaster, type MasterOptions, type RunningMaster } from "../master/master.ts"
import { Principals } from "../master/auth.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { zkConnect } from "./services.ts"

export interface TestMaster extends RunningMaster {
  readonly log: ZooKeeperEventLog
  readonly zk: ZkClient
  /** The ZooKeeper chroot of this master's cluster. */
  readonly root: string
  /** fetch against this master, JSON in and out. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>
}

/** Principals (master/auth.ts) from plain entries; throws on a bad one. For tests outside master/. */
export const principalsOf = (entries: Parameters<typeof Principals.of>[0]): Principals => {
  const p = Principals.of(entries)
  if (p instanceof Error) throw p
  return p
}

/** A real master on the run's ZooKeeper under `root`, listening on a free loopback port; `options` add to or override the defaults. */
export const startTestMaster = async (
  root: string,
  name: string,
  connect = zkConnect(),
  options: Partial<Omit<MasterOptions, "log" | "zk" | "zkRoot">> & { readonly zkOptions?: ZkClientOptions } = {},
): Promise<TestMaster> => {
  const { zkOptions, ...masterOptions } = options
  const zk = await ZkClient.connect(connect, zkOptions)
  const log = await ZooKeeperEventLog.open(zk, { root })
  const master = await startMaster({ log, zk, zkRoot: root, name, port: 0, bindAddress: "127.0.0.1", hostInfo: new ZkHostInfoStore(zk, root), housekeepingIntervalMs: 500, ...masterOptions })
  return {
    ...master,
    log,
    zk,
    root,
    call: async (method, path, body, headers = {}) => {
      const res = await fetch(master.url + path, {
        method,
        headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
        ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      })
      const text = await res.text()
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers }
    },
    stop: async () => {
      await master.stop()
      await log.close()
      await zk.close()
    },
  }
}
