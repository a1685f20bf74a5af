import { createHash, randomBytes } from "node:crypto"
import { appendFileSync, chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { hostname as osHostname, userInfo } from "node:os"
import { join, resolve } from "node:path"
import type { ContainerPolicy } from "../core/container-policy.ts"
import { collectDefaultMetrics, Registry } from "prom-client"
import type { EventLog } from "../core/event-log.ts"
import type { HostInfoStore } from "../core/host-info.ts"
import { startAgent, type Agent } from "../agent/agent.ts"
import { DockerRuntime } from "../agent/docker-runtime.ts"
import { jsonLogger, type Logger, type LogLevel } from "../agent/logger.ts"
import { StateDirLocked } from "../agent/state-dir.ts"
import { LocalHostInfoStore } from "../log/sqlite-host-info-store.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { CliError, oneLine, reasonOf } from "./errors.ts"
import { noteSoloEndpoint } from "./config.ts"
import { Principals } from "../master/auth.ts"
import { PRIVATE_DIR_MODE } from "../log/durable-file.ts"

/*
 * Solo mode: a master and an agent for this machine in ONE process, on the embedded SQLite log in
 * the data dir (or on ZooKeeper with `zk`). Stopping it keeps the data and leaves the containers of
 * deployed jobs running; the next start adopts them.
 *
 *   <dataDir>/events.db     the event log (SQLite, WAL)
 *   <dataDir>/hostinfo.db   latest host facts (cpus, memory, load, versions) and the up mark
 *   <dataDir>/agent/        the agent's state dir (id, lock, executions, outbox)
 *   <dataDir>/master/       the master's read-model snapshot (a restart reads only the log's tail)
 *   <dataDir>/solo.log      JSON log lines (warnings and errors also go to stderr)
 *   <dataDir>/token         the local bearer token (mode 0600, made at the first start): the master
 *                           answers only requests that carry it; the CLI finds it through
 *                           ~/.helios/solo-endpoints.json (port → this file)
 *
 * With ZooKeeper the log and host facts live there, and agent/ and master/ move to
 * <dataDir>/zk-<hash of connect string and root>/ (they belong to one log).
 */

export interface SoloOptions {
  readonly port: number
  /** Where the master API listens. */
  readonly bindAddress: string
  readonly dataDir: string
  /** ZooKeeper connect string: use it for the log and host facts instead of the data dir. */
  readonly zk?: string
  readonly zkRoot?: string
  /** The host name the agent registers (default: this machine's). */
  readonly name?: string
  /** Extra Docker labels on every container the agent creates (tests clean up by them). */
  readonly containerLabels?: Readonly<Record<string, string>>
  /** Agent labels (host selectors). */
  readonly labels?: Readonly<Record<string, string>>
  readonly portRange?: string
  /** Level of the lines that also go to stderr (default warn). */
  readonly logLevel?: LogLevel
  readonly stderr?: (line: string) => void
  /** Log positions of undecodable events the master skips (README "Failure modes"). */
  readonly skipUndecodable?: ReadonlyArray<number>
  /** What jobs may ask of this machine, for the master and the agent alike (default: nothing beyond Docker's defaults). */
  readonly containerPolicy?: ContainerPolicy
  /** The CLI's environment: its HOME gets ~/.helios/solo-endpoints.json (absent: not written). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Origins whose web pages may call the API (none by default). */
  readonly corsOrigins?: ReadonlyArray<string>
  /** Names a request may give in `Host` besides loopback ones. */
  readonly allowedHosts?: ReadonlyArray<string>
}

export interface RunningSolo {
  readonly url: string
  /** Where the local bearer token is (mode 0600). */
  readonly tokenFile: string
  readonly hostName: string
  readonly agentId: string
  readonly dataDir: string
  readonly master: RunningMaster
  readonly agent: Agent
  /** Stops the agent (containers keep running), records the host as down, stops the master. */
  stop(): Promise<void>
}

/** The local token: read from `file`, or made (32 random bytes) and written there readable by this user only. */
const localToken = (file: string): string => {
  try {
    const existing = readFileSync(file, "utf8").trim()
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600) // a copy restored with looser modes
    if (existing.length >= 32) return existing
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new CliError(`cannot read the local token ${file}: ${oneLine((e as Error).message)}`)
  }
  const token = randomBytes(32).toString("base64url")
  try {
    writeFileSync(`${file}.tmp`, token + "\n", { mode: 0o600 })
    renameSync(`${file}.tmp`, file)
  } catch (e) {
    throw new CliError(`cannot write the local token ${file}: ${oneLine((e as Error).message)}`)
  }
  return token
}

/** The principal the local token names: the login name, so the history says who (user:NAME). */
const localUser = (env: Readonly<Record<string, string | undefined>>): string => {
  let name: string
  try {
    name = userInfo().username
  } catch {
    name = env["USER"] || env["LOGNAME"] || "local"
  }
  return /^[A-Za-z0-9._@-]{1,64}$/.test(name) ? name : "local"
}

const portFree = (port: number, host: string): Promise<string | undefined> =>
  new Promise((done) => {
    if (port === 0) return done(undefined)
    const server = createServer()
    server.once("error", (e: NodeJS.ErrnoException) => done(e.code ?? e.message))
    server.listen({ port, host, exclusive: true }, () => server.close(() => done(undefined)))
  })

/** Warnings and errors to stderr, everything from info up to the log file. */
const soloLogger = (file: string, level: LogLevel, stderr: (line: string) => void): Logger => {
  const toFile = jsonLogger("info", {}, (line) => {
    try {
      appendFileSync(file, line + "\n")
    } catch {
      // the log file is best effort
    }
  })
  const toStderr = jsonLogger(level, {}, (line) => stderr(line + "\n"))
  return { log: (l, msg, fields) => (toFile.log(l, msg, fields), toStderr.log(l, msg, fields)) }
}

