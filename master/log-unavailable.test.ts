/**
 * /healthz while ZooKeeper has lost its majority (issue 17): the master keeps serving reads from the
 * state it last applied (possibly stale) and refuses writes, so it must not say OK. On a real
 * three-server ensemble (test/zk-ensemble.ts), two servers killed -9: /healthz answers 503
 * LOG_UNAVAILABLE once the connection has been lost longer than the grace; reads still answer; the
 * leader's housekeeping says once on stderr that it cannot tell whether it leads (not every round);
 * with the servers back it is OK again on its own.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { uniqueRoot, waitFor } from "../test/services.ts"
import { startEnsemble, type ZooKeeperEnsemble } from "../test/zk-ensemble.ts"
import { startMaster, type RunningMaster } from "./master.ts"

const GRACE_MS = 2_000
const aJobInput = (o: { id: string }) => ({ image: "helios-test/web:latest", ...o })
let ensemble: ZooKeeperEnsemble | undefined
let zk: ZkClient | undefined
let log: ZooKeeperEventLog | undefined
let master: RunningMaster | undefined

beforeAll(async () => {
  ensemble = await startEnsemble()
  zk = await ZkClient.connect(ensemble.connectString, { sessionTimeoutMs: 10_000 }, 30_000)
  const root = uniqueRoot("log-unavailable")
  log = await ZooKeeperEventLog.open(zk, { root })
  master = await startMaster({ log, zk, zkRoot: root, name: "m-majority", port: 0, bindAddress: "127.0.0.1", hostInfo: new ZkHostInfoStore(zk, root), logUnavailableGraceMs: GRACE_MS, housekeepingIntervalMs: 300 })
}, 120_000)
afterAll(async () => {
  await master?.stop().catch(() => {})
  await log?.close().catch(() => {})
  await zk?.close()
  await ensemble?.destroy()
}, 60_000)

const call = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(master!.url + path, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  })
  return { status: res.status, body: (await res.json()) as Record<string, any> }
}

describe("ZooKeeper majority lost", () => {
  it("/healthz 503 LOG_UNAVAILABLE after the grace, reads still served, OK again once the majority is back", async () => {
    const created = await call("POST", "/jobs", aJobInput({ id: "majority:v1" }))
    expect(created.status).toBe(200)
    expect((await call("GET", "/healthz")).body).toEqual({ status: "OK", position: created.body.position })

    const stderr = vi.spyOn(console, "error")
    const lines = (pattern: RegExp) => stderr.mock.calls.map((args) => String(args[0])).filter((line) => pattern.test(line))
    const said = (pattern: RegExp) => lines(pattern).length
    const [a, b] = ensemble!.members.filter((m) => m.id !== 3)
    const lostAt = Date.now()
    await Promise.all([a!.kill(), b!.kill()])

    const health = await waitFor(
      async () => {
        const r = await call("GET", "/healthz")
        return r.status === 503 ? r : undefined
      },
      { timeoutMs: 30_000, intervalMs: 200, what: "/healthz to answer 503 with the majority lost" },
    )
    expect(Date.now() - lostAt).toBeGreaterThanOrEqual(GRACE_MS)
    expect(health.body).toMatchObject({ status: "LOG_UNAVAILABLE", position: created.body.position })
    expect(health.body.unreachableForMs).toBeGreaterThan(GRACE_MS)
    expect(health.body.message).toMatch(/ZooKeeper unreachable .* may be stale; writes answer 503/)

    // Reads go on from the state it has; writes are refused.
    const read = await call("GET", "/jobs")
    expect(read.status).toBe(200)
    expect(Object.keys(read.body)).toEqual([created.body.id])
    expect((await call("POST", "/jobs", aJobInput({ id: "majority:v2" }))).status).toBe(503)

    // Many housekeeping rounds (every 300 ms) have failed by now: each reason said once (the
    // client may first report the connection lost, then ZooKeeper unreachable), not once a round.
    const failures = lines(/^helios-master: leader election failed: .*(unreachable|connection lost)/)
    expect(failures.length).toBeGreaterThanOrEqual(1)
    expect(failures.length).toBeLessThanOrEqual(3)
    expect(new Set(failures).size).toBe(failures.length)

    await Promise.all([a!.start(), b!.start()])
    await waitFor(async () => ((await call("GET", "/healthz")).status === 200 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: "/healthz OK again with the majority back",
    })
    expect((await call("POST", "/jobs", aJobInput({ id: "majority:v3" }))).status).toBe(200)
    await waitFor(() => (said(/^helios-master: leader election succeeded again/) >= 1 ? true : undefined), { what: "the recovery said" })
    stderr.mockRestore()
  }, 150_000)
})
