/**
 * One fault round against the real thing (issue 17): a three-server ZooKeeper ensemble
 * (test/zk-ensemble.ts), two masters as processes (test/master-process.ts), each behind its own
 * TCP gate, and clients that create jobs, deploy and undeploy them with a `Helios-Command-Id`,
 * retrying every error and timeout on the other master until they get an answer. Meanwhile a
 * nemesis, in turn: kills the ZooKeeper leader (-9, then restarts it), kills a follower, kills a
 * master right after it sent an append (master/crash-hook.ts) and restarts it, and freezes a
 * master's ZooKeeper connections past its session timeout. Then every server and master is up
 * again, the masters settle, and test/log-checker.ts checks the whole log against what the clients
 * were told and what each master's projection holds.
 *
 * Used by test/nemesis.test.ts (one short round in CI) and test/soak.ts (`npm run soak`).
 */
import { randomBytes } from "node:crypto"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { ZkClient } from "../log/zk-client.ts"
import { checkLog, formatReport, type Acknowledgement, type CheckReport, type MasterDigest, type Refusal } from "./log-checker.ts"
import { readWholeLog } from "./log-reader.ts"
import { masterProcess, type MasterProcess } from "./master-process.ts"
import { startEnsemble, type EnsembleGate, type ZooKeeperEnsemble } from "./zk-ensemble.ts"
import { makeTempDir, removeTempDir } from "./zookeeper.ts"

export const FAULT_KINDS = ["zk-leader-kill", "zk-follower-kill", "master-crash-after-append", "session-freeze"] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/** The masters' ZooKeeper session timeout (master/main.ts's default), which a freeze outlasts. */
const MASTER_SESSION_TIMEOUT_MS = 10_000
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------
// Clients

/** What all clients were told. */
export interface ClientRecord {
  readonly acknowledged: Acknowledgement[]
  readonly refused: Refusal[]
  /** Commands still without an answer when the clients had to stop (not checked: their outcome is unknown). */
  readonly unresolved: string[]
  /** Attempts that failed and were retried: by HTTP status, or "network"/"timeout". */
  readonly retriedBecause: Record<string, number>
}

export const emptyClientRecord = (): ClientRecord => ({ acknowledged: [], refused: [], unresolved: [], retriedBecause: {} })

export interface CommandRequest {
  readonly method: string
  readonly path: string
  readonly body?: unknown
}

export type CommandOutcome = { readonly ok: true; readonly body: Record<string, unknown> } | { readonly ok: false }

/**
 * Sends one command until it gets an answer: OK (acknowledged), a refusal (4xx other than 409
 * CONCURRENT_CHANGE), or `giveUpAt` passes (unresolved). Every other outcome (connection refused or
 * reset, a timeout, 5xx, CONCURRENT_CHANGE) is retried with the same command id on the next master.
 */
export async function sendCommand(
  record: ClientRecord,
  masters: ReadonlyArray<string>,
  prefer: number,
  commandId: string,
  request: CommandRequest,
  giveUpAt: () => number,
  requestTimeoutMs = 15_000,
): Promise<CommandOutcome> {
  const retried = (why: string) => (record.retriedBecause[why] = (record.retriedBecause[why] ?? 0) + 1)
  for (let attempt = 1; ; attempt++) {
    const url = masters[(prefer + attempt - 1) % masters.length]!
    try {
      const res = await fetch(url + request.path, {
        method: request.method,
        headers: { "Helios-Command-Id": commandId, ...(request.body === undefined ? {} : { "content-type": "application/json" }) },
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
        signal: AbortSignal.timeout(requestTimeoutMs),
      })
      const text = await res.text()
      if (res.ok) {
        const body = JSON.parse(text) as Record<string, unknown>
        record.acknowledged.push({ commandId, position: Number(body["position"]), attempts: attempt })
        return { ok: true, body }
      }
      const concurrent = res.status === 409 && text.includes("CONCURRENT_CHANGE")
      if (res.status < 500 && !concurrent) {
        record.refused.push({ commandId, status: res.status, body: text })
        return { ok: false }
      }
      retried(String(res.status))
    } catch (error) {
      retried((error as Error).name === "TimeoutError" ? "timeout" : "network")
    }
    if (Date.now() > giveUpAt()) {
      record.unresolved.push(commandId)
      return { ok: false }
    }
    await sleep(100 + Math.random() * 200)
  }
}

