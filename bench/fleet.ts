/**
 * Fleet simulation: N simulated agents (startAgent with the in-memory runtime, each its own host
 * name, state dir and log instance, all in this process), a real master (startMaster, HTTP, in its
 * own process: bench/fleet-master.ts) and a private, fsync'ing ZooKeeper. Every agent is given 10
 * deployments (10 jobs, each deployed to every host through the master's HTTP API, 64 requests in
 * flight, from a client process: bench/fleet-client.ts). Measured:
 *   - time until all N×10 tasks are RUNNING in the master's projection (what its API serves);
 *   - ZooKeeper writes per deployment: server side from `srvr` (zxid: one per write transaction)
 *     and `mntr` (znodes, fsyncs), client side by counting every request of the agents' and the
 *     master's sessions by kind (and the `multi`s ZooKeeper refused: position claim collisions);
 *   - master API latency of GET /jobs, GET /hosts, GET /jobs/{id}/status and POST /jobs/statuses,
 *     sampled DURING the rollout by a third process: until the answer's last byte arrived (the
 *     target), and until the client had decoded it;
 * at several sizes, to state how each cost grows.
 *
 *   npx tsx bench/fleet.ts                     sizes 100, 300, 1000
 *   FLEET_SIZES=1000 npx tsx bench/fleet.ts    one size
 *   BENCH_QUICK=1 npx tsx bench/fleet.ts       sizes 20, 50 (→ results/fleet-quick.json)
 *   FLEET_LOG=direct npx tsx bench/fleet.ts    agents append to ZooKeeper themselves (the relay's
 *                                              baseline; see MODES below), written to
 *                                              bench/results/fleet-direct.json
 *   FLEET_ZK_CPUS=1 npx tsx bench/fleet.ts     a slow day for ZooKeeper: its JVM pinned to these CPUs
 *                                              (taskset), e.g. with `stress-ng --cpu 2 --taskset 1`
 *                                              beside it (ZooKeeper's serial appends several times slower)
 *   FLEET_AGENTS_NICE=10                       the simulated agents' process at a lower CPU priority (nice 10)
 *                                              than the master, ZooKeeper and the API clients (nice 0): in a
 *                                              real fleet the agents run on their own machines, not on the
 *                                              master's CPUs; default: all at the same priority
 *   FLEET_RELAY_MAX_IN_FLIGHT=N                the master's relay bound (0: unbounded, as before the
 *                                              relay shed load)
 *   FLEET_DUMP=file.json                       every API sample (latency, time) and the RUNNING timeline,
 *                                              to find when the slow requests happened
 *   FLEET_PROFILE=dir                          a CPU profile of the master process (node --cpu-prof)
 *   FLEET_SAMPLE_IDENTITY=1                    also sample POST /jobs/statuses without gzip
 *
 * Graceful under overload (issue 14): per size the agents' relay time-outs, failures, shed requests
 * (503 + Retry-After), outbox retries and landed checks are counted, and the RUNNING rate over time
 * (5 s windows): its peak and its minimum while reports are outstanding (fewer RUNNING than
 * deployed), so "never below a tenth of its peak" is checkable. A size that does not finish in
 * FLEET_ROLLOUT_TIMEOUT_S stops at once with its figures and the line "size N did not finish: X of
 * Y RUNNING at T s" (the agents are cut from ZooKeeper and the master is killed, not waited for).
 *
 * Topology choices (see the `config` in bench/results/fleet.json):
 *   - each agent has its OWN ZooKeeperEventLog instance, as separate agent processes would: its
 *     own position cursors (so agents' appends collide on the global log as they would in
 *     production) and its own followers (a shared instance would wake all 1,000 host-stream
 *     followers on every append of any agent). Those instances share a few ZooKeeper sessions
 *     (one per 125 agents): a session per agent would only add 1,000 TCP connections and
 *     heartbeats in this one process, and does not change what is written.
 *   - agents' state dirs live on tmpfs (/dev/shm) when there is one: 1,000 real hosts fsync on
 *     1,000 disks in parallel; here they would queue on one disk and block this one event loop.
 *     Their fsyncs are counted (per deployment) instead.
 *   - periodic reconcile, host-info refresh and the supervisors' monitor poll run every 10 min:
 *     the host stream and engine events drive the agents.
 *   - the master and the API clients run in their own processes (4 processes + the JVM on 2 cores).
 */
import { execFileSync } from "node:child_process"
import fs, { existsSync, mkdtempSync, rmSync } from "node:fs"
import { syncBuiltinESMExports } from "node:module"
import { setPriority, tmpdir } from "node:os"
import { join } from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { startAgent, type Agent } from "../agent/agent.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { MemoryRuntime } from "../agent/memory-runtime.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import type { EventLog } from "../core/event-log.ts"
import type { HostName } from "../core/ids.ts"
import { MasterRelayLog } from "../agent/master-relay.ts"
import { startZooKeeper, type ZooKeeperServer } from "../test/zookeeper.ts"
import { BENCH_DIR, benchCleanups, partCleanups, distribution, line, log, machine, percentile, round, runBench, summaryTable, table, waitForQuiet, writeResult, type SummaryLine } from "./lib.ts"
import { mapLimit } from "../log/map-limit.ts"
import { connectSharedSession, forkChild as child, SIMULATED_AGENT_SETTINGS } from "./fleet-agents.ts"
import { countingZk, counterDelta, processCpuSeconds, READ_OPS, serverCounters, sumOf, WRITE_OPS, type OpCounts, type ServerCounters } from "./fleet-zk.ts"

