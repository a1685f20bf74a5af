/**
 * Issue 13's attack on the agent: a deployment that reached the log without a master's checks (a
 * forged event, a master with a looser policy) is refused by the agent's own container policy.
 * The rest of the security suite is master/security.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { FAST_IN_MEMORY, deploy, lastTask } from "../test/agent-helpers.ts"
import { envelope, host as hostName } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot, waitFor } from "../test/services.ts"
import { startAgent } from "./agent.ts"
import { MemoryRuntime } from "./memory-runtime.ts"

const cleanups: Array<() => Promise<unknown> | unknown> = []
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})
const master = async (name: string): Promise<TestMaster> => {
  const m = await startTestMaster(uniqueRoot(name), name)
  cleanups.push(() => m.stop())
  return m
}

describe("security (issue 13), the agent", () => {
  it("a forged deployment (appended to the log without a master) of a job mounting / is refused by the agent: FAILED naming the flag, no container", async () => {
    const m = await master("sec-forged")
    const dir = mkdtempSync(join(tmpdir(), "helios-sec-forged-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const h = hostName("sec-forged-h1")
    const runtime = new MemoryRuntime({ localImages: ["busybox:latest"] })
    const agent = await startAgent({ log: m.log, hostInfo: new ZkHostInfoStore(m.zk, m.root), runtime, zk: m.zk, zkRoot: m.root, hostName: h, stateDir: dir, ...FAST_IN_MEMORY })
    cleanups.push(() => agent.stop())
    await agent.registered
    const job = aJob({ id: "evil:v1", image: "busybox:latest", ports: {}, volumes: { "/host": "/" }, securityOpt: ["seccomp=unconfined"] })
    await m.log.append([envelope({ _tag: "JobCreated", job })])
    await deploy(m.log, job, h)
    const failed = await waitFor(async () => {
      const t = await lastTask(m.log, h, job.id)
      return t?.state === "FAILED" ? t : undefined
    }, { what: "the agent's FAILED report" })
    expect(failed.error).toMatch(/container policy.*volumes\.\/host.*--allow-docker-socket.*securityOpt\.0.*--allow-unconfined/)
    expect(await runtime.list({})).toEqual([])
    // The master would not deploy it either.
    expect((await m.call("PUT", `/hosts/${h}/jobs/${job.id}`, { goal: "START" })).status).toBe(400)
  })

})