/**
 * One client's work until `stopped()`: create a job, deploy it on one of the hosts, and undeploy
 * every third one again. Each command has its own id; a command in progress when the round stops
 * is still seen through (up to `giveUpAt`).
 */
async function clientLoop(
  id: string,
  record: ClientRecord,
  masters: ReadonlyArray<string>,
  hosts: ReadonlyArray<string>,
  prefer: number,
  stopped: () => boolean,
  giveUpAt: () => number,
): Promise<number> {
  let n = 0
  const send = (request: CommandRequest) => sendCommand(record, masters, prefer, `${id}-${++n}`, request, giveUpAt)
  for (let i = 0; !stopped(); i++) {
    const created = await send({ method: "POST", path: "/jobs", body: { id: `${id}-${i}:1`, image: "busybox:latest" } })
    if (!created.ok || stopped()) continue
    const jobId = String(created.body["id"])
    const host = hosts[i % hosts.length]!
    const deployed = await send({ method: "PUT", path: `/hosts/${host}/jobs/${encodeURIComponent(jobId)}`, body: { goal: "START" } })
    if (deployed.ok && i % 3 === 0 && !stopped()) await send({ method: "DELETE", path: `/hosts/${host}/jobs/${encodeURIComponent(jobId)}` })
  }
  return n
}

// ---------------------------------------------------------------------------------------------
// The round

export interface RoundOptions {
  /** How long clients write and the nemesis acts. */
  readonly durationMs: number
  readonly clients: number
  /** Faults in the order they are injected, cycled; default FAULT_KINDS. */
  readonly faults?: ReadonlyArray<FaultKind>
  /** Pause between faults. Default 2 s. */
  readonly gapMs?: number
  readonly log?: (line: string) => void
}

export interface RoundResult {
  readonly report: CheckReport
  readonly faults: Record<FaultKind, number>
  readonly refused: number
  readonly unresolved: number
  readonly retriedBecause: Record<string, number>
  readonly durationMs: number
}

interface Cluster {
  readonly ensemble: ZooKeeperEnsemble
  readonly masters: MasterProcess[]
  readonly gates: EnsembleGate[]
}

async function injectFault(kind: FaultKind, cluster: Cluster, turn: number, log: (line: string) => void): Promise<boolean> {
  const { ensemble, masters, gates } = cluster
  switch (kind) {
    case "zk-leader-kill": {
      const leader = await ensemble.leader()
      log(`nemesis: kill -9 ZooKeeper leader ${leader.id}`)
      await leader.kill()
      await sleep(500)
      await leader.start()
      return true
    }
    case "zk-follower-kill": {
      const leader = await ensemble.leader()
      const followers = ensemble.members.filter((m) => m.id !== leader.id && m.running)
      const follower = followers[turn % followers.length]!
      log(`nemesis: kill -9 ZooKeeper follower ${follower.id}`)
      await follower.kill()
      await sleep(500)
      await follower.start()
      return true
    }
    case "master-crash-after-append": {
      const master = masters[turn % masters.length]!
      log(`nemesis: ${master.name} kills itself right after sending its next append`)
      const crashed = await master.crashOnNextAppend(20_000)
      if (!crashed) log(`nemesis: ${master.name} sent no append within 20 s`)
      await master.start()
      return crashed
    }
    case "session-freeze": {
      const i = turn % masters.length
      log(`nemesis: freeze ${masters[i]!.name}'s ZooKeeper connections for ${MASTER_SESSION_TIMEOUT_MS + 3_000} ms (session timeout ${MASTER_SESSION_TIMEOUT_MS} ms)`)
      gates[i]!.freeze()
      await sleep(MASTER_SESSION_TIMEOUT_MS + 3_000)
      gates[i]!.restore()
      return true
    }
  }
}

interface Digested extends MasterDigest {
  readonly healthy: boolean
}

const digestOf = async (master: MasterProcess): Promise<Digested | undefined> => {
  try {
    const res = await fetch(`${master.url}/projection/digest`, { signal: AbortSignal.timeout(5_000) })
    const body = (await res.json()) as { position: number; sha256: string; diverged: boolean }
    return { name: master.name, position: body.position, sha256: body.sha256, diverged: body.diverged, healthy: res.ok && !body.diverged }
  } catch {
    return undefined
  }
}

