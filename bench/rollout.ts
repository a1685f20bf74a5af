/**
 * Rolling updates over a simulated fleet: N in-memory agents (bench/fleet-agents.ts, labelled
 * role=bench), a real master in its own process (bench/fleet-master.ts: its leader runs the
 * rollouts) and a private, fsync'ing ZooKeeper. One deployment group selects every host. Per size:
 *
 *   initial      rolling-update of job v0 at parallelism 100 over hosts with nothing deployed
 *                (deploy + await RUNNING; not compared, it sets the fleet up)
 *   par 1/10/100 rolling-update v0→v1, v1→v2, v2→v3 (each host: undeploy the old version, deploy
 *                the new one, await RUNNING), parallelism 1, 10 and 100
 *   baselines    the same replacement v3→v4 (resp. v4→v5) host by host through the HTTP API from a
 *                client process, one request at a time:
 *                  one-by-one         DELETE old + PUT new per host, never waiting (the API's own
 *                                     cost: every task RUNNING is waited for at the end)
 *                  one-by-one + wait  the same, then polls GET /hosts/{h}/status every 5 ms until the
 *                                     new task is RUNNING before the next host (what parallelism 1
 *                                     does, as a script would); only where projected to take at
 *                                     most ROLLOUT_WAIT_BUDGET_S (60 s), to keep the run short
 *
 * Measured per phase: time until the rollout finished ACTIVE (RolloutFinished applied by the master)
 * or, for the baselines, until every new task is RUNNING in the master's projection; time per step
 * and per host; AWAIT_RUNNING step durations from the log's timestamps; ZooKeeper write transactions
 * per host (server side: srvr's zxid; fsyncs from mntr), the master's and agents' requests; events
 * per host by type; CPU of each process. Sizes show how each cost grows.
 *
 *   npx tsx bench/rollout.ts                      sizes 100, 300, 1000
 *   ROLLOUT_SIZES=1000 npx tsx bench/rollout.ts   one size (→ results/rollout-1000.json)
 *   BENCH_QUICK=1 npx tsx bench/rollout.ts        sizes 20, 50 (→ $TMPDIR/helios-bench-quick)
 */
import { existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { startZooKeeper, type ZooKeeperServer } from "../test/zookeeper.ts"
import { forkChild, startFleetAgents, type FleetAgents, type ForkedChild, type Message } from "./fleet-agents.ts"
import { counterDelta, processCpuSeconds, READ_OPS, serverCounters, sumOf, WRITE_OPS, type OpCounts, type ServerCounters } from "./fleet-zk.ts"
import { benchCleanups, partCleanups, distribution, line, log, machine, round, runBench, summaryTable, table, waitForQuiet, writeResult, type Distribution, type SummaryLine } from "./lib.ts"

const QUICK = process.env["BENCH_QUICK"] === "1"
const SIZES = (process.env["ROLLOUT_SIZES"] ?? (QUICK ? "20,50" : "100,300,1000")).split(",").map(Number)
const PARALLELISMS = [1, 10, 100]
const ROOT = "/helios"
const IMAGE = "helios-test/web:latest"
const GROUP = "bench"
/** A phase gets this long (parallelism 1 over 1,000 hosts is the longest). */
const PHASE_TIMEOUT_MS = Number(process.env["ROLLOUT_PHASE_TIMEOUT_S"] ?? 240) * 1000
const REGISTRATION_TIMEOUT_MS = 90_000
/** Step timeout of the rollouts: long enough never to fire here (a failure is reported, not timed). */
const STEP_TIMEOUT_S = 600
/**
 * The whole run should stay within a few minutes on the 2-core machine: a parallelism-1 phase whose
 * projected time (from the sizes before it) would exceed this is scaled down, and the reason printed.
 */
const PAR1_BUDGET_S = Number(process.env["ROLLOUT_PAR1_BUDGET_S"] ?? 150)
/** The waiting baseline runs only where projected (from parallelism 1) to take at most this long. */
const WAIT_BASELINE_BUDGET_S = Number(process.env["ROLLOUT_WAIT_BUDGET_S"] ?? 60)
const RESULT_NAME = `rollout${process.env["ROLLOUT_SIZES"] ? `-${SIZES.join("-")}` : QUICK ? "-quick" : ""}`

const { cleanups, run: runCleanups } = benchCleanups()
const exitCleanups: Array<() => void> = []
process.on("exit", () => {
  for (const f of exitCleanups.splice(0)) {
    try {
      f()
    } catch {}
  }
})
let unhandled = 0
process.on("unhandledRejection", (reason) => {
  if (unhandled++ === 0) log(`  (unhandled rejection, counted and ignored from now on: ${String((reason as { reason?: string })?.reason ?? reason)})`)
})

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

const api = async (url: string, method: string, body?: unknown): Promise<{ status: number; body: any }> => {
  const res = await fetch(url, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: res.status, body: parsed }
}

const ok = async (url: string, method: string, body?: unknown): Promise<any> => {
  const r = await api(url, method, body)
  if (r.status !== 200) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

// ---------------------------------------------------------------------------------------------
// Phases

type PhaseKind = "rollout" | "baseline"

interface PhaseResult {
  readonly name: string
  readonly kind: PhaseKind
  readonly hosts: number
  readonly parallelism?: number
  /** Until RolloutFinished ACTIVE (rollouts) or every new task RUNNING (baselines), from the request. */
  readonly seconds: number | undefined
  readonly done: boolean
  readonly status?: string
  readonly error?: string
  readonly steps?: number
  /** Appends of the rollout (its start and each AdvanceRollout batch). */
  readonly batches?: number
  readonly msPerHost: number | undefined
  readonly msPerStep: number | undefined
  /** Step durations by kind, from the events' timestamps (ms). */
  readonly stepMs?: Record<string, Distribution>
  /** Baselines: time per host as the client saw it (requests, and the wait when it waited). */
  readonly clientMsPerHost?: Distribution
  readonly failures: number
  readonly server: ServerCounters
  readonly masterOps: OpCounts
  readonly agentOps: OpCounts
  readonly events: number
  readonly eventsByType: Record<string, number>
  readonly cpuSeconds: { agentsProcess: number; master: number; zookeeper: number }
}

interface SizeResult {
  readonly hosts: number
  readonly registrationS: number
  readonly registered: number
  readonly phases: PhaseResult[]
  /** Why a phase was left out, if one was. */
  readonly skipped: string[]
}

interface Fleet {
  readonly n: number
  readonly url: string
  readonly zk: ZooKeeperServer
  readonly master: ForkedChild
  readonly client: ForkedChild
  readonly agents: FleetAgents
  readonly agentCounts: OpCounts
  readonly hosts: string[]
  readonly jobs: string[]
}

/** Runs one phase with the counters zeroed before and read after. */
const measured = async (
  f: Fleet,
  name: string,
  kind: PhaseKind,
  body: () => Promise<{ seconds: number | undefined; done: boolean; extra: Partial<PhaseResult> }>,
): Promise<PhaseResult> => {
  await sleep(500) // let the previous phase's after-effects (late reports, the leader's round) settle
  const s0 = await serverCounters(f.zk.port)
  for (const k of Object.keys(f.agentCounts)) delete f.agentCounts[k]
  f.master.send({ type: "reset" })
  const cpu0 = process.cpuUsage()
  const zkCpu0 = processCpuSeconds(f.zk.pid ?? 0)
  const r = await body()
  const s1 = await serverCounters(f.zk.port)
  const cpu = process.cpuUsage(cpu0)
  const zkCpu = processCpuSeconds(f.zk.pid ?? 0) - zkCpu0
  f.master.send({ type: "stats" })
  const stats = await f.master.next("stats", 30_000)
  const steps = r.extra.steps
  return {
    name,
    kind,
    hosts: f.n,
    seconds: r.seconds === undefined ? undefined : round(r.seconds, 2),
    done: r.done,
    msPerHost: r.seconds === undefined ? undefined : round((r.seconds * 1000) / f.n, 1),
    msPerStep: r.seconds === undefined || steps === undefined || steps === 0 ? undefined : round((r.seconds * 1000) / steps, 2),
    failures: 0,
    server: counterDelta(s0, s1),
    masterOps: stats["counts"],
    agentOps: { ...f.agentCounts },
    events: stats["applied"],
    eventsByType: stats["byType"],
    cpuSeconds: { agentsProcess: round((cpu.user + cpu.system) / 1e6, 1), master: round(stats["cpuSeconds"], 1), zookeeper: round(zkCpu, 1) },
    ...r.extra,
  }
}

/** A rolling update of `job` at `parallelism`, until the master has applied its end. */
const rolloutPhase = (f: Fleet, name: string, job: string, parallelism: number): Promise<PhaseResult> =>
  measured(f, name, "rollout", async () => {
    f.master.send({ type: "watchRollout", group: GROUP })
    const t0 = Date.now()
    await ok(`${f.url}/deployment-group/${GROUP}/rolling-update`, "POST", { job, rolloutOptions: { parallelism, timeout: STEP_TIMEOUT_S } })
    const ticker = setInterval(() => log(`    ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s: ${name} rolling out`), 10_000)
    try {
      const d = await f.master.next("rolloutDone", PHASE_TIMEOUT_MS)
      const seconds = (d["at"] - t0) / 1000
      const stepMs = Object.fromEntries(Object.entries(d["stepMs"] as Record<string, number[]>).map(([k, v]) => [k, distribution(v)]))
      if (d["hosts"] !== f.n) log(`  !! the rollout planned ${d["hosts"]} hosts, not ${f.n}`)
      return {
        seconds,
        done: d["status"] === "ACTIVE",
        extra: { parallelism, status: d["status"], ...(d["error"] ? { error: d["error"] } : {}), steps: d["steps"], batches: d["batches"], stepMs, failures: d["failures"] },
      }
    } catch (e) {
      log(`  ${name} did not finish: ${String(e)}`)
      return { seconds: undefined, done: false, extra: { parallelism, status: "TIMED OUT" } }
    } finally {
      clearInterval(ticker)
    }
  })

/** Host by host through the API from the client process; until every new task is RUNNING. */
const baselinePhase = (f: Fleet, name: string, undeployJob: string, deployJob: string, waitRunning: boolean): Promise<PhaseResult> =>
  measured(f, name, "baseline", async () => {
    f.master.send({ type: "watchJob", jobId: deployJob, target: f.n })
    const t0 = Date.now()
    f.client.send({ type: "replace", url: f.url, hosts: f.hosts, undeployJob, deployJob, waitRunning })
    const ticker = setInterval(() => log(`    ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s: ${name}`), 10_000)
    try {
      const replaced = await f.client.next("replaced", PHASE_TIMEOUT_MS)
      if (replaced["failureCount"] > 0) log(`  ${replaced["failureCount"]} requests failed, e.g. ${JSON.stringify(replaced["failures"][0])}`)
      const running = await f.master.next("jobRunning", 60_000)
      return {
        seconds: (Math.max(running["at"], replaced["lastAckAt"]) - t0) / 1000,
        done: replaced["failureCount"] === 0,
        extra: { clientMsPerHost: distribution(replaced["perHostMs"]), failures: replaced["failureCount"] },
      }
    } catch (e) {
      log(`  ${name} did not finish: ${String(e)}`)
      return { seconds: undefined, done: false, extra: {} }
    } finally {
      clearInterval(ticker)
    }
  })

// ---------------------------------------------------------------------------------------------
// One size

/** What the sizes before told about parallelism 1: ms per host, to project this size's time. */
let par1MsPerHost: number | undefined

const runSize = async (n: number): Promise<SizeResult> => {
  const { atExit, run: runPartCleanups } = partCleanups(cleanups)
  const skipped: string[] = []
  try {
    const t00 = Date.now()
    const zk = await startZooKeeper({ fsync: true, maxHeap: "1g" })
    atExit(() => zk.destroy())
    const master = forkChild("fleet-master.ts", [zk.connectString, ROOT])
    atExit(() => master.kill())
    exitCleanups.push(() => master.kill())
    const url = (await master.next("ready", 60_000))["url"] as string
    const client = forkChild("fleet-client.ts", ["replace"])
    atExit(() => client.kill())
    exitCleanups.push(() => client.kill())
    await client.next("ready", 30_000)

    // ---- agents ------------------------------------------------------------------------
    const hosts = Array.from({ length: n }, (_, i) => `bench-host-${String(i).padStart(5, "0")}`)
    const agentCounts: OpCounts = {}
    const tReg = Date.now()
    const agents = await startFleetAgents({ connectString: zk.connectString, root: ROOT, masterUrl: url, hosts, labels: () => ({ role: "bench" }), images: [IMAGE], counts: agentCounts })
    atExit(() => agents.stop())
    exitCleanups.push(() => agents.removeStateDirs())
    let visible = 0
    while (Date.now() - tReg < REGISTRATION_TIMEOUT_MS) {
      if (agents.registered() >= n) {
        const r = await api(`${url}/hosts`, "GET")
        visible = Array.isArray(r.body) ? r.body.length : 0
        if (visible >= n) break
      }
      await sleep(100)
    }
    const registrationS = round((Date.now() - tReg) / 1000, 1)
    if (visible < n) {
      log(`  registration NOT done after ${registrationS} s: ${agents.registered()} of ${n}; skipping this size`)
      return { hosts: n, registrationS, registered: agents.registered(), phases: [], skipped: ["registration not done"] }
    }
    log(`  ${n} agents registered and visible on the master in ${registrationS} s`)

    // ---- group and jobs ----------------------------------------------------------------
    await ok(`${url}/deployment-group`, "POST", { name: GROUP, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "bench" }] })
    const jobs: string[] = []
    for (let v = 0; v <= 5; v++) jobs.push((await ok(`${url}/jobs`, "POST", { id: `bench-web:v${v}`, image: IMAGE, ports: { http: { internalPort: 80, protocol: "tcp" } } }))["id"])
    // The leader election and the rollout driver's first round (every 2 s) before the first rollout.
    await sleep(2_500)
    const f: Fleet = { n, url, zk, master, client, agents, agentCounts, hosts, jobs }
    const phases: PhaseResult[] = []
    const report = (p: PhaseResult) => {
      phases.push(p)
      const steps = p.steps !== undefined ? `, ${p.steps} steps in ${p.batches} appends, ${p.msPerStep} ms/step` : ""
      log(`  ${p.name}: ${p.seconds ?? "not done"} s (${p.msPerHost} ms/host${steps}), ${round(p.server.txns / n, 2)} ZooKeeper txns/host${p.status && p.status !== "ACTIVE" ? `, ${p.status} ${p.error ?? ""}` : ""}`)
    }

    // ---- rollouts ----------------------------------------------------------------------
    report(await rolloutPhase(f, "initial (par 100, deploy only)", jobs[0]!, 100))
    let current = 0
    /** This size's own parallelism-1 ms per host, once measured: the best projection of the waiting baseline. */
    let ownPar1MsPerHost: number | undefined
    for (const par of PARALLELISMS) {
      if (par === 1 && par1MsPerHost !== undefined && (par1MsPerHost * n) / 1000 > PAR1_BUDGET_S) {
        const why = `parallelism 1 skipped at ${n} hosts: the smaller sizes took ${round(par1MsPerHost, 1)} ms per host, so ~${Math.round((par1MsPerHost * n) / 1000)} s here, over the ${PAR1_BUDGET_S} s budget (ROLLOUT_PAR1_BUDGET_S)`
        log(`  ${why}`)
        skipped.push(why)
        continue
      }
      report(await rolloutPhase(f, `par ${par}`, jobs[current + 1]!, par))
      current++
      const p = phases[phases.length - 1]!
      if (par === 1 && p.msPerHost !== undefined) {
        par1MsPerHost = Math.max(par1MsPerHost ?? 0, p.msPerHost)
        ownPar1MsPerHost = p.msPerHost
      }
    }

    // ---- baselines ---------------------------------------------------------------------
    report(await baselinePhase(f, "one-by-one API", jobs[current]!, jobs[current + 1]!, false))
    current++
    const projectFrom = ownPar1MsPerHost ?? par1MsPerHost
    if (projectFrom !== undefined && (projectFrom * n) / 1000 > WAIT_BASELINE_BUDGET_S) {
      const why = `one-by-one + wait RUNNING skipped at ${n} hosts: projected ~${Math.round((projectFrom * n) / 1000)} s from parallelism 1 (${round(projectFrom, 1)} ms/host), over its ${WAIT_BASELINE_BUDGET_S} s budget (ROLLOUT_WAIT_BUDGET_S); the smaller sizes have it`
      log(`  ${why}`)
      skipped.push(why)
    } else report(await baselinePhase(f, "one-by-one API + wait RUNNING", jobs[current]!, jobs[current + 1]!, true))

    // ---- teardown ----------------------------------------------------------------------
    const tDown = Date.now()
    client.send({ type: "exit" })
    await agents.stop()
    master.send({ type: "stop" })
    await master.next("stopped", 30_000).catch(() => master.kill())
    await master.waitExit(10_000)
    log(`  teardown ${((Date.now() - tDown) / 1000).toFixed(1)} s; this size took ${((Date.now() - t00) / 1000).toFixed(0)} s in all`)
    return { hosts: n, registrationS, registered: agents.registered(), phases, skipped }
  } finally {
    await runPartCleanups()
  }
}