export const startSolo = async (o: SoloOptions): Promise<RunningSolo> => {
  const dataDir = resolve(o.dataDir)
  const hostName = o.name ?? osHostname()
  const stderr = o.stderr ?? ((line: string) => void process.stderr.write(line))
  try {
    mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE })
  } catch (e) {
    throw new CliError(`cannot create the data dir ${dataDir}: ${oneLine((e as Error).message)}`)
  }

  const runtime = new DockerRuntime()
  await runtime.version().catch((e: unknown) => {
    throw new CliError(`cannot reach the Docker engine: ${reasonOf(e)} (is dockerd running? scripts/solo.sh starts it)`)
  })
  const busy = await portFree(o.port, o.bindAddress)
  if (busy !== undefined) throw new CliError(`cannot listen on ${o.bindAddress}:${o.port}: ${busy} (another helios solo? pass --port)`)

  const tokenFile = join(dataDir, "token")
  const token = localToken(tokenFile)
  const principals = Principals.of([{ name: localUser(o.env ?? process.env), token, capabilities: ["*"] }])
  if (principals instanceof Error) throw new CliError(`the local token: ${principals.message}`)

  const logger = soloLogger(join(dataDir, "solo.log"), o.logLevel ?? "warn", stderr)
  const closers: Array<() => Promise<unknown>> = []
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined)
  }
  try {
    let log: EventLog
    let hostInfo: HostInfoStore
    let zk: ZkClient | undefined
    const zkRoot = o.zkRoot ?? "/helios"
    // State that belongs to one log (the agent's checkpoint, the master's snapshot) is kept apart per ZooKeeper cluster.
    const stateDir = o.zk === undefined ? dataDir : join(dataDir, `zk-${createHash("sha1").update(`${o.zk}${zkRoot}`).digest("hex").slice(0, 8)}`)
    if (o.zk !== undefined) {
      zk = await ZkClient.connect(o.zk).catch((e: unknown) => {
        throw new CliError(`cannot reach ZooKeeper at ${o.zk}: ${reasonOf(e)}`)
      })
      const client = zk
      closers.push(() => client.close())
      log = await ZooKeeperEventLog.open(zk, { root: zkRoot })
      hostInfo = new ZkHostInfoStore(zk, zkRoot)
    } else {
      log = new SqliteEventLog(join(dataDir, "events.db"))
      hostInfo = new LocalHostInfoStore(join(dataDir, "hostinfo.db"))
    }
    const [theLog, store] = [log, hostInfo]
    closers.push(() => theLog.close())
    closers.push(() => store.close())

    // One /metrics for the process: the master's (with the process's own) and the agent's (helios_agent_*).
    const masterMetrics = new Registry()
    collectDefaultMetrics({ register: masterMetrics })
    const agentMetrics = new Registry()
    const master = await startMaster({
      log,
      metrics: masterMetrics,
      alsoServeMetrics: [agentMetrics],
      port: o.port,
      bindAddress: o.bindAddress,
      name: hostName,
      hostInfo,
      snapshotFile: join(stateDir, "master", "snapshot.bin"),
      checkpointDir: join(stateDir, "master", "checkpoints"),
      ...(zk !== undefined ? { zk, zkRoot } : {}),
      ...(o.skipUndecodable ? { skipUndecodable: o.skipUndecodable } : {}),
      principals,
      ...(o.corsOrigins ? { corsOrigins: o.corsOrigins } : {}),
      ...(o.containerPolicy ? { containerPolicy: o.containerPolicy } : {}),
      ...(o.allowedHosts ? { allowedHosts: o.allowedHosts } : {}),
    })
    closers.push(() => master.stop())
    // Only for the CLI's own solo (it passes its environment): a solo started in-process leaves HOME alone.
    if (o.env !== undefined)
      try {
        noteSoloEndpoint(o.env, master.url, tokenFile)
      } catch (e) {
        stderr(`warning: could not note this solo's token for the CLI (give it HELIOS_TOKEN=$(cat ${tokenFile})): ${reasonOf(e)}\n`)
      }

    let agent: Agent
    try {
      agent = await startAgent({
        log,
        hostInfo,
        runtime,
        hostName,
        stateDir: join(stateDir, "agent"),
        logger,
        metrics: agentMetrics,
        ...(zk !== undefined ? { zk, zkRoot } : {}),
        ...(o.containerLabels !== undefined ? { containerLabels: o.containerLabels } : {}),
        ...(o.labels !== undefined ? { labels: o.labels } : {}),
        ...(o.portRange !== undefined ? { portRange: o.portRange } : {}),
        ...(o.containerPolicy ? { containerPolicy: o.containerPolicy } : {}),
      })
    } catch (e) {
      if (e instanceof StateDirLocked) throw new CliError(`another helios solo (pid ${e.pid}) is using ${dataDir}`)
      throw new CliError(`the agent did not start: ${reasonOf(e)}`)
    }
    const theAgent = agent

    let stopped: Promise<void> | undefined
    const stop = () =>
      (stopped ??= (async () => {
        await theAgent.stop().catch(() => undefined)
        // Without ZooKeeper nobody else notices that this host went away: record it ourselves.
        if (zk === undefined)
          await master.bus
            .execute({ _tag: "MarkHostDown", host: theAgent.hostName }, { now: Date.now(), actor: { kind: "master", name: master.name }, master: master.name })
            .catch(() => undefined)
        await closeAll()
      })())
    return { url: master.url, tokenFile, hostName: agent.hostName, agentId: agent.agentId, dataDir, master, agent, stop }
  } catch (e) {
    await closeAll()
    throw e
  }
}