/** Runs one round on a fresh ensemble and masters and checks the log afterwards. */
export async function runRound(opts: RoundOptions): Promise<RoundResult> {
  const log = opts.log ?? (() => undefined)
  const started = Date.now()
  const dir = await makeTempDir("helios-nemesis-")
  const ensemble = await startEnsemble({ maxHeap: "128m" })
  const masters: MasterProcess[] = []
  let reader: ZkClient | undefined
  try {
    const root = `/nemesis-${randomBytes(4).toString("hex")}`
    const gates = [await ensemble.gate(), await ensemble.gate()]
    mkdirSync(join(dir, "masters"), { recursive: true })
    for (const [i, gate] of gates.entries())
      masters.push(await masterProcess({ name: `master-${i + 1}`, zkConnect: gate.connectString, root, dir: join(dir, "masters") }))
    const cluster: Cluster = { ensemble, masters, gates }
    const urls = masters.map((m) => m.url)
    const record = emptyClientRecord()

    // Two hosts to deploy on (registered by hand: no agents needed for what the log records).
    const hosts = ["nemesis-host-1", "nemesis-host-2"]
    for (const [i, host] of hosts.entries()) {
      const r = await sendCommand(record, urls, i, `register-${host}`, { method: "PUT", path: `/hosts/${host}?id=agent-${i}` }, () => Date.now() + 60_000)
      if (!r.ok) throw new Error(`could not register ${host}: ${JSON.stringify(record.refused)}`)
    }

    let stop = false
    let giveUpAt = Number.POSITIVE_INFINITY
    const clients = Array.from({ length: opts.clients }, (_, c) =>
      clientLoop(`c${c}`, record, urls, hosts, c, () => stop, () => giveUpAt),
    )

    const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>
    const order = opts.faults ?? FAULT_KINDS
    const end = Date.now() + opts.durationMs
    for (let turn = 0; Date.now() < end; turn++) {
      await sleep(opts.gapMs ?? 2_000)
      if (Date.now() >= end) break
      const kind = order[turn % order.length]!
      if (await injectFault(kind, cluster, Math.floor(turn / order.length), log)) faults[kind]++
    }
    stop = true
    giveUpAt = Date.now() + 60_000
    log(`clients: stopping (${record.acknowledged.length} acknowledged so far)`)
    await Promise.all(clients)

    // Everything up again, then the masters settle on the log's head.
    for (const m of ensemble.members) if (!m.running) await m.start()
    for (const g of gates) g.restore()
    for (const m of masters) if (!m.running) await m.start()
    reader = await ZkClient.connect(ensemble.connectString, {}, 30_000)
    let report: CheckReport | undefined
    const settleBy = Date.now() + 60_000
    for (;;) {
      const entries = await readWholeLog(reader, root)
      const digests = await Promise.all(masters.map(digestOf))
      const head = entries.length === 0 ? 0 : entries[entries.length - 1]!.position
      const settled = digests.every((d) => d !== undefined && d.healthy && d.position === head)
      if (settled || Date.now() > settleBy) {
        report = checkLog({
          entries,
          acknowledged: record.acknowledged,
          refused: record.refused,
          masters: digests.map((d, i) => d ?? { name: masters[i]!.name, position: -1, sha256: "unreachable" }),
        })
        break
      }
      await sleep(500)
    }
    log(`check: ${formatReport(report)}`)
    return {
      report,
      faults,
      refused: record.refused.length,
      unresolved: record.unresolved.length,
      retriedBecause: record.retriedBecause,
      durationMs: Date.now() - started,
    }
  } finally {
    await reader?.close()
    await Promise.all(masters.map((m) => m.kill()))
    await ensemble.destroy()
    await removeTempDir(dir)
  }
}

/** The figures of one round (or a total) as printed by the CI test and the soak. */
export const formatFigures = (r: {
  report: Pick<CheckReport, "acknowledged" | "retried" | "lost" | "duplicated" | "mastersConverged" | "violations">
  faults: Record<FaultKind, number>
  refused: number
  unresolved: number
}): string =>
  `commands acknowledged ${r.report.acknowledged} (${r.report.retried} after a retry, ${r.refused} refused, ${r.unresolved} unresolved); ` +
  `faults injected ${FAULT_KINDS.map((k) => `${k} ${r.faults[k]}`).join(", ")}; ` +
  `lost ${r.report.lost}, duplicated ${r.report.duplicated}, masters converged ${r.report.mastersConverged ? "yes" : "no"}, violations ${r.report.violations.length}`