const QUICK = process.env["BENCH_QUICK"] === "1"
const SIZES = (process.env["FLEET_SIZES"] ?? (QUICK ? "20,50" : "100,300,1000")).split(",").map(Number)
const JOBS = 10
const AGENTS_PER_SESSION = 125
const DEPLOY_CONCURRENCY = 64
const ROLLOUT_TIMEOUT_MS = Number(process.env["FLEET_ROLLOUT_TIMEOUT_S"] ?? 120) * 1000
/** Registration of the whole fleet gets this long (the current log needs far more at 1,000 agents). */
const REGISTRATION_TIMEOUT_MS = Number(process.env["FLEET_REGISTRATION_TIMEOUT_S"] ?? 90) * 1000
const ROOT = "/helios"
const IMAGE = "helios-test/web:latest"
const TARGET_ROLLOUT_S = 60
const TARGET_P99_MS = 50
/**
 * An endpoint's latency as the target judges it: until the answer's last byte arrived at the client.
 * What the client then spends decoding it (gunzip, UTF-8: 10 to 50 ms for a 3.7 MiB status answer on
 * these two saturated cores, where a real client runs on its own machine) is reported beside it.
 */
const apiP99 = (x: { p99: number; receivedP99?: number }): number => x.receivedP99 ?? x.p99
/**
 * FLEET_LOG: how the agents' facts reach the log.
 *   relay    as Helios does by default: through the master (agent/master-relay.ts → POST
 *            /hosts/{host}/events), one writer for the whole fleet
 *   direct   each agent appends itself through its own log instance, racing the others for the
 *            next position (agent/main.ts --append-direct; the relay's baseline)
 */
const MODES = ["relay", "direct"] as const
const MODE = process.env["FLEET_LOG"] ?? "relay"
if (!(MODES as ReadonlyArray<string>).includes(MODE)) throw new Error(`FLEET_LOG: one of ${MODES.join(", ")}`)
/** bench/results/fleet.json for the default run; other modes and explicit FLEET_SIZES get their own file. */
const RESULT_NAME = `fleet${MODE === "relay" ? "" : `-${MODE}`}${process.env["FLEET_SIZES"] ? `-${SIZES.join("-")}` : QUICK ? "-quick" : ""}${process.env["FLEET_AGENTS_NICE"] ? "-nice" : ""}`
const openLog = (zk: ZkClient): Promise<EventLog> => ZooKeeperEventLog.open(zk, { root: ROOT })
const ZK_CPUS = process.env["FLEET_ZK_CPUS"]
const AGENTS_NICE = process.env["FLEET_AGENTS_NICE"] === undefined ? undefined : Number(process.env["FLEET_AGENTS_NICE"])
const RELAY_MAX_IN_FLIGHT = process.env["FLEET_RELAY_MAX_IN_FLIGHT"]
/** The RUNNING rate is measured over windows of this many seconds. */
const RATE_WINDOW_S = 5

// ---------------------------------------------------------------------------------------------
// fsyncs of the agents' state dirs (agent/state-dir.ts imports fsyncSync from node:fs)

let fsyncs = 0
const realFsync = fs.fsyncSync
fs.fsyncSync = (fd: number) => {
  fsyncs++
  realFsync(fd)
}
syncBuiltinESMExports()

// ---------------------------------------------------------------------------------------------
// Cleanup, also on signals

const { cleanups, run: runCleanups } = benchCleanups()
/**
 * log/zookeeper-log.ts's readEntries leaves some reads' rejections unhandled when one fails (seen
 * when the agents' sessions are closed while their followers read): count them instead of dying.
 */
let unhandled = 0
process.on("unhandledRejection", (reason) => {
  if (unhandled++ === 0) log(`  (unhandled rejection, counted and ignored from now on: ${String((reason as { reason?: string })?.reason ?? reason)})`)
})
/** Last resort when the process exits anyway: synchronous cleanups (temp dirs, child processes). */
const exitCleanups: Array<() => void> = []
process.on("exit", () => {
  for (const f of exitCleanups.splice(0)) {
    try {
      f()
    } catch {}
  }
})

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))



const api = async (url: string, method: string, body?: unknown): Promise<{ status: number; body: any; bytes: number }> => {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: res.status, body: parsed, bytes: Buffer.byteLength(text) }
}

const cpuOf = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6

// ---------------------------------------------------------------------------------------------
// One size

interface AgentAppends {
  relayed: number
  direct: number
  relayTimeouts: number
  relayFailures: number
  /** Relayed appends the master shed (503 OVERLOADED + Retry-After; nothing written). */
  relayShed: number
  /** One agent's last relay failure, as an example. */
  lastRelayFailure?: string | undefined
  outboxAppends: number
  outboxFailedAppends: number
  outboxRetries: number
  landedChecks: number
}
const appendsDelta = (a: AgentAppends, b: AgentAppends): AgentAppends =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, typeof v === "number" ? v - (a[k as keyof AgentAppends] as number) : v])) as unknown as AgentAppends

interface SizeResult {
  agents: number
  deployments: number
  sessions: number
  registrationS: number
  registered: number
  /** ZooKeeper during registration (agents' starts until every host is on the master, or the limit). */
  registration: { txns: number; refusedMultis: number; agentWrites: number; agentReads: number }
  /** Appends the agents made through the master, and by themselves. */
  agentAppends: AgentAppends
  rolloutS: number | undefined
  allRunning: boolean
  runningAtEnd: number
  /** RUNNING when the rollout's time limit struck (a size that did not finish). */
  runningAtLimit?: number
  runningViaApi: number
  deploysAckedS: number
  deployRatePerS: number
  deployLatencyMs: ReturnType<typeof distribution>
  deployRetries: number
  deployFailures: number
  events: number
  server: ServerCounters
  agentsOps: OpCounts
  masterOps: OpCounts
  agentFsyncs: number
  api: Record<string, { n: number; p50: number; p99: number; max: number; receivedP50?: number; receivedP99?: number; bytesP50: number; wireBytesP50?: number; errors: number; lastError?: string }>
  cpuSeconds: { agentsProcess: number; master: number; zookeeper: number }
  eventLoopDelayMs: { agents: { p50: number; p99: number; max: number }; master: { p50: number; p99: number; max: number } }
  memoryMiB: { agentsProcessRss: number; masterRss: number }
  timeline: Array<{ s: number; deployed: number; running: number }>
  /** RUNNING per second over RATE_WINDOW_S windows: the peak, and the lowest while reports were outstanding. */
  runningRate: RunningRate
  /** The agents' process event-loop delay p99 (ms) per 5 s of the rollout: whether the simulator starved itself. */
  agentsLoopP99Ms: number[]
}

