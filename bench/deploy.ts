/**
 * Deploy latency on the real Docker engine: Helios (a real master on a private, fsync'ing
 * ZooKeeper, a real agent with the dockerode runtime, in this process) against a raw
 * `docker run -d` of the same image with the same published port, and against Docker swarm mode's
 * `docker service create`, alternating in one run on the same machine.
 *
 *   npx tsx bench/deploy.ts                 15 measured rounds (+2 warm-up) of each, swarm every other round
 *   BENCH_QUICK=1 npx tsx bench/deploy.ts   3 rounds, to check that the script works (→ results/deploy-quick.json)
 *   DEPLOY_ROUNDS=30 npx tsx bench/deploy.ts
 *
 * What is timed, per round (all start when the client sends its request, and end when the port
 * answers HTTP; the port is probed only once the orchestrator says the container started, with a
 * fresh connection every 5 ms: probing earlier delays the container by ~1 s, see deploy-probe.ts):
 *   ours     PUT /hosts/{h}/jobs/{id} {goal: START} → answered OK (the "ack") → RUNNING seen on the
 *            master's API → the port answers HTTP. RUNNING is observed by FOLLOWING
 *            GET /events?follow=true&job={id} (NDJSON pushed as the master applies each event; no
 *            polling delay).
 *   raw      `docker run -d --label … -p 127.0.0.1:PORT:80 helios-test/web:latest` (the CLI)
 *            returns → the port answers HTTP.
 *   raw-api  dockerode create + start of the very container spec the agent builds (with
 *            HostConfig.Init, labels, env) → HTTP: the engine's floor for our spec.
 *   swarm    `docker service create -d --publish mode=host,target=80,published=PORT
 *            --endpoint-mode dnsrr --no-resolve-image` → a task is `running` (tasks polled through
 *            the engine's API every 10 ms) → HTTP. (This kernel has no IPVS, so no routing mesh.)
 *   ours, no pull   PROTOTYPE: ours with a pull policy "only when the image is missing" (a runtime
 *            wrapper in this file), to measure what the pull attempt costs.
 * Between rounds everything is removed (undeploy / docker rm -f / docker service rm) and the next
 * round waits until the port can be bound again. The order of ours/raw/ours-no-pull/raw-api rotates every round.
 *
 * Where our time goes comes from transparent timing wrappers around the master's and the agent's
 * event logs and the agent's runtime (bench/deploy-probe.ts), and from the TaskStateChanged
 * timestamps the agent wrote (PULLING_IMAGE, CREATING, STARTING, RUNNING).
 *
 * Cleans up (containers and services by label, swarm if we initialised it, ZooKeeper, temp dirs)
 * on success, failure, SIGINT and SIGTERM.
 */
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import http from "node:http"
import Docker from "dockerode"
import { startAgent, type Agent } from "../agent/agent.ts"
import { MasterRelayLog, zkMasterUrls } from "../agent/master-relay.ts"
import type { HostName } from "../core/ids.ts"
import { buildContainerSpec } from "../agent/container-spec.ts"
import { DockerRuntime } from "../agent/docker-runtime.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { silentLogger } from "../agent/logger.ts"
import type { Job } from "../core/job.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { ensureTestImage, removeContainersByLabel, TEST_IMAGE, TEST_IMAGE_TEXT } from "../test/docker.ts"
import { freePort, startZooKeeper, type ZooKeeperServer } from "../test/zookeeper.ts"
import { benchCleanups, distribution, line, log, machine, percentile, round, runBench, summaryTable, table, waitForQuiet, writeResult, type SummaryLine } from "./lib.ts"
import { dockerCli, Marks, now, sleep, timedLog, timedRuntime, waitForHttp, waitPortFree, type Mark } from "./deploy-probe.ts"

