/**
 * Issue 13's attack on the agent: a deployment that reached the log without a master's checks (a
 * forged event, a master with a looser policy) is refused by the agent's own container policy.
 * The rest of the security suite is master/security.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { FAST_IN_MEMORY, deploy, lastTask } from "../test/agent-helpers.ts"
import { envelope, host as hostName } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { principalsOf, startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot, waitFor } from "../test/services.ts"
import { startAgent } from "./agent.ts"
import { MemoryRuntime } from "./memory-runtime.ts"
import { MasterRelayLog, zkMasterUrls } from "./master-relay.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { aclPolicy, zkDigest } from "../log/zk-acl.ts"
import { zkConnect } from "../test/services.ts"

const cleanups: Array<() => Promise<unknown> | unknown> = []
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})
const master = async (name: string, root = uniqueRoot(name), options: Parameters<typeof startTestMaster>[3] = {}): Promise<TestMaster> => {
  const m = await startTestMaster(root, name, undefined, options)
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


  it("a container recreated after a crash is checked as a first one: a bind source turned into a symlink out of the allowed prefixes since is refused, FAILED, no new container", async () => {
    const m = await master("sec-recreate")
    const dir = mkdtempSync(join(tmpdir(), "helios-sec-recreate-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const allowed = join(dir, "srv")
    mkdirSync(join(allowed, "x"), { recursive: true })
    const h = hostName("sec-recreate-h1")
    const runtime = new MemoryRuntime({ localImages: ["busybox:latest"] })
    const stateDir = join(dir, "state")
    const agent = await startAgent({
      log: m.log,
      hostInfo: new ZkHostInfoStore(m.zk, m.root),
      runtime,
      zk: m.zk,
      zkRoot: m.root,
      hostName: h,
      stateDir,
      containerPolicy: { allowedBindMounts: [allowed] },
      ...FAST_IN_MEMORY,
    })
    cleanups.push(() => agent.stop())
    await agent.registered
    const job = aJob({ id: "mounts:v1", image: "busybox:latest", ports: {}, volumes: { "/data": join(allowed, "x") } })
    await m.log.append([envelope({ _tag: "JobCreated", job })])
    await deploy(m.log, job, h)
    await waitFor(async () => ((await lastTask(m.log, h, job.id))?.state === "RUNNING" ? true : undefined), { what: "RUNNING" })
    const first = runtime.running()[0]!
    // Another tenant swaps the allowed directory for a symlink to /, then the container crashes.
    rmSync(join(allowed, "x"), { recursive: true })
    symlinkSync("/", join(allowed, "x"))
    runtime.die(first.id)
    const failed = await waitFor(async () => {
      const t = await lastTask(m.log, h, job.id)
      return t?.state === "FAILED" ? t : undefined
    }, { what: "the agent's FAILED report" })
    expect(failed.error).toMatch(/container policy.*symlink/)
    expect(runtime.running()).toEqual([])
    // No container was created after the crashed one.
    expect(runtime.containers().filter((c) => c.id !== first.id)).toEqual([])
  })

  it("with ZooKeeper ACLs and authentication on, an agent with its own identities registers and runs a job through the relay, writing nothing to the log itself", async () => {
    const masterAuth = { user: "helios-master", password: "master-password-0123456789" }
    const agentAuth = { user: "helios-agent", password: "agent-password-0123456789" }
    const ids = { masters: zkDigest(masterAuth.user, masterAuth.password), agents: zkDigest(agentAuth.user, agentAuth.password) }
    const root = uniqueRoot("sec-acl-agent")
    const h = hostName("sec-acl-h1")
    const principals = principalsOf([
      { name: "ops", token: "ops-token-0123456789", capabilities: ["*"] },
      { name: "agent-h1", token: "agent-token-0123456789", capabilities: [`agent:${h}`] },
    ])
    const m = await master("sec-acl-agent", root, { principals, zkOptions: { auth: masterAuth, aclFor: aclPolicy(root, ids) } })
    const zk = await ZkClient.connect(zkConnect(), { auth: agentAuth, aclFor: aclPolicy(root, ids) })
    cleanups.push(() => zk.close())
    const direct = await ZooKeeperEventLog.open(zk, { root })
    const relay = new MasterRelayLog({ direct, host: h, masters: zkMasterUrls(zk, root), token: "agent-token-0123456789", appendDirectly: false })
    const dir = mkdtempSync(join(tmpdir(), "helios-sec-acl-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const runtime = new MemoryRuntime({ localImages: ["busybox:latest"] })
    const agent = await startAgent({ log: relay, hostInfo: new ZkHostInfoStore(zk, root), runtime, zk, zkRoot: root, hostName: h, stateDir: dir, ...FAST_IN_MEMORY })
    cleanups.push(() => agent.stop())
    await agent.registered
    const ops = { Authorization: "Bearer ops-token-0123456789" }
    const id = (await m.call("POST", "/jobs", { id: "web:v1", image: "busybox:latest" }, ops)).body.id
    expect((await m.call("PUT", `/hosts/${h}/jobs/${id}`, { goal: "START" }, ops)).status).toBe(200)
    await waitFor(async () => ((await m.call("GET", `/jobs/${id}/status`, undefined, ops)).body.taskStatuses?.[h]?.state === "RUNNING" ? true : undefined), {
      what: "RUNNING through the relay",
    })
    expect(relay.counts.direct).toBe(0)
    expect(relay.counts.relayed).toBeGreaterThan(0)
  })
})