interface RunningRate {
  windowS: number
  peakPerS: number
  minWhileOutstandingPerS: number
  /** min / peak: at least 0.1 is "never below a tenth of its peak"; undefined when the rollout was shorter than one window (no rate to compare). */
  minOverPeak: number | undefined
  /** When the lowest window started (s into the rollout). */
  minAtS: number | undefined
}

/**
 * RUNNING per second over sliding windows of `windowS` (the timeline has a point a second): the
 * peak, and the lowest among windows that start with reports outstanding (fewer RUNNING than
 * deployed). Windows before the first RUNNING are not counted (the rollout has not begun there).
 */
const runningRateOf = (timeline: ReadonlyArray<{ s: number; deployed: number; running: number }>, windowS: number): RunningRate => {
  let peak = 0
  let min = Number.POSITIVE_INFINITY
  let minAt: number | undefined
  let windows = 0
  let j = 0
  for (let i = 0; i < timeline.length; i++) {
    const a = timeline[i]!
    while (j < timeline.length && timeline[j]!.s < a.s + windowS) j++
    if (j >= timeline.length) break
    const b = timeline[j]!
    const rate = (b.running - a.running) / (b.s - a.s)
    windows++
    peak = Math.max(peak, rate)
    if (a.running > 0 && a.running < a.deployed && rate < min) {
      min = rate
      minAt = a.s
    }
  }
  if (!Number.isFinite(min)) min = peak
  return { windowS, peakPerS: round(peak, 1), minWhileOutstandingPerS: round(min, 1), minOverPeak: windows === 0 ? undefined : peak > 0 ? round(min / peak, 2) : 0, minAtS: minAt }
}