const QUICK = process.env["BENCH_QUICK"] === "1"
const ROUNDS = Number(process.env["DEPLOY_ROUNDS"] ?? (QUICK ? 3 : 15))
const WARMUP = QUICK ? 1 : 2
/** Swarm runs every SWARM_EVERY-th round (fewer rounds: each costs ~1.5 s with its removal). */
const SWARM_EVERY = 2
const RUN = randomBytes(5).toString("hex")
const LABEL_KEY = "helios-bench"
const LABEL_VALUE = `deploy-${RUN}`
const LABEL = `${LABEL_KEY}=${LABEL_VALUE}`
const HOST = "bench-deploy-host"
const ROOT = "/helios"

type Variant = "ours" | "ours-skip-pull" | "raw" | "raw-api" | "swarm"

interface OursRound {
  readonly total: number
  readonly ack: number
  /** RUNNING seen on /events, from the request. */
  readonly runningSeen: number
  /** The port answered HTTP, from the request. */
  readonly http: number
  readonly phases: Record<string, number>
  /** TaskStateChanged timestamps (envelope.at, epoch ms) relative to the ack, ms resolution. */
  readonly transitions: Record<string, number>
}

// ---------------------------------------------------------------------------------------------
// Cleanup, also on signals

let cleanedUp = false
const { cleanups, run: cleanup } = benchCleanups(() => (cleanedUp = true))

/** Last resort if the process exits before cleanup() finished: the same, synchronously. */
let swarmLeaveAtExit = false
let tmpAtExit: string | undefined
process.on("exit", () => {
  if (cleanedUp) return
  const run = (args: string[]) => {
    try {
      return execFileSync("docker", args, { encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "ignore"] }).trim()
    } catch {
      return ""
    }
  }
  const services = run(["service", "ls", "-q", "--filter", `label=${LABEL}`]).split("\n").filter((x) => x !== "")
  if (services.length > 0) run(["service", "rm", ...services])
  if (swarmLeaveAtExit) run(["swarm", "leave", "--force"])
  const containers = run(["ps", "-aq", "--filter", `label=${LABEL}`]).split("\n").filter((x) => x !== "")
  if (containers.length > 0) run(["rm", "-f", "-v", ...containers])
  if (tmpAtExit) rmSync(tmpAtExit, { recursive: true, force: true })
})

// ---------------------------------------------------------------------------------------------
// Small HTTP client for the master

const call = async (url: string, method: string, body?: unknown): Promise<{ status: number; body: any }> => {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: res.status, body: parsed }
}

interface SeenEvent {
  readonly t: number
  readonly position: number
  readonly type: string
  readonly state?: string
  readonly host?: string
  readonly at: number
}

/** Follows GET /events?follow=true&job=…: every event line with the moment it arrived here. */
const followEvents = (baseUrl: string, jobId: string, after: number, onEvent: (e: SeenEvent) => void): (() => void) => {
  const url = new URL(`${baseUrl}/events`)
  url.searchParams.set("follow", "true")
  url.searchParams.set("job", jobId)
  url.searchParams.set("after", String(after))
  const req = http.get(url, { agent: false }, (res) => {
    let buffer = ""
    res.on("data", (chunk: Buffer) => {
      const t = now()
      buffer += chunk.toString("utf8")
      let nl: number
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const text = buffer.slice(0, nl).trim()
        buffer = buffer.slice(nl + 1)
        if (text === "") continue
        const e = JSON.parse(text) as { position: number; type: string; timestamp: number; event: { state?: string; host?: string } }
        onEvent({
          t,
          position: e.position,
          type: e.type,
          at: e.timestamp,
          ...(e.event.state !== undefined ? { state: e.event.state } : {}),
          ...(e.event.host !== undefined ? { host: e.event.host } : {}),
        })
      }
    })
    res.on("error", () => {})
  })
  req.on("error", () => {})
  return () => req.destroy()
}

// ---------------------------------------------------------------------------------------------

