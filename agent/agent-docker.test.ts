/**
 * Acceptance tests of the agent on the real Docker engine and real ZooKeeper, with the local test
 * image. Each test has its own ZooKeeper root, host names and Docker label; containers are removed
 * in afterEach even when a test fails.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { docker, TEST_IMAGE_TEXT } from "../test/docker.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor } from "../test/services.ts"
import { dockerAgentFixture, httpGet, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import { deploy, hostEvents, lastTask, setGoal, taskEvents, undeploy } from "../test/agent-helpers.ts"

let fx: DockerAgentFixture | undefined
afterEach(async () => {
  await fx?.cleanup()
  fx = undefined
})

const running = (f: DockerAgentFixture, h: ReturnType<typeof host>, jobId: string, not?: string) =>
  waitFor(
    async () => {
      const t = await lastTask(f.log, h, jobId)
      return t?.state === "RUNNING" && t.containerId !== undefined && t.containerId !== not ? t : undefined
    },
    { timeoutMs: 30_000, what: `${jobId} RUNNING on ${h}` },
  )

describe("agent on Docker", () => {
  it("deploy → RUNNING, the published port answers on 127.0.0.1, the log shows every state in order", async () => {
    fx = await dockerAgentFixture("agent-deploy")
    const h = host("deploy-h1")
    const agent = await fx.start(h)
    await agent.registered
    const job = aJob({ id: "deploy-web:v1", env: { GREETING: "hi" } })
    const t0 = performance.now()
    await deploy(fx.log, job, h)
    const status = await running(fx, h, job.id)
    const port = status.ports?.["http"]?.externalPort
    expect(port).toBeGreaterThanOrEqual(20000)
    expect(await waitFor(() => httpGet(port!), { what: "HTTP answer" })).toContain(TEST_IMAGE_TEXT)
    const tookMs = performance.now() - t0
    console.log(`deploy → RUNNING + HTTP answer: ${tookMs.toFixed(0)} ms`)

    const events = await taskEvents(fx.log, h, job.id)
    expect(events.map((e) => e.state)).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    expect(events[0]!.containerId).toBeUndefined()
    expect(events[2]!.containerId).toBe(status.containerId)
    expect(events.every((e) => e.goal === "START" && e.throttled === "NO")).toBe(true)
    expect(status.env).toMatchObject({ GREETING: "hi", HELIOS_PORT_http: `${h}:${port}` })

    const info = await docker().getContainer(status.containerId!).inspect()
    expect(info.Name).toMatch(new RegExp(`^/helios-${agent.agentId.slice(0, 12)}-deploy-web_v1_[0-9a-f]{7}_[0-9a-f]+$`))
    expect(info.Config.Labels).toMatchObject({ "helios.agent": agent.agentId, "helios.host": h, "helios.job": job.id })
    expect(info.HostConfig.Init).toBe(true)
    expect(info.Config.Env).toContain(`HELIOS_PORT_http=${h}:${port}`)
    expect(info.HostConfig.PortBindings).toEqual({ "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] })

    const tags = (await hostEvents(fx.log, h)).map((e) => e.envelope.event._tag)
    expect(tags.slice(0, 3)).toEqual(["HostRegistered", "HostWentUp", "JobDeployed"])
    const hostInfo = await waitFor(() => fx!.hostInfo.get(h), { what: "host info" })
    expect(hostInfo.agentId).toBe(agent.agentId)
    expect(hostInfo.dockerVersion?.apiVersion).toMatch(/^1\.\d+$/)
    expect(await fx.hostInfo.isUp(h)).toBe(true)
  })

  it("restarts a container killed by hand; a container that exits at once becomes FLAPPING", async () => {
    fx = await dockerAgentFixture("agent-restart")
    const h = host("kill-h1")
    await fx.start(h, { flapping: { restartCount: 3, windowMs: 60_000 } })
    const job = aJob({ id: "kill-web:v1" })
    await deploy(fx.log, job, h)
    const first = await running(fx, h, job.id)
    const tKill = performance.now()
    await docker().getContainer(first.containerId!).kill()
    const second = await running(fx, h, job.id, first.containerId)
    console.log(`docker kill → new container RUNNING: ${(performance.now() - tKill).toFixed(0)} ms (restart delay 100 ms)`)
    expect(second.containerId).not.toBe(first.containerId)
    const states = (await taskEvents(fx.log, h, job.id)).map((e) => e.state)
    expect(states).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING", "EXITED", "PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    // The same port after the restart (allocations are stable).
    expect(second.ports?.["http"]?.externalPort).toBe(first.ports?.["http"]?.externalPort)
    expect(await waitFor(() => httpGet(second.ports!["http"]!.externalPort!))).toContain(TEST_IMAGE_TEXT)
    // The killed container was cleaned up: one container for the job.
    expect((await fx.containers()).filter((c) => c.host === h)).toHaveLength(1)

    const crash = aJob({ id: "crash:v1", command: ["sh", "-c", "exit 1"], ports: null })
    await deploy(fx.log, crash, h)
    const flapping = await waitFor(
      async () => (await taskEvents(fx!.log, h, crash.id)).find((e) => e.throttled === "FLAPPING"),
      { timeoutMs: 30_000, what: "FLAPPING" },
    )
    expect(flapping.state).toBe("EXITED")
  })

  it("goal STOP → STOPPED; START → running again; undeploy → container gone", async () => {
    fx = await dockerAgentFixture("agent-goals")
    const h = host("goal-h1")
    await fx.start(h)
    const job = aJob({ id: "goal-web:v1" })
    await deploy(fx.log, job, h)
    const first = await running(fx, h, job.id)

    const t0 = performance.now()
    await setGoal(fx.log, job, h, "STOP")
    await waitFor(async () => ((await lastTask(fx!.log, h, job.id))?.state === "STOPPED" ? true : undefined), { what: "STOPPED" })
    console.log(`STOP → STOPPED: ${(performance.now() - t0).toFixed(0)} ms`)
    const stopped = (await taskEvents(fx.log, h, job.id)).slice(-2)
    expect(stopped.map((e) => [e.state, e.goal, e.containerId])).toEqual([
      ["STOPPING", "STOP", first.containerId],
      ["STOPPED", "STOP", first.containerId],
    ])
    expect((await docker().getContainer(first.containerId!).inspect()).State.Running).toBe(false)

    await setGoal(fx.log, job, h, "START")
    const again = await running(fx, h, job.id, first.containerId)
    expect(await waitFor(() => httpGet(again.ports!["http"]!.externalPort!))).toContain(TEST_IMAGE_TEXT)

    const t1 = performance.now()
    await undeploy(fx.log, job, h)
    await waitFor(async () => ((await fx!.containers()).length === 0 ? true : undefined), { what: "container removed" })
    console.log(`undeploy → container removed: ${(performance.now() - t1).toFixed(0)} ms`)
  })

  it("a pull the registry answers with 'manifest unknown' → IMAGE_MISSING; a refused or failing registry → IMAGE_PULL_FAILED", async () => {
    fx = await dockerAgentFixture("agent-missing")
    const h = host("missing-h1")
    await fx.start(h)
    const registry = await fakeRegistry()
    try {
      const closedPort = await freePort()
      const missing = aJob({ id: "missing:v1", image: `127.0.0.1:${registry.port}/helios-test/missing:1` })
      const broken = aJob({ id: "broken:v1", image: `127.0.0.1:${registry.port}/helios-test/error500:1` })
      const refused = aJob({ id: "refused:v1", image: `127.0.0.1:${closedPort}/helios-test/x:1` })
      for (const job of [missing, broken, refused]) await deploy(fx.log, job, h)
      const failure = (jobId: string) =>
        waitFor(
          async () => {
            const t = await lastTask(fx!.log, h, jobId)
            return t?.state === "FAILED" ? t : undefined
          },
          { what: `${jobId} FAILED` },
        )
      const [m, b, r] = [await failure(missing.id), await failure(broken.id), await failure(refused.id)]
      expect([m.throttled, m.error]).toEqual(["IMAGE_MISSING", expect.stringMatching(/manifest unknown/)])
      expect([b.throttled, b.error]).toEqual(["IMAGE_PULL_FAILED", expect.stringMatching(/500 Internal Server Error/)])
      expect([r.throttled, r.error]).toEqual(["IMAGE_PULL_FAILED", expect.stringMatching(/connection refused/)])
      for (const job of [missing, broken, refused])
        expect((await taskEvents(fx.log, h, job.id)).map((e) => e.state)).toEqual(["PULLING_IMAGE", "FAILED"])
      expect(await fx.containers()).toHaveLength(0)
    } finally {
      await registry.close()
    }
  })

  it("builds the container from every job field and the agent's --dns, --add-host and --bind", async () => {
    fx = await dockerAgentFixture("agent-config")
    const h = host("config-h1")
    // Agent-wide decorations (Helios's --dns, --add-host, --bind) reach every container.
    mkdirSync(join(fx.tmp, "extra"))
    writeFileSync(join(fx.tmp, "extra", "note"), "from the agent's --bind\n")
    await fx.start(h, {
      env: { FROM_AGENT: "yes" },
      dns: ["10.9.8.7", "10.9.8.6"],
      extraHosts: ["db.helios-test:10.1.2.3", "cache.helios-test:10.1.2.4", "gw.helios-test:host-gateway"],
      extraBinds: [`${join(fx.tmp, "extra")}:/extra:ro`],
      // The job bind-mounts a host directory and adds a capability: the agent's policy must allow both.
      containerPolicy: { allowedBindMounts: [fx.tmp], whitelistedCapabilities: ["NET_ADMIN"] },
    })
    const job = aJob({
      id: "config:v1",
      command: ["sh", "-c", "echo $HELIOS_PORT_http > /tmp/ram/port; exec /serve"],
      env: { FROM_JOB: "yes" },
      volumes: { "/data:ro": fx.tmp, "/scratch": "" },
      ramdisks: { "/tmp/ram": "rw,size=1m" },
      hostname: "config-box",
      labels: { team: "agents" },
      networkMode: "bridge",
      addCapabilities: ["NET_ADMIN"],
      dropCapabilities: ["MKNOD"],
      securityOpt: ["no-new-privileges"],
      resources: { memory: 64 * 1024 * 1024, cpuShares: 512, cpuset: "0" },
      runtime: "runc",
      secondsToWaitBeforeKill: 7,
    })
    await deploy(fx.log, job, h)
    const status = await running(fx, h, job.id)
    const info = await docker().getContainer(status.containerId!).inspect()
    expect(info.Config.Cmd).toEqual(["sh", "-c", "echo $HELIOS_PORT_http > /tmp/ram/port; exec /serve"])
    expect(info.Config.Env).toEqual(expect.arrayContaining(["FROM_AGENT=yes", "FROM_JOB=yes", `HELIOS_PORT_http=${h}:${status.ports!["http"]!.externalPort}`]))
    expect(info.Config.Hostname).toBe("config-box")
    expect(info.Config.Labels).toMatchObject({ team: "agents", "helios.job": job.id })
    expect(info.HostConfig.Binds).toEqual([`${fx.tmp}:/data:ro`, `${join(fx.tmp, "extra")}:/extra:ro`])
    const inside = async (...command: string[]) => (await fx!.runtime.exec(status.containerId!, command, 5_000)).output
    expect(await inside("cat", "/etc/hosts")).toMatch(/^10\.1\.2\.3\s+db\.helios-test$/m)
    expect(await inside("cat", "/etc/hosts")).toMatch(/^10\.1\.2\.4\s+cache\.helios-test$/m)
    expect(await inside("cat", "/etc/hosts")).toMatch(/^\d+\.\d+\.\d+\.\d+\s+gw\.helios-test$/m) // Docker's host-gateway
    expect((await inside("cat", "/etc/resolv.conf")).match(/^nameserver .*$/gm)).toEqual(["nameserver 10.9.8.7", "nameserver 10.9.8.6"])
    expect(await inside("cat", "/extra/note")).toBe("from the agent's --bind\n")
    expect((await fx.runtime.exec(status.containerId!, ["touch", "/extra/x"], 5_000)).exitCode).not.toBe(0) // read-only
    expect(Object.keys(info.Config.Volumes ?? {})).toEqual(["/scratch"])
    expect(info.HostConfig.Tmpfs).toEqual({ "/tmp/ram": "rw,size=1m" })
    expect(info.HostConfig.NetworkMode).toBe("bridge")
    expect(info.HostConfig.CapAdd).toEqual(["NET_ADMIN"])
    expect(info.HostConfig.CapDrop).toEqual(["MKNOD"])
    expect(info.HostConfig.SecurityOpt).toEqual(["no-new-privileges"])
    expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024)
    expect(info.HostConfig.CpuShares).toBe(512)
    expect(info.HostConfig.CpusetCpus).toBe("0")
    expect(info.HostConfig.Runtime).toBe("runc")
    expect(info.HostConfig.Init).toBe(true)
    expect(info.HostConfig.PortBindings["80/tcp"]).toEqual([{ HostIp: "127.0.0.1", HostPort: String(status.ports!["http"]!.externalPort) }])
    expect(await waitFor(() => httpGet(status.ports!["http"]!.externalPort!))).toContain(TEST_IMAGE_TEXT)
    const written = await fx.runtime.exec(status.containerId!, ["cat", "/tmp/ram/port"], 5_000)
    expect(written).toEqual({ exitCode: 0, output: `${h}:${status.ports!["http"]!.externalPort}\n` })
  })

  it("gates RUNNING on http, tcp and exec health checks", async () => {
    fx = await dockerAgentFixture("agent-health")
    const h = host("health-h1")
    await fx.start(h)
    const http = aJob({ id: "hc-http:v1", healthCheck: { type: "http", port: "http", path: "/healthz" } })
    const tcp = aJob({ id: "hc-tcp:v1", healthCheck: { type: "tcp", port: "http" } })
    // Healthy only once a file exists that the command creates after a second.
    const exec = aJob({
      id: "hc-exec:v1",
      command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec /serve"],
      healthCheck: { type: "exec", command: ["test", "-f", "/tmp/ready"] },
    })
    for (const job of [http, tcp, exec]) await deploy(fx.log, job, h)
    for (const job of [http, tcp, exec]) {
      await running(fx, h, job.id)
      const states = (await taskEvents(fx.log, h, job.id)).map((e) => e.state)
      expect(states).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "HEALTHCHECKING", "RUNNING"])
    }
  })
})

describe("the Docker runtime's exec", () => {
  it("an exec that times out (a hanging health check) leaves no connection open behind it", async () => {
    fx = await dockerAgentFixture("agent-exec-timeout")
    const h = host("exec-h1")
    await fx.start(h)
    const job = aJob({ id: "exec-timeout:v1" })
    await deploy(fx.log, job, h)
    const { containerId } = await running(fx, h, job.id)
    const openFds = () => readdirSync("/proc/self/fd").length
    const before = openFds()
    for (let i = 0; i < 10; i++) await expect(fx.runtime.exec(containerId!, ["sleep", "1000"], 300)).rejects.toMatchObject({ reason: expect.stringMatching(/timed out/) })
    // Closing a socket takes a turn of the event loop or two: poll, generously.
    await waitFor(() => (openFds() <= before + 2 ? true : undefined), { timeoutMs: 10_000, what: `open fds back near ${before} (now ${openFds()})` })
  })
})

/**
 * A registry that speaks just enough of the distribution API for the engine to ask it for a
 * manifest: `/v2/` answers, a repository ending in `error500` gets a 500, every other manifest is
 * unknown (404 MANIFEST_UNKNOWN). The engine pulls from 127.0.0.0/8 over plain HTTP by default.
 */
const fakeRegistry = async (): Promise<{ port: number; close(): Promise<void> }> => {
  const headers = { "Docker-Distribution-API-Version": "registry/2.0", "Content-Type": "application/json" }
  const server: Server = createServer((req, res) => {
    if (req.url === "/v2/") return void res.writeHead(200, headers).end("{}")
    if (req.url?.includes("error500")) return void res.writeHead(500).end("boom")
    res.writeHead(404, headers).end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: {} }] }))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as { port: number }).port
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

/** A loopback port nothing listens on (bound, then released). */
const freePort = async (): Promise<number> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