const runSize = async (n: number): Promise<SizeResult> => {
  const { atExit, run: runPartCleanups } = partCleanups(cleanups)
  try {
    const t00 = Date.now()
    const zkServer: ZooKeeperServer = await startZooKeeper({ fsync: true, maxHeap: "1g" })
    atExit(() => zkServer.destroy())
    if (ZK_CPUS !== undefined && zkServer.pid !== undefined) {
      execFileSync("taskset", ["-a", "-p", "-c", ZK_CPUS, String(zkServer.pid)], { stdio: "ignore" })
      log(`  ZooKeeper (pid ${zkServer.pid}) pinned to CPUs ${ZK_CPUS}`)
    }
    // FLEET_PROFILE=dir: CPU profile of the master process (node --cpu-prof).
    const profileDir = process.env["FLEET_PROFILE"]
    const masterArgs = [zkServer.connectString, ROOT, ...(RELAY_MAX_IN_FLIGHT !== undefined ? [RELAY_MAX_IN_FLIGHT] : [])]
    const master = child("fleet-master.ts", masterArgs, profileDir ? [...process.execArgv, "--cpu-prof", `--cpu-prof-dir=${profileDir}`] : process.execArgv)
    atExit(() => master.kill())
    exitCleanups.push(() => master.kill())
    const ready = await master.next("ready", 60_000)
    // This process (the simulated agents) yields the CPU to the others; processes forked after this
    // are set back to nice 0 (bench/fleet-agents.ts).
    if (AGENTS_NICE !== undefined) setPriority(AGENTS_NICE)
    const url = ready["url"] as string
    const timeline: Array<{ s: number; deployed: number; running: number }> = []

    // ---- agents --------------------------------------------------------------------------
    const stateBase = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "helios-bench-fleet-"))
    atExit(() => rmSync(stateBase, { recursive: true, force: true }))
    exitCleanups.push(() => rmSync(stateBase, { recursive: true, force: true }))
    const sessionCount = Math.ceil(n / AGENTS_PER_SESSION)
    const sessions: ZkClient[] = []
    atExit(async () => {
      for (const s of sessions) await s.close().catch(() => undefined)
    })
    for (let i = 0; i < sessionCount; i++) sessions.push(await connectSharedSession(zkServer.connectString, AGENTS_PER_SESSION))
    const agentCounts: OpCounts = {}
    const hosts = Array.from({ length: n }, (_, i) => `fleet-host-${String(i).padStart(5, "0")}`)
    const logs: EventLog[] = []
    const agents: Agent[] = []
    atExit(async () => {
      // After a failure: cut ZooKeeper first, so agents still retrying (registration) give up fast.
      for (const s of sessions) await s.close().catch(() => undefined)
      await mapLimit(agents.splice(0), 100, (a) => Promise.race([a.stop().catch(() => undefined), sleep(10_000)]))
      for (const l of logs) await l.close().catch(() => undefined)
    })
    const relays: MasterRelayLog[] = []
    const agentAppends = (): AgentAppends => {
      const outbox = agents.map((a) => a.outboxCounts())
      const sumO = (k: keyof ReturnType<Agent["outboxCounts"]>) => outbox.reduce((t, c) => t + c[k], 0)
      return {
        relayed: relays.reduce((a, r) => a + r.counts.relayed, 0),
        direct: relays.reduce((a, r) => a + r.counts.direct, 0),
        relayTimeouts: relays.reduce((a, r) => a + r.counts.timeouts, 0),
        relayFailures: relays.reduce((a, r) => a + r.counts.failures, 0),
        // A build before load shedding has no such count.
        relayShed: relays.reduce((a, r) => a + ((r.counts as { shed?: number }).shed ?? 0), 0),
        lastRelayFailure: relays.map((r) => (r as { lastFailure?: string }).lastFailure).find((f) => f !== undefined),
        outboxAppends: sumO("appends"),
        outboxFailedAppends: sumO("failedAppends"),
        outboxRetries: sumO("retries"),
        landedChecks: sumO("landedChecks"),
      }
    }
    const sReg0 = await serverCounters(zkServer.port)
    const tReg = Date.now()
    let registered = 0
    await mapLimit(hosts, 50, async (host, i) => {
      const session = sessions[i % sessionCount]!
      const zk = countingZk(session, agentCounts)
      const own = await openLog(zk)
      logs.push(own)
      const relayed = (direct: EventLog, h: HostName) => {
        const r = new MasterRelayLog({ direct, host: h, masters: async () => [url] })
        relays.push(r)
        return r
      }
      const agent = await startAgent({
        log: MODE === "relay" ? relayed(own, host as HostName) : own,
        hostInfo: new ZkHostInfoStore(zk, ROOT),
        runtime: new MemoryRuntime({ localImages: [IMAGE], registryImages: [IMAGE] }),
        zk: session,
        zkRoot: ROOT,
        hostName: host,
        stateDir: join(stateBase, host),
        ...SIMULATED_AGENT_SETTINGS,
      })
      agents.push(agent)
      void agent.registered.then(() => registered++)
    })
    // Registration: every agent registered and its host visible on the master, within the limit.
    let visible = 0
    const regDeadline = tReg + REGISTRATION_TIMEOUT_MS
    let lastNote = Date.now()
    while (Date.now() < regDeadline) {
      if (registered >= n) {
        const r = await api(`${url}/hosts`, "GET")
        visible = Array.isArray(r.body) ? r.body.length : 0
        if (visible >= n) break
      }
      if (Date.now() - lastNote > 10_000) {
        lastNote = Date.now()
        log(`    registration: ${registered} of ${n} agents after ${((Date.now() - tReg) / 1000).toFixed(0)} s`)
      }
      await sleep(100)
    }
    const registrationS = (Date.now() - tReg) / 1000
    const sReg1 = await serverCounters(zkServer.port)
    const registration = {
      txns: sReg1.txns - sReg0.txns,
      refusedMultis: agentCounts["multiRefused"] ?? 0,
      agentWrites: sumOf(agentCounts, WRITE_OPS),
      agentReads: sumOf(agentCounts, READ_OPS),
    }
    if (registered < n || visible < n) {
      log(`  registration NOT done after ${registrationS.toFixed(0)} s: ${registered} of ${n} agents registered; skipping the rollout`)
      const s1 = await serverCounters(zkServer.port).catch(() => undefined)
      return {
        agents: n, deployments: n * JOBS, sessions: sessionCount, registrationS: round(registrationS, 1), registered, registration, agentAppends: agentAppends(),
        rolloutS: undefined, allRunning: false, runningAtEnd: 0, runningViaApi: 0, deploysAckedS: Number.NaN, deployRatePerS: Number.NaN,
        deployLatencyMs: distribution([]), deployRetries: 0, deployFailures: 0, events: 0,
        server: s1 ?? { txns: 0, znodes: 0, fsyncs: 0, updates: 0, packetsReceived: 0, packetsSent: 0 },
        agentsOps: { ...agentCounts }, masterOps: {}, agentFsyncs: fsyncs, api: {},
        cpuSeconds: { agentsProcess: Number.NaN, master: Number.NaN, zookeeper: Number.NaN },
        eventLoopDelayMs: { agents: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN }, master: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN } },
        memoryMiB: { agentsProcessRss: Math.round(process.memoryUsage().rss / 1024 / 1024), masterRss: Number.NaN },
        timeline: [],
        runningRate: runningRateOf([], RATE_WINDOW_S),
        agentsLoopP99Ms: [],
      }
    }
    log(`  ${n} agents registered and visible on the master in ${registrationS.toFixed(1)} s (${sessionCount} ZooKeeper session(s) for the agents)`)

    // ---- jobs ----------------------------------------------------------------------------
    const jobIds: string[] = []
    for (let j = 0; j < JOBS; j++) {
      const r = await api(`${url}/jobs`, "POST", { id: `fleet-job-${j}:v1`, image: IMAGE, ports: { http: { internalPort: 80, protocol: "tcp" } } })
      if (r.status !== 200) throw new Error(`POST /jobs: ${r.status} ${JSON.stringify(r.body)}`)
      jobIds.push(r.body.id as string)
    }

    // ---- clients -------------------------------------------------------------------------
    const sampler = child("fleet-client.ts", ["sample"])
    atExit(() => sampler.kill())
    const deployer = child("fleet-client.ts", ["deploy"])
    atExit(() => deployer.kill())
    exitCleanups.push(() => sampler.kill(), () => deployer.kill())
    await sampler.next("ready", 30_000)
    await deployer.next("ready", 30_000)

    // ---- rollout -------------------------------------------------------------------------
    await sleep(500) // let registration's after-effects (host info writes) settle before counting
    const s0 = await serverCounters(zkServer.port)
    for (const k of Object.keys(agentCounts)) delete agentCounts[k]
    const appends0 = agentAppends()
    master.send({ type: "reset" })
    fsyncs = 0
    const cpu0 = process.cpuUsage()
    const zkCpu0 = processCpuSeconds(zkServer.pid ?? 0)
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const deployments = n * JOBS
    master.send({ type: "watch", target: deployments })
    sampler.send({
      type: "sample",
      url,
      endpoints: [
        { name: "GET /jobs", method: "GET", path: "/jobs", periodMs: 100, gzip: true },
        { name: "GET /hosts", method: "GET", path: "/hosts", periodMs: 100, gzip: true },
        { name: `GET /jobs/{id}/status (1 job × ${n} hosts)`, method: "GET", path: `/jobs/${encodeURIComponent(jobIds[0]!)}/status`, periodMs: 250, gzip: true },
        // Every 250 ms, as a job's status: sampled once a second, the p99 of a 30 s rollout was its worst sample.
        { name: `POST /jobs/statuses (${JOBS} jobs × ${n} hosts)`, method: "POST", path: "/jobs/statuses", body: JSON.stringify(jobIds), periodMs: 250, gzip: true },
        // FLEET_SAMPLE_IDENTITY=1: also the same answer for a client that does not ask for gzip
        // (Helios's Java client): 4 to 8 MB a second more through the master, which slows the others.
        ...(!process.env["FLEET_SAMPLE_IDENTITY"] ? [] : [{ name: `POST /jobs/statuses without gzip (${JOBS} jobs × ${n} hosts)`, method: "POST", path: "/jobs/statuses", body: JSON.stringify(jobIds), periodMs: 1000 }]),
      ],
    })
    const t0 = Date.now()
    master.on((m) => {
      if (m.type !== "progress") return false
      timeline.push({ s: round((m["at"] - t0) / 1000, 1), deployed: m["deployed"], running: m["running"] })
      return true
    })
    deployer.send({ type: "deploy", url, hosts, jobIds, concurrency: DEPLOY_CONCURRENCY })
    let rolloutS: number | undefined
    let allRunning = false
    let runningAtLimit: number | undefined
    // The simulator's own event loop per 5 s: a starving simulator would show here, not in the product's figures.
    const tickLoop = monitorEventLoopDelay({ resolution: 10 })
    tickLoop.enable()
    const agentsLoopP99Ms: number[] = []
    const ticker = setInterval(() => {
      agentsLoopP99Ms.push(round(tickLoop.percentile(99) / 1e6, 0))
      tickLoop.reset()
      const last = timeline[timeline.length - 1]
      const c = appendsDelta(appends0, agentAppends())
      if (last)
        log(
          `    ${last.s.toFixed(0).padStart(4)} s: ${last.deployed} deployed, ${last.running} RUNNING (of ${deployments}); agents: ${c.relayed} relayed, ${c.relayShed} shed, ` +
            `${c.direct} direct, ${c.relayTimeouts} relay time-outs, ${c.relayFailures} relay failures, ${c.outboxRetries} retries, ${c.landedChecks} landed checks, ` +
            `${agentCounts["multiRefused"] ?? 0} refused multis; agents' loop p99 ${agentsLoopP99Ms[agentsLoopP99Ms.length - 1]} ms`,
        )
    }, 5_000)
    try {
      const done = await master.next("allRunning", ROLLOUT_TIMEOUT_MS)
      rolloutS = (done["at"] - t0) / 1000
      allRunning = true
    } catch {
      const last = timeline[timeline.length - 1]
      runningAtLimit = last?.running ?? 0
      log(`  size ${n} did not finish: ${last?.running ?? 0} of ${deployments} RUNNING at ${ROLLOUT_TIMEOUT_MS / 1000} s (${last?.deployed ?? 0} deployed)`)
    } finally {
      clearInterval(ticker)
      tickLoop.disable()
    }
    // A size that did not finish: the agents stop talking to ZooKeeper now (their counts are kept),
    // so nothing keeps the CPU busy while the figures are collected.
    const appendsAtEnd = appendsDelta(appends0, agentAppends())
    const agentsOpsAtEnd = { ...agentCounts }
    if (!allRunning) for (const s of sessions) await s.close().catch(() => undefined)
    const deployed = await deployer.next("deployed", allRunning ? 60_000 : 1_000).catch(() => undefined)
    sampler.send({ type: "stop" })
    const samples = await sampler.next("samples", allRunning ? 120_000 : 15_000).catch(() => ({ byEndpoint: {} }) as Record<string, any>)
    loop.disable()
    if (process.env["FLEET_DUMP"]) fs.writeFileSync(process.env["FLEET_DUMP"], JSON.stringify({ t0, samples, timeline }))
    const cpuAgents = cpuOf(process.cpuUsage(cpu0))
    const zkCpu = processCpuSeconds(zkServer.pid ?? 0) - zkCpu0
    const s1 = await serverCounters(zkServer.port)
    master.send({ type: "stats" })
    const mstats = await master.next("stats", 30_000)
    const agentFsyncs = fsyncs
    const agentsOps = allRunning ? { ...agentCounts } : agentsOpsAtEnd

    // Check through the API what the projection said.
    const statuses = await api(`${url}/jobs/statuses`, "POST", jobIds).catch(() => ({ body: {} }))
    let runningViaApi = 0
    for (const s of Object.values((statuses.body ?? {}) as Record<string, { taskStatuses?: Record<string, { state: string }> }>))
      for (const t of Object.values(s.taskStatuses ?? {})) if (t.state === "RUNNING") runningViaApi++

    const api_: SizeResult["api"] = {}
    for (const [name, x] of Object.entries(samples["byEndpoint"] as Record<string, { latencies: number[]; receivedMs?: number[]; bytes: number[]; wireBytes: number[]; errors: number; lastError?: string }>))
      api_[name] = {
        n: x.latencies.length,
        p50: round(percentile(x.latencies, 50), 1),
        p99: round(percentile(x.latencies, 99), 1),
        max: round(Math.max(...x.latencies), 1),
        ...(x.receivedMs !== undefined ? { receivedP50: round(percentile(x.receivedMs, 50), 1), receivedP99: round(percentile(x.receivedMs, 99), 1) } : {}),
        bytesP50: Math.round(percentile(x.bytes, 50)),
        wireBytesP50: Math.round(percentile(x.wireBytes, 50)),
        errors: x.errors,
        ...(x.lastError !== undefined ? { lastError: x.lastError } : {}),
      }
    const latencies = (deployed?.["latencies"] as number[] | undefined) ?? []
    const deploysAckedS = deployed ? (deployed["lastAckAt"] - t0) / 1000 : Number.NaN
    const result: SizeResult = {
      agents: n,
      deployments,
      sessions: sessionCount,
      registrationS: round(registrationS, 1),
      registered,
      registration,
      agentAppends: allRunning ? appendsDelta(appends0, agentAppends()) : appendsAtEnd,
      rolloutS: rolloutS === undefined ? undefined : round(rolloutS, 2),
      allRunning,
      runningAtEnd: mstats["running"],
      ...(runningAtLimit !== undefined ? { runningAtLimit } : {}),
      runningViaApi,
      deploysAckedS: round(deploysAckedS, 2),
      deployRatePerS: round(deployments / deploysAckedS),
      deployLatencyMs: distribution(latencies.filter((x) => x !== undefined && x !== null)),
      deployRetries: deployed?.["retries"] ?? 0,
      deployFailures: deployed?.["failureCount"] ?? 0,
      events: mstats["applied"],
      server: counterDelta(s0, s1),
      agentsOps,
      masterOps: mstats["counts"],
      agentFsyncs,
      api: api_,
      cpuSeconds: { agentsProcess: round(cpuAgents, 1), master: round(mstats["cpuSeconds"], 1), zookeeper: round(zkCpu, 1) },
      eventLoopDelayMs: {
        agents: { p50: round(loop.percentile(50) / 1e6, 1), p99: round(loop.percentile(99) / 1e6, 1), max: round(loop.max / 1e6, 1) },
        master: { p50: round(mstats["eventLoopDelayMs"].p50, 1), p99: round(mstats["eventLoopDelayMs"].p99, 1), max: round(mstats["eventLoopDelayMs"].max, 1) },
      },
      memoryMiB: { agentsProcessRss: Math.round(process.memoryUsage().rss / 1024 / 1024), masterRss: mstats["rssMiB"] },
      timeline,
      runningRate: runningRateOf(timeline, RATE_WINDOW_S),
      agentsLoopP99Ms,
    }
    const rr = result.runningRate
    if (rr.minOverPeak === undefined) log(`  RUNNING rate: the rollout took less than one ${RATE_WINDOW_S} s window, so there is no rate to compare`)
    else
      log(`  RUNNING rate (${RATE_WINDOW_S} s windows): peak ${rr.peakPerS}/s, lowest while reports were outstanding ${rr.minWhileOutstandingPerS}/s${rr.minAtS !== undefined ? ` (at ${rr.minAtS} s)` : ""}: ${rr.minOverPeak} of the peak (${rr.minOverPeak >= 0.1 ? "never below a tenth" : "FELL BELOW A TENTH"})`)
    if (deployed && deployed["failureCount"] > 0) log(`  ${deployed["failureCount"]} deploys failed, e.g. ${JSON.stringify(deployed["failures"][0])}`)

    // ---- teardown ------------------------------------------------------------------------
    const tDown = Date.now()
    sampler.send({ type: "exit" })
    deployer.send({ type: "exit" })
    if (!allRunning) {
      // Nothing to wait for: the agents are cut from ZooKeeper; stop them without waiting long.
      master.kill()
      await mapLimit(agents.splice(0), 100, (a) => Promise.race([a.stop().catch(() => undefined), sleep(2_000)]))
    } else {
      await mapLimit(agents.splice(0), 100, (a) => a.stop().catch(() => undefined))
      master.send({ type: "stop" })
      await master.next("stopped", 30_000).catch(() => master.kill())
    }
    await master.waitExit(10_000)
    log(`  teardown ${((Date.now() - tDown) / 1000).toFixed(1)} s; this size took ${((Date.now() - t00) / 1000).toFixed(0)} s in all`)
    return result
  } finally {
    await runPartCleanups()
  }
}