const main = async () => {
  const quiet = await waitForQuiet(30_000)
  log(`bench/deploy: ${ROUNDS} rounds (+${WARMUP} warm-up) of ours / raw / ours-no-pull prototype / raw-api, swarm every ${SWARM_EVERY}nd round; CPU busy before start ${Math.round(quiet * 100)}%`)
  await ensureTestImage()
  const docker = new Docker()

  const tmp = mkdtempSync(join(tmpdir(), "helios-bench-deploy-"))
  tmpAtExit = tmp
  cleanups.push(async () => rmSync(tmp, { recursive: true, force: true }))
  cleanups.push(async () => void (await removeContainersByLabel(LABEL)))

  const zkServer: ZooKeeperServer = await startZooKeeper({ fsync: true, maxHeap: "512m" })
  cleanups.push(() => zkServer.destroy())
  const marks = new Marks()

  // The master: its own ZooKeeper session and log instance, as in production.
  const masterZk = await ZkClient.connect(zkServer.connectString)
  cleanups.push(() => masterZk.close())
  const masterLog = await ZooKeeperEventLog.open(masterZk, { root: ROOT })
  cleanups.push(() => masterLog.close())
  const master: RunningMaster = await startMaster({
    log: timedLog(masterLog, marks, "master"),
    zk: masterZk,
    zkRoot: ROOT,
    name: "bench-master",
    port: 0,
    bindAddress: "127.0.0.1",
    hostInfo: new ZkHostInfoStore(masterZk, ROOT),
  })
  cleanups.push(() => master.stop())
  master.projection.onEvents((events) => {
    for (const e of events) {
      const ev = e.envelope.event
      marks.point("master.applied", ev._tag === "TaskStateChanged" ? `${ev._tag}:${ev.state}` : ev._tag)
    }
  })

  // The agent: its own session and log instance, the real engine, state dir on the real disk.
  const agentZk = await ZkClient.connect(zkServer.connectString)
  cleanups.push(() => agentZk.close())
  const agentLog = await ZooKeeperEventLog.open(agentZk, { root: ROOT })
  cleanups.push(() => agentLog.close())
  const dockerRuntime = new DockerRuntime(docker)
  // Prototype (variant "ours, pull skipped"): a pull policy "if not present": no pull attempt
  // when the image is already local. Toggled per round; off for "ours".
  let skipPullIfPresent = false
  const prototypeRuntime = new Proxy(dockerRuntime, {
    get(t, prop, receiver) {
      if (prop === "pullImage")
        return async (image: string, timeoutMs: number) => {
          if (skipPullIfPresent && (await t.imageExists(image))) return
          return t.pullImage(image, timeoutMs)
        }
      const value = Reflect.get(t, prop, receiver) as unknown
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(t) : value
    },
  })
  const agent: Agent = await startAgent({
    // As agent/main.ts does: facts go to the log through the master (POST /hosts/{host}/events).
    log: timedLog(new MasterRelayLog({ direct: agentLog, host: HOST as HostName, masters: zkMasterUrls(agentZk, ROOT) }), marks, "agent"),
    hostInfo: new ZkHostInfoStore(agentZk, ROOT),
    runtime: timedRuntime(prototypeRuntime, marks),
    zk: agentZk,
    zkRoot: ROOT,
    hostName: HOST,
    stateDir: join(tmp, "agent"),
    bindAddress: "127.0.0.1",
    containerLabels: { [LABEL_KEY]: LABEL_VALUE },
    logger: silentLogger,
  })
  cleanups.push(() => agent.stop())
  await agent.registered

  const port = await freePort()
  const jobInput = { id: "bench-web:v1", image: TEST_IMAGE, ports: { http: { internalPort: 80, externalPort: port, protocol: "tcp" } } }
  // The host must be in the master's projection before the deploy.
  for (let i = 0; ; i++) {
    const hosts = await call(`${master.url}/hosts`, "GET")
    if (Array.isArray(hosts.body) && hosts.body.includes(HOST)) break
    if (i > 500) throw new Error("the agent's host never showed up on the master")
    await sleep(10)
  }
  const created = await call(`${master.url}/jobs`, "POST", jobInput)
  if (created.status !== 200) throw new Error(`POST /jobs: ${created.status} ${JSON.stringify(created.body)}`)
  const jobId = created.body.id as string
  const job = master.projection.model.state.jobs.get(jobId) as Job

  const seen: SeenEvent[] = []
  let onSeen: (() => void) | undefined
  const stopFollowing = followEvents(master.url, jobId, master.projection.position, (e) => {
    seen.push(e)
    onSeen?.()
  })
  cleanups.push(async () => stopFollowing())
  const waitSeen = async (pred: (e: SeenEvent) => boolean, timeoutMs = 30_000): Promise<SeenEvent> => {
    const deadline = now() + timeoutMs
    for (;;) {
      const hit = seen.find(pred)
      if (hit) return hit
      if (now() > deadline) throw new Error("timed out waiting for an event on /events")
      await new Promise<void>((resolve) => {
        onSeen = resolve
        setTimeout(resolve, 100)
      })
      onSeen = undefined
    }
  }

  // ---- the variants ----------------------------------------------------------------------

  const freeAgain = async (hosts: ReadonlyArray<string>) => {
    await waitPortFree(port, hosts)
  }

  const ours = async (skipPull = false): Promise<OursRound> => {
    skipPullIfPresent = skipPull
    seen.length = 0
    const t0 = now()
    const put = await call(`${master.url}/hosts/${HOST}/jobs/${jobId}`, "PUT", { jobId, goal: "START" })
    const tAck = now()
    if (put.status !== 200) throw new Error(`PUT deploy: ${put.status} ${JSON.stringify(put.body)}`)
    const ackPosition = put.body.position as number
    const running = await waitSeen((e) => e.type === "TaskStateChanged" && e.state === "RUNNING" && e.position > ackPosition)
    const tHttp = await waitForHttp(port, TEST_IMAGE_TEXT)
    const m = marks.since(t0)
    const first = (what: string, detail?: string): Mark | undefined => m.find((x) => x.what === what && (detail === undefined || (x.detail ?? "").includes(detail)))
    const deployAppend = first("master.append", "JobDeployed")
    const applied = first("master.applied", "JobDeployed")
    const delivered = first("agent.hostStream", "JobDeployed")
    const list = m.find((x) => x.what === "runtime.list" && delivered !== undefined && x.t0 >= delivered.t0)
    const pull = first("runtime.pullImage")
    const exists = first("runtime.imageExists")
    const create = first("runtime.create")
    const start = first("runtime.start")
    const runningAppend = first("agent.append", "TaskStateChanged:RUNNING")
    const appliedRunning = first("master.applied", "TaskStateChanged:RUNNING")
    const need = <T>(x: T | undefined, what: string): T => {
      if (x === undefined) throw new Error(`no ${what} mark in this round`)
      return x
    }
    const d = (a: number | undefined, b: number | undefined) => round(need(b, "end") - need(a, "start"), 2)
    const pullEnd = (exists?.t1 ?? pull?.t1)
    const phases: Record<string, number> = {
      "master: PUT → JobDeployed append starts": d(t0, need(deployAppend, "master append").t0),
      "master: JobDeployed append (ZooKeeper multi)": d(deployAppend?.t0, deployAppend?.t1),
      "master: append → own projection applied it": d(deployAppend?.t1, need(applied, "master applied").t0),
      "master: applied → ack received by client": d(applied?.t0, tAck),
      "agent: append → JobDeployed delivered (host stream)": d(deployAppend?.t1, need(delivered, "agent delivery").t0),
      "agent: delivered → container list starts (fold, reconcile pass)": d(delivered?.t0, need(list, "list").t0),
      "engine: list the job's containers (adoption check)": d(list?.t0, list?.t1),
      "agent: list → pull starts (PULLING_IMAGE reported)": d(list?.t1, need(pull, "pull").t0),
      "engine: pull attempt (no registry) + local image check": d(pull?.t0, pullEnd),
      "agent: → create call (CREATING reported)": d(pullEnd, need(create, "create").t0),
      "engine: docker create": d(create?.t0, create?.t1),
      "agent: create → start call (STARTING reported)": d(create?.t1, need(start, "start").t0),
      "engine: docker start": d(start?.t0, start?.t1),
      "agent: start done → RUNNING appended": d(start?.t1, need(runningAppend, "RUNNING append").t1),
      "master: RUNNING append → own projection applied it": d(runningAppend?.t1, need(appliedRunning, "master applied RUNNING").t0),
      "master: applied → /events client got RUNNING": d(appliedRunning?.t0, running.t),
      "client: RUNNING seen → port answers HTTP": d(running.t, tHttp),
    }
    const ackWall = performance.timeOrigin + tAck
    const transitions: Record<string, number> = {}
    for (const e of seen)
      if (e.type === "TaskStateChanged" && e.state !== undefined && e.position > ackPosition && transitions[e.state] === undefined)
        transitions[e.state] = e.at - ackWall
    const result: OursRound = {
      total: Math.max(running.t, tHttp) - t0,
      ack: tAck - t0,
      runningSeen: running.t - t0,
      http: tHttp - t0,
      phases,
      transitions,
    }
    // Undeploy and wait until the container is gone and the port is free.
    const del = await call(`${master.url}/hosts/${HOST}/jobs/${jobId}`, "DELETE")
    if (del.status !== 200) throw new Error(`DELETE deploy: ${del.status} ${JSON.stringify(del.body)}`)
    for (let i = 0; agent.executions().has(jobId); i++) {
      if (i > 3000) throw new Error("undeploy did not finish")
      await sleep(10)
    }
    await freeAgain(["127.0.0.1"])
    marks.forgetBefore(now())
    return result
  }

  const raw = async (): Promise<{ total: number; cli: number }> => {
    const t0 = now()
    const id = await dockerCli(["run", "-d", "--label", LABEL, "-p", `127.0.0.1:${port}:80`, TEST_IMAGE])
    const tCli = now()
    const tHttp = await waitForHttp(port, TEST_IMAGE_TEXT)
    await dockerCli(["rm", "-f", id])
    await freeAgain(["127.0.0.1"])
    return { total: tHttp - t0, cli: tCli - t0 }
  }

  const rawApi = async (): Promise<{ total: number; create: number; start: number }> => {
    const spec = buildContainerSpec(job, { http: port }, {
      agentId: "0".repeat(40),
      host: "bench-raw-api",
      advertisedHost: "bench-raw-api",
      bindAddress: "127.0.0.1",
      agentEnv: {},
      extraLabels: { [LABEL_KEY]: LABEL_VALUE },
    })
    const t0 = now()
    const id = await dockerRuntime.create(spec)
    const tCreate = now()
    await dockerRuntime.start(id)
    const tStart = now()
    const tHttp = await waitForHttp(port, TEST_IMAGE_TEXT)
    await dockerRuntime.remove(id)
    await freeAgain(["127.0.0.1"])
    return { total: tHttp - t0, create: tCreate - t0, start: tStart - tCreate }
  }

  // Swarm mode: initialise it only if it is not active, and leave only if we did.
  let swarmByUs = false
  let swarmError: string | undefined
  const swarmState = (await dockerCli(["info", "--format", "{{.Swarm.LocalNodeState}}"])).trim()
  if (swarmState !== "active") {
    try {
      await dockerCli(["swarm", "init", "--advertise-addr", "127.0.0.1"])
      swarmByUs = true
      swarmLeaveAtExit = true
    } catch (e) {
      swarmError = String(e)
      log(`swarm: could not initialise (${swarmError}); skipping the swarm variant`)
    }
  }
  const removeServices = async () => {
    const ids = (await dockerCli(["service", "ls", "-q", "--filter", `label=${LABEL}`]).catch(() => "")).split("\n").filter((x) => x !== "")
    if (ids.length > 0) await dockerCli(["service", "rm", ...ids]).catch(() => "")
  }
  cleanups.push(async () => {
    if (swarmState === "active" || swarmByUs) await removeServices()
    if (swarmByUs) await dockerCli(["swarm", "leave", "--force"])
  })
  // (cleanups run in reverse: services and the swarm go before the containers and ZooKeeper)

  let swarmCount = 0
  const swarm = async (): Promise<{ total: number; cli: number; running: number }> => {
    const name = `helios-bench-${RUN}-${swarmCount++}`
    const t0 = now()
    const serviceId = await dockerCli([
      "service", "create", "-d", "--quiet", "--name", name,
      "--label", LABEL, "--container-label", LABEL,
      "--publish", `mode=host,target=80,published=${port}`,
      "--endpoint-mode", "dnsrr", "--no-resolve-image", TEST_IMAGE,
    ])
    const tCli = now()
    // The task's state through the engine's API, polled every ~10 ms (as ours is observed via ours).
    for (let i = 0; ; i++) {
      const tasks = (await docker.listTasks({ filters: { service: [serviceId] } })) as Array<{ Status?: { State?: string } }>
      if (tasks.some((t) => t.Status?.State === "running")) break
      if (i > 6000) throw new Error(`swarm service ${name} never got a running task`)
      await sleep(10)
    }
    const tRunning = now()
    const tHttp = await waitForHttp(port, TEST_IMAGE_TEXT)
    await dockerCli(["service", "rm", name])
    // The task's container goes away asynchronously; wait for it and for the port (bound on 0.0.0.0).
    for (let i = 0; ; i++) {
      const left = await docker.listContainers({ all: true, filters: { label: [LABEL], name: [name] } })
      if (left.length === 0) break
      if (i > 3000) throw new Error(`swarm task of ${name} never went away`)
      await sleep(10)
    }
    await freeAgain(["0.0.0.0", "127.0.0.1"])
    return { total: tHttp - t0, cli: tCli - t0, running: tRunning - t0 }
  }

  // ---- the rounds ------------------------------------------------------------------------

  const results = { ours: [] as OursRound[], oursSkipPull: [] as OursRound[], raw: [] as Array<{ total: number; cli: number }>, rawApi: [] as Array<{ total: number; create: number; start: number }>, swarm: [] as Array<{ total: number; cli: number; running: number }> }
  const t0 = now()
  for (let r = 0; r < WARMUP + ROUNDS; r++) {
    const warm = r < WARMUP
    const order: Variant[] = (["ours", "raw", "ours-skip-pull", "raw-api"] as Variant[]).map((_, i, a) => a[(i + r) % a.length]!)
    if (swarmError === undefined && (r % SWARM_EVERY === 0 || warm)) order.push("swarm")
    const parts: string[] = []
    for (const v of order) {
      if (v === "ours") {
        const x = await ours()
        if (!warm) results.ours.push(x)
        parts.push(`ours ${x.total.toFixed(0)} ms (ack ${x.ack.toFixed(0)})`)
      } else if (v === "ours-skip-pull") {
        const x = await ours(true)
        if (!warm) results.oursSkipPull.push(x)
        parts.push(`ours/skip-pull ${x.total.toFixed(0)} ms`)
      } else if (v === "raw") {
        const x = await raw()
        if (!warm) results.raw.push(x)
        parts.push(`raw ${x.total.toFixed(0)} ms`)
      } else if (v === "raw-api") {
        const x = await rawApi()
        if (!warm) results.rawApi.push(x)
        parts.push(`raw-api ${x.total.toFixed(0)} ms`)
      } else {
        const x = await swarm()
        if (!warm) results.swarm.push(x)
        parts.push(`swarm ${x.total.toFixed(0)} ms`)
      }
    }
    log(`  ${warm ? "warm-up" : `round ${r - WARMUP + 1}`.padEnd(8)}: ${parts.join(", ")}`)
  }
  const seconds = round((now() - t0) / 1000, 1)

  // ---- report ----------------------------------------------------------------------------

  const stat = (xs: number[]) => ({ n: xs.length, p50: round(percentile(xs, 50), 1), p95: round(percentile(xs, 95), 1), min: round(Math.min(...xs), 1), max: round(Math.max(...xs), 1) })
  const oursTotal = stat(results.ours.map((x) => x.total))
  const oursFromAck = stat(results.ours.map((x) => x.total - x.ack))
  const oursAck = stat(results.ours.map((x) => x.ack))
  const rawTotal = stat(results.raw.map((x) => x.total))
  const rawApiTotal = stat(results.rawApi.map((x) => x.total))
  const skipTotal = stat(results.oursSkipPull.map((x) => x.total))
  const swarmTotal = results.swarm.length > 0 ? stat(results.swarm.map((x) => x.total)) : undefined
  const ratio = (a: number, b: number) => round(a / b, 2)
  const m = machine()

  log(`\nDeploy → RUNNING (via the API) + HTTP answering, ms (${results.ours.length} rounds each; machine: ${m.cpuModel}, ${m.cores} cores, docker ${m.docker})`)
  log(
    table(
      ["variant", "n", "p50", "p95", "min", "max", "p50 / raw", "p95 / raw"],
      [
        ["ours: PUT sent → RUNNING seen + HTTP", oursTotal.n, oursTotal.p50, oursTotal.p95, oursTotal.min, oursTotal.max, ratio(oursTotal.p50, rawTotal.p50), ratio(oursTotal.p95, rawTotal.p95)],
        ["ours: ack → RUNNING seen + HTTP", oursFromAck.n, oursFromAck.p50, oursFromAck.p95, oursFromAck.min, oursFromAck.max, ratio(oursFromAck.p50, rawTotal.p50), ratio(oursFromAck.p95, rawTotal.p95)],
        ["ours: PUT → ack", oursAck.n, oursAck.p50, oursAck.p95, oursAck.min, oursAck.max, "", ""],
        ["prototype: ours, no pull when the image is local", skipTotal.n, skipTotal.p50, skipTotal.p95, skipTotal.min, skipTotal.max, ratio(skipTotal.p50, rawTotal.p50), ratio(skipTotal.p95, rawTotal.p95)],
        ["raw: docker run -d (CLI) → HTTP", rawTotal.n, rawTotal.p50, rawTotal.p95, rawTotal.min, rawTotal.max, 1, 1],
        ["raw-api: create+start, agent's spec → HTTP", rawApiTotal.n, rawApiTotal.p50, rawApiTotal.p95, rawApiTotal.min, rawApiTotal.max, ratio(rawApiTotal.p50, rawTotal.p50), ratio(rawApiTotal.p95, rawTotal.p95)],
        ...(swarmTotal
          ? [["swarm: service create -d → HTTP", swarmTotal.n, swarmTotal.p50, swarmTotal.p95, swarmTotal.min, swarmTotal.max, ratio(swarmTotal.p50, rawTotal.p50), ratio(swarmTotal.p95, rawTotal.p95)]]
          : []),
      ],
    ),
  )
  if (swarmTotal) log(`ours / swarm: p50 ${ratio(oursTotal.p50, swarmTotal.p50)}, p95 ${ratio(oursTotal.p95, swarmTotal.p95)}`)

  const phaseNames = Object.keys(results.ours[0]?.phases ?? {})
  const phaseStat = (rs: OursRound[], name: string, p: number) => round(percentile(rs.map((x) => x.phases[name]!), p), 1)
  const phaseRows = phaseNames.map((name) => [name, phaseStat(results.ours, name, 50), phaseStat(results.ours, name, 95), phaseStat(results.oursSkipPull, name, 50)])
  const phaseSum = round(phaseNames.reduce((a, name) => a + percentile(results.ours.map((x) => x.phases[name]!), 50), 0), 1)
  log(`\nWhere our time goes (per round, in-process timing wrappers; ms; the p50s add up to ${phaseSum}):`)
  log(table(["step (critical path, in order)", "p50", "p95", "p50 no-pull prototype"], phaseRows))
  const transitionRows = ["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"].map((s) => {
    const xs = results.ours.map((x) => x.transitions[s]).filter((x): x is number => x !== undefined)
    return [`ack → ${s}`, round(percentile(xs, 50), 1), round(percentile(xs, 95), 1)]
  })
  log(`\nTask transitions as the agent stamped them (TaskStateChanged.at, ms resolution, relative to the ack):`)
  log(table(["transition", "p50", "p95"], transitionRows))
  log(`\nraw-api detail: create p50 ${round(percentile(results.rawApi.map((x) => x.create), 50), 1)} ms, start p50 ${round(percentile(results.rawApi.map((x) => x.start), 50), 1)} ms; raw CLI returned after p50 ${round(percentile(results.raw.map((x) => x.cli), 50), 1)} ms`)

  const summary: SummaryLine[] = [
    line("deploy → RUNNING + HTTP, ours p50", oursTotal.p50, "ms"),
    line("deploy → RUNNING + HTTP, ours p95", oursTotal.p95, "ms"),
    line("docker run -d → HTTP, raw p50", rawTotal.p50, "ms"),
    line("deploy, prototype no-pull-if-local p50", skipTotal.p50, "ms"),
    line("deploy ours / raw (p50)", ratio(oursTotal.p50, rawTotal.p50), "×", { op: "<=", value: 1.3 }),
    line("deploy ours / raw (p95)", ratio(oursTotal.p95, rawTotal.p95), "×", { op: "<=", value: 1.3 }),
    ...(swarmTotal
      ? [
          line("swarm service create → HTTP p50", swarmTotal.p50, "ms"),
          line("deploy ours / swarm (p50)", ratio(oursTotal.p50, swarmTotal.p50), "×", { op: "<=", value: 1 }),
        ]
      : []),
  ]
  log("")
  log(summaryTable(summary))

  const file = writeResult(QUICK ? "deploy-quick" : "deploy", {
    config: {
      rounds: ROUNDS,
      warmup: WARMUP,
      swarmEvery: SWARM_EVERY,
      image: TEST_IMAGE,
      publishedPort: "127.0.0.1:PORT:80 (static external port in the job)",
      runningObservedBy: "GET /events?follow=true&job=<id> (NDJSON pushed as the master applies events)",
      httpProbe: "fresh connection every 5 ms, started once the container is reported started",
      zookeeper: "private, fsync on (forceSync=yes)",
      agentStateDir: tmpdir(),
      swarmInitialisedByUs: swarmByUs,
      ...(swarmError !== undefined ? { swarmError } : {}),
    },
    seconds,
    oursSkipPullPrototype: { total: distribution(results.oursSkipPull.map((x) => x.total)) },
    ours: { total: distribution(results.ours.map((x) => x.total)), fromAck: distribution(results.ours.map((x) => x.total - x.ack)), ack: distribution(results.ours.map((x) => x.ack)), runningSeen: distribution(results.ours.map((x) => x.runningSeen)), http: distribution(results.ours.map((x) => x.http)) },
    raw: { total: distribution(results.raw.map((x) => x.total)), cliReturned: distribution(results.raw.map((x) => x.cli)) },
    rawApi: { total: distribution(results.rawApi.map((x) => x.total)), create: distribution(results.rawApi.map((x) => x.create)), start: distribution(results.rawApi.map((x) => x.start)) },
    ...(swarmTotal ? { swarm: { total: distribution(results.swarm.map((x) => x.total)), cliReturned: distribution(results.swarm.map((x) => x.cli)), taskRunningSeen: distribution(results.swarm.map((x) => x.running)) } } : {}),
    ratios: {
      oursOverRawP50: ratio(oursTotal.p50, rawTotal.p50),
      oursOverRawP95: ratio(oursTotal.p95, rawTotal.p95),
      ...(swarmTotal ? { oursOverSwarmP50: ratio(oursTotal.p50, swarmTotal.p50), oursOverSwarmP95: ratio(oursTotal.p95, swarmTotal.p95) } : {}),
    },
    phases: Object.fromEntries(phaseRows.map(([name, p50, p95, noPull]) => [name as string, { p50, p95, p50NoPullPrototype: noPull }])),
    transitionsFromAck: Object.fromEntries(transitionRows.map(([name, p50, p95]) => [name as string, { p50, p95 }])),
    rounds: { ours: results.ours, oursSkipPull: results.oursSkipPull, raw: results.raw, rawApi: results.rawApi, swarm: results.swarm },
    summary,
  })
  log(`\nwrote ${file}`)
}

await runBench("deploy", main, cleanup)