// ---------------------------------------------------------------------------------------------

const main = async () => {
  const busy = await waitForQuiet(30_000)
  const m = machine()
  log(`bench/rollout: sizes ${SIZES.join(", ")} hosts; rolling updates at parallelism ${PARALLELISMS.join(", ")} against host-by-host API baselines; CPU busy before start ${Math.round(busy * 100)}%`)
  log(`machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}, ZooKeeper ${m.zookeeper}`)
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const t0 = Date.now()
  const results: SizeResult[] = []
  for (const n of SIZES) {
    log(`\n== ${n} hosts`)
    results.push(await runSize(n))
  }
  const seconds = round((Date.now() - t0) / 1000, 1)

  // ---- tables --------------------------------------------------------------------------
  const per = (x: number, n: number) => round(x / n, 2)
  const await50 = (p: PhaseResult) => (p.stepMs?.["AWAIT_RUNNING"] ? `${p.stepMs["AWAIT_RUNNING"].p50} / ${p.stepMs["AWAIT_RUNNING"].p99}` : "")
  log(`\nRolling updates and host-by-host baselines (${seconds} s in all; machine: ${m.cpuModel}, ${m.cores} cores)`)
  log(
    table(
      ["hosts", "phase", "seconds", "ms / host", "steps", "appends", "ms / step", "AWAIT_RUNNING p50 / p99 ms", "ZK txns / host", "ZK fsyncs / host", "events / host", "master writes / host", "agents' writes / host", "CPU s (agents/master/ZK)"],
      results.flatMap((r) =>
        r.phases.map((p) => [
          r.hosts,
          p.name,
          p.seconds ?? (p.status ?? "not done"),
          p.msPerHost ?? "",
          p.steps ?? "",
          p.batches ?? "",
          p.msPerStep ?? "",
          await50(p),
          per(p.server.txns, r.hosts),
          per(p.server.fsyncs, r.hosts),
          per(p.events, r.hosts),
          per(sumOf(p.masterOps, WRITE_OPS), r.hosts),
          per(sumOf(p.agentOps, WRITE_OPS), r.hosts),
          `${p.cpuSeconds.agentsProcess} / ${p.cpuSeconds.master} / ${p.cpuSeconds.zookeeper}`,
        ]),
      ),
    ),
  )
  log(`\nEvents per host by type (replacement phases)`)
  const types = [...new Set(results.flatMap((r) => r.phases.flatMap((p) => Object.keys(p.eventsByType))))].sort()
  log(table(["hosts", "phase", ...types], results.flatMap((r) => r.phases.map((p) => [r.hosts, p.name, ...types.map((t) => per(p.eventsByType[t] ?? 0, r.hosts))]))))

  // Ratios against the host-by-host baselines, per size.
  const vsRows: unknown[][] = []
  for (const r of results) {
    const base = r.phases.find((p) => p.name === "one-by-one API")
    const baseWait = r.phases.find((p) => p.name === "one-by-one API + wait RUNNING")
    for (const p of r.phases.filter((x) => x.kind === "rollout" && x.name.startsWith("par"))) {
      for (const b of [base, baseWait]) {
        if (b === undefined || b.seconds === undefined || p.seconds === undefined) continue
        vsRows.push([r.hosts, p.name, b.name, p.seconds, b.seconds, round(p.seconds / b.seconds, 2), per(p.server.txns, r.hosts), per(b.server.txns, r.hosts), round(p.server.txns / Math.max(1, b.server.txns), 2)])
      }
    }
  }
  log(`\nRolling update against the baseline (ratio = rollout / baseline)`)
  log(table(["hosts", "rollout", "baseline", "rollout s", "baseline s", "time ratio", "rollout txns/host", "baseline txns/host", "txns ratio"], vsRows))

  // ---- growth ----------------------------------------------------------------------------
  const growth: Record<string, Record<string, number>> = {}
  const names = [...new Set(results.flatMap((r) => r.phases.map((p) => p.name)))]
  for (const name of names) {
    const have = results.filter((r) => r.phases.find((p) => p.name === name)?.seconds !== undefined)
    const a = have[0]
    const b = have[have.length - 1]
    if (a === undefined || b === undefined || b.hosts <= a.hosts) continue
    const pa = a.phases.find((p) => p.name === name)!
    const pb = b.phases.find((p) => p.name === name)!
    const exp = (x: number, y: number) => round(Math.log(y / x) / Math.log(b.hosts / a.hosts), 2)
    growth[name] = {
      from: a.hosts,
      to: b.hosts,
      time: exp(pa.seconds!, pb.seconds!),
      txnsPerHost: exp(pa.server.txns / a.hosts, pb.server.txns / b.hosts),
      masterReadsPerHost: exp(Math.max(1, sumOf(pa.masterOps, READ_OPS)) / a.hosts, Math.max(1, sumOf(pb.masterOps, READ_OPS)) / b.hosts),
      cpuPerHost: exp(
        (pa.cpuSeconds.agentsProcess + pa.cpuSeconds.master + pa.cpuSeconds.zookeeper) / a.hosts,
        (pb.cpuSeconds.agentsProcess + pb.cpuSeconds.master + pb.cpuSeconds.zookeeper) / b.hosts,
      ),
    }
  }
  if (Object.keys(growth).length > 0) {
    log(`\nGrowth with the fleet size, as the exponent k of N^k (1 = linear, 0 = flat)`)
    log(table(["phase", "from", "to", "time", "ZK txns / host", "master reads / host", "CPU / host"], Object.entries(growth).map(([k, g]) => [k, g["from"], g["to"], g["time"], g["txnsPerHost"], g["masterReadsPerHost"], g["cpuPerHost"]])))
  }
  for (const r of results) for (const s of r.skipped) log(`note (${r.hosts} hosts): ${s}`)

  // ---- summary ---------------------------------------------------------------------------
  const summary: SummaryLine[] = []
  const biggest = results[results.length - 1]
  if (biggest)
    for (const p of biggest.phases) {
      if (p.name.startsWith("initial")) continue
      summary.push(line(`rollout ${biggest.hosts} hosts: ${p.name}`, p.seconds ?? Number.POSITIVE_INFINITY, "s"))
      summary.push(line(`rollout ${biggest.hosts} hosts: ${p.name}: ZooKeeper txns / host`, per(p.server.txns, biggest.hosts), "txns"))
    }
  log("")
  log(summaryTable(summary))
  loop.disable()
  const file = writeResult(RESULT_NAME, {
    config: {
      sizes: SIZES,
      parallelisms: PARALLELISMS,
      group: `${GROUP}: role=bench (every host)`,
      job: `${IMAGE}, one dynamic port; a new version per phase`,
      stepTimeoutS: STEP_TIMEOUT_S,
      agents: "in-memory runtime, one ZooKeeperEventLog per agent, sessions shared by 125 agents, facts relayed through the master, state dirs " + (existsSync("/dev/shm") ? "on /dev/shm" : `in ${tmpdir()}`),
      master: "own process (bench/fleet-master.ts), leader of the rollouts; default housekeeping every 2 s",
      client: "own process (bench/fleet-client.ts), one request at a time",
      zookeeper: "private, fsync on (forceSync=yes), 1 GiB heap",
      timing: "rollouts: from the rolling-update request until the master applied RolloutFinished; baselines: until every new task is RUNNING in the master's projection",
    },
    seconds,
    unhandledRejections: unhandled,
    agentsProcessLoopDelayMs: { p99: round(loop.percentile(99) / 1e6, 1), max: round(loop.max / 1e6, 1) },
    sizes: results,
    growth,
    summary,
  })
  log(`\nwrote ${file}`)
}

await runBench("rollout", main, runCleanups)