// ---------------------------------------------------------------------------------------------

const main = async () => {
  const busy = await waitForQuiet(30_000)
  const m = machine()
  log(`bench/fleet (FLEET_LOG=${MODE}): sizes ${SIZES.join(", ")} agents × ${JOBS} deployments; CPU busy before start ${Math.round(busy * 100)}%`)
  log(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}, ZooKeeper ${m.zookeeper}`)
  const t0 = Date.now()
  const results: SizeResult[] = []
  for (const n of SIZES) {
    log(`\n== ${n} agents × ${JOBS} deployments`)
    results.push(await runSize(n))
  }
  const seconds = round((Date.now() - t0) / 1000, 1)

  // ---- tables ----------------------------------------------------------------------------
  const per = (x: number, r: SizeResult) => round(x / r.deployments, 2)
  const writesOf = (c: OpCounts) => sumOf(c, WRITE_OPS)
  const readsOf = (c: OpCounts) => sumOf(c, READ_OPS)
  log(`\nFleet rollout (${seconds} s in all; machine: ${m.cpuModel}, ${m.cores} cores)`)
  log(
    table(
      ["agents", "deployments", "registered", "registration s", "all RUNNING s", "acked s", "deploys/s", "PUT p50 ms", "PUT p99 ms", "retries", "failed", "RUNNING (API)"],
      results.map((r) => [
        r.agents,
        r.deployments,
        r.registered,
        r.registrationS,
        r.rolloutS ?? (r.registered < r.agents ? "not started" : `not done (${r.runningAtEnd})`),
        Number.isFinite(r.deploysAckedS) ? r.deploysAckedS : "",
        Number.isFinite(r.deployRatePerS) ? r.deployRatePerS : "",
        r.deployLatencyMs.n > 0 ? r.deployLatencyMs.p50 : "",
        r.deployLatencyMs.n > 0 ? r.deployLatencyMs.p99 : "",
        r.deployRetries,
        r.deployFailures,
        r.runningViaApi,
      ]),
    ),
  )
  log(`\nGraceful under overload: the agents' appends during the rollout, and the RUNNING rate (${RATE_WINDOW_S} s windows)`)
  log(
    table(
      ["agents", "relayed", "shed (503)", "direct", "relay time-outs", "relay failures", "outbox retries", "landed checks", "refused multis", "RUNNING/s peak", "lowest while outstanding", "lowest / peak", "agents' loop p99 ms (worst 5 s)"],
      results.map((r) => [
        r.agents,
        r.agentAppends.relayed,
        r.agentAppends.relayShed,
        r.agentAppends.direct,
        r.agentAppends.relayTimeouts,
        r.agentAppends.relayFailures,
        r.agentAppends.outboxRetries,
        r.agentAppends.landedChecks,
        (r.agentsOps["multiRefused"] ?? 0) + (r.masterOps["multiRefused"] ?? 0),
        r.runningRate.peakPerS,
        r.runningRate.minWhileOutstandingPerS,
        r.runningRate.minOverPeak ?? "(< 1 window)",
        r.agentsLoopP99Ms.length > 0 ? Math.max(...r.agentsLoopP99Ms) : "",
      ]),
    ),
  )
  for (const r of results) if (r.agentAppends.lastRelayFailure !== undefined) log(`size ${r.agents}: an agent's last relay failure: ${r.agentAppends.lastRelayFailure.slice(0, 300)}`)
  for (const r of results) if (!r.allRunning && r.registered >= r.agents) log(`size ${r.agents} did not finish: ${r.runningAtLimit ?? r.runningAtEnd} of ${r.deployments} RUNNING at ${ROLLOUT_TIMEOUT_MS / 1000} s`)
  log(`\nRegistration (every agent starts at once, 50 starting at a time): ZooKeeper write transactions and refused multis`)
  log(
    table(
      ["agents", "registered", "seconds", "write txns", "txns / agent", "refused multis / agent", "agents' reads / agent"],
      results.map((r) => [r.agents, r.registered, r.registrationS, r.registration.txns, round(r.registration.txns / Math.max(1, r.agents), 1), round(r.registration.refusedMultis / Math.max(1, r.agents), 1), round(r.registration.agentReads / Math.max(1, r.agents), 1)]),
    ),
  )
  log(`\nZooKeeper per deployment (the rollout only; a deployment = 1 JobDeployed + the agent's task transitions)`)
  log(
    table(
      ["agents", "events", "write txns (zxid)", "znodes", "ZK fsyncs", "agents' writes", "refused multis", "master writes", "agents' reads", "master reads", "agent fsyncs"],
      results.filter((r) => r.registered >= r.agents).map((r) => [
        r.agents,
        per(r.events, r),
        per(r.server.txns, r),
        per(r.server.znodes, r),
        per(r.server.fsyncs, r),
        per(writesOf(r.agentsOps), r),
        per(r.agentsOps["multiRefused"] ?? 0, r) + per(r.masterOps["multiRefused"] ?? 0, r),
        per(writesOf(r.masterOps), r),
        per(readsOf(r.agentsOps), r),
        per(readsOf(r.masterOps), r),
        per(r.agentFsyncs, r),
      ]),
    ),
  )
  const endpoints = [...new Set(results.flatMap((r) => Object.keys(r.api).map((k) => k.replace(/ \(.*\)$/, ""))))]
  /** A table with a row per size and a column per endpoint, each cell what `cell` says of its samples (empty where none). */
  const endpointTable = (cell: (x: SizeResult["api"][string]) => string) =>
    table(
      ["agents", ...endpoints],
      results.map((r) => [
        r.agents,
        ...endpoints.map((e) => {
          const x = Object.entries(r.api).find(([k]) => k.replace(/ \(.*\)$/, "") === e)?.[1]
          return x ? cell(x) : ""
        }),
      ]),
    )
  log(`\nMaster API latency sampled during the rollout, until the answer was read and decoded (ms; p50 / p99; response size p50, → as sent gzip-compressed)`)
  log(
    endpointTable(
      (x) =>
        `${x.p50} / ${x.p99} (${Math.round(x.bytesP50 / 1024)}${x.wireBytesP50 !== undefined && x.wireBytesP50 < x.bytesP50 * 0.9 ? ` → ${Math.round(x.wireBytesP50 / 1024)}` : ""} KiB, n=${x.n}${x.errors ? `, ${x.errors} errors` : ""})`,
    ),
  )
  // A sample that failed is left out of the latencies: say what it was, so a failure is seen, not averaged away.
  for (const r of results)
    for (const [name, x] of Object.entries(r.api)) if (x.errors > 0) log(`  ${r.agents} agents, ${name}: ${x.errors} failed; the last: ${x.lastError ?? "?"}`)
  log(`\nThe same requests until their last byte arrived (ms; p50 / p99; what the target judges): the rest of a latency above is the client decoding the answer (gunzip, UTF-8)`)
  log(endpointTable((x) => (x.receivedP50 !== undefined ? `${x.receivedP50} / ${x.receivedP99}` : "")))
  log(`\nWhere the CPU went during the rollout (seconds) and event-loop delay (p99 / max ms)`)
  log(
    table(
      ["agents", "agents' process CPU", "master CPU", "ZooKeeper CPU", "agents' loop p99", "agents' loop max", "master loop p99", "master loop max", "agents' RSS MiB", "master RSS MiB"],
      results.map((r) => [r.agents, r.cpuSeconds.agentsProcess, r.cpuSeconds.master, r.cpuSeconds.zookeeper, r.eventLoopDelayMs.agents.p99, r.eventLoopDelayMs.agents.max, r.eventLoopDelayMs.master.p99, r.eventLoopDelayMs.master.max, r.memoryMiB.agentsProcessRss, r.memoryMiB.masterRss]),
    ),
  )

  // ---- growth ----------------------------------------------------------------------------
  const growth: Record<string, number> = {}
  const done = results.filter((r) => r.allRunning)
  const first = done[0]
  const last = done[done.length - 1]
  if (first && last && last.agents > first.agents) {
    const exp = (a: number, b: number) => round(Math.log(b / a) / Math.log(last.agents / first.agents), 2)
    if (first.rolloutS !== undefined && last.rolloutS !== undefined) growth["rolloutTime"] = exp(first.rolloutS, last.rolloutS)
    growth["zkTxnsPerDeployment"] = exp(first.server.txns / first.deployments, last.server.txns / last.deployments)
    growth["readsPerDeployment"] = exp((readsOf(first.agentsOps) + readsOf(first.masterOps)) / first.deployments, (readsOf(last.agentsOps) + readsOf(last.masterOps)) / last.deployments)
    growth["cpuPerDeployment"] = exp(
      (first.cpuSeconds.agentsProcess + first.cpuSeconds.master + first.cpuSeconds.zookeeper) / first.deployments,
      (last.cpuSeconds.agentsProcess + last.cpuSeconds.master + last.cpuSeconds.zookeeper) / last.deployments,
    )
    for (const e of endpoints) {
      const a = Object.entries(first.api).find(([k]) => k.startsWith(e))?.[1]
      const b = Object.entries(last.api).find(([k]) => k.startsWith(e))?.[1]
      if (a && b) growth[`api p99 ${e}`] = exp(a.p99, b.p99)
    }
    log(`\nGrowth from ${first.agents} to ${last.agents} agents, as the exponent k of N^k (1 = linear in the fleet size, 0 = flat):`)
    log(table(["cost", "k"], Object.entries(growth).map(([k, v]) => [k, v])))
  }

  // ---- summary ---------------------------------------------------------------------------
  const summary: SummaryLine[] = []
  const biggest = results[results.length - 1]
  if (biggest && biggest !== last)
    summary.push(line(`fleet ${biggest.agents}×${JOBS}: all RUNNING (${biggest.registered < biggest.agents ? `registration not done: ${biggest.registered} of ${biggest.agents} in ${biggest.registrationS} s` : `not done: ${biggest.runningAtEnd} RUNNING`})`, Number.POSITIVE_INFINITY, "s", { op: "<=", value: TARGET_ROLLOUT_S }))
  if (biggest && biggest !== last && biggest.registered >= biggest.agents && biggest.runningRate.minOverPeak !== undefined)
    summary.push(line(`fleet ${biggest.agents}×${JOBS}: lowest RUNNING rate while reports outstanding / peak`, biggest.runningRate.minOverPeak, "", { op: ">=", value: 0.1 }))
  if (last) {
    summary.push(line(`fleet ${last.agents}×${JOBS}: all RUNNING`, last.rolloutS ?? Number.POSITIVE_INFINITY, "s", { op: "<=", value: TARGET_ROLLOUT_S }))
    if (last.runningRate.minOverPeak !== undefined)
      summary.push(line(`fleet ${last.agents}×${JOBS}: lowest RUNNING rate while reports outstanding / peak`, last.runningRate.minOverPeak, "", { op: ">=", value: 0.1 }))
    summary.push(line(`fleet ${last.agents}×${JOBS}: ZooKeeper write txns / deployment`, round(last.server.txns / last.deployments, 2), "txns"))
    for (const [name, x] of Object.entries(last.api)) {
      summary.push(line(`fleet ${last.agents}: API p99 ${name}`, apiP99(x), "ms", { op: "<=", value: TARGET_P99_MS }))
      if (x.receivedP99 !== undefined && x.p99 - x.receivedP99 >= 1) summary.push(line(`fleet ${last.agents}: API p99 ${name} with the client's decoding`, x.p99, "ms"))
    }
  }
  // Ours against the baselines the issue sets (the targets), per size.
  log(`\nOurs against the targets (machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}, ZooKeeper ${m.zookeeper}; FLEET_LOG=${MODE})`)
  const vsRows: unknown[][] = []
  for (const r of results) {
    const t = r.rolloutS ?? Number.POSITIVE_INFINITY
    vsRows.push([r.agents, `all ${r.deployments} RUNNING (s)`, r.rolloutS ?? (r.registered < r.agents ? `registration not done (${r.registered}/${r.agents} in ${r.registrationS} s)` : `not done (${r.runningAtEnd} RUNNING)`), TARGET_ROLLOUT_S, Number.isFinite(t) ? round(t / TARGET_ROLLOUT_S, 2) : "∞"])
    for (const [name, x] of Object.entries(r.api)) vsRows.push([r.agents, `API p99 ${name} (ms)`, apiP99(x), TARGET_P99_MS, round(apiP99(x) / TARGET_P99_MS, 2)])
  }
  log(table(["agents", "metric", "ours", "baseline (target)", "ratio"], vsRows))
  log("")
  log(summaryTable(summary))
  const file = writeResult(RESULT_NAME, {
    config: {
      log: MODE,
      sizes: SIZES,
      jobsPerAgent: JOBS,
      agentsPerZooKeeperSession: AGENTS_PER_SESSION,
      logInstances: "one ZooKeeperEventLog per agent (own cursors and followers), sessions shared by 125 agents",
      agentStateDirs: existsSync("/dev/shm") ? "/dev/shm (tmpfs); fsyncs counted" : tmpdir(),
      deployConcurrency: DEPLOY_CONCURRENCY,
      master: "own process (bench/fleet-master.ts); RUNNING counted from its projection",
      apiSampling: "own process (bench/fleet-client.ts), one request at a time per endpoint, asking for gzip as fetch does; /jobs and /hosts every 100 ms, /jobs/{id}/status and /jobs/statuses (all jobs) every 250 ms (and /jobs/statuses without gzip every 1 s with FLEET_SAMPLE_IDENTITY=1); the target judges a latency until the answer's last byte arrived, the client's decoding reported beside it",
      zookeeper: "private, fsync on (forceSync=yes), 1 GiB heap",
      agentTimers: "reconcile, host-info refresh, supervisor monitor poll: every 10 min",
      zookeeperCpus: ZK_CPUS ?? "any",
      agentsNice: AGENTS_NICE ?? 0,
      relayMaxInFlight: RELAY_MAX_IN_FLIGHT ?? "the master's default",
      cpuBusyBeforeStart: round(busy, 2),
    },
    seconds,
    unhandledRejections: unhandled,
    sizes: results,
    growth,
    summary,
  })
  log(`\nwrote ${file}`)
}

await runBench("fleet", main, runCleanups)
