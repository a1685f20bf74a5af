/**
 * The leader's view of which agents are up (master/host-liveness.ts), on a real ZooKeeper: answers
 * follow the up marks as they appear and go, while asking ZooKeeper once per change, not per round.
 */
import { afterAll, describe, expect, it } from "vitest"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { ZK, ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { uniqueRoot, waitFor, zkConnect } from "../test/services.ts"
import { startTestMaster } from "../test/master-fixture.ts"
import { WatchedHostLiveness } from "./host-liveness.ts"

const sessions: ZkClient[] = []
afterAll(async () => {
  for (const s of sessions) await s.close()
})

describe("host liveness from watches", () => {
  it("follows each host's up mark as it appears and goes, with one ZooKeeper read per change", async () => {
    const root = uniqueRoot("liveness")
    const paths = zkPaths(root)
    const zk = await ZkClient.connect(zkConnect())
    const agentSession = await ZkClient.connect(zkConnect())
    sessions.push(zk, agentSession)
    let reads = 0
    const counted = new Proxy(zk, {
      get: (t, p, r) => (p === "exists" ? (...a: Parameters<ZkClient["exists"]>) => (reads++, t.exists(...a)) : Reflect.get(t, p, r)),
    })
    const liveness = new WatchedHostLiveness(counted, root, new ZkHostInfoStore(zk, root))
    const hosts = ["a", "b", "c"]
    for (const h of hosts) await zk.ensurePath(paths.host(h))

    for (let round = 0; round < 5; round++) expect(await Promise.all(hosts.map((h) => liveness.isUp(h)))).toEqual([false, false, false])
    expect(reads).toBe(3)

    // Host b's agent marks it up (an ephemeral node of the agent's session): seen, for one more read.
    await agentSession.create(paths.hostUp("b"), Buffer.from("{}"), ZK.CreateMode.EPHEMERAL)
    await waitFor(async () => ((await liveness.isUp("b")) ? true : undefined))
    for (let round = 0; round < 5; round++) expect(await Promise.all(hosts.map((h) => liveness.isUp(h)))).toEqual([false, true, false])
    expect(reads).toBe(4)

    // The agent's session ends: its mark goes, and b is down again.
    await agentSession.close()
    await waitFor(async () => ((await liveness.isUp("b")) ? undefined : true))
    expect(await Promise.all(hosts.map((h) => liveness.isUp(h)))).toEqual([false, false, false])
    expect(reads).toBe(5)
    liveness.close()
  })

  it("makes the leader record a host going UP and DOWN as its agent's session comes and goes", async () => {
    const m = await startTestMaster(uniqueRoot("liveness-master"), "liveness-m")
    try {
      expect((await m.call("PUT", "/hosts/live-h1?id=agent-1")).status).toBe(200)
      const agentSession = await ZkClient.connect(zkConnect())
      sessions.push(agentSession)
      await agentSession.ensurePath(zkPaths(m.root).host("live-h1"))
      await agentSession.create(zkPaths(m.root).hostUp("live-h1"), Buffer.from("{}"), ZK.CreateMode.EPHEMERAL)
      const statusIs = (want: string) => async () => ((await m.call("GET", "/hosts/live-h1/status")).body?.status === want ? true : undefined)
      await waitFor(statusIs("UP"), { what: "UP" })
      await agentSession.close()
      await waitFor(statusIs("DOWN"), { what: "DOWN" })
      const events = await m.log.readHostStream("live-h1" as never, 0)
      expect(events.map((e) => e.envelope.event._tag)).toEqual(["HostRegistered", "HostWentUp", "HostWentDown"])
    } finally {
      await m.stop()
    }
  })
})
