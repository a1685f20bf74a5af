/**
 * The agent as a program: `npx tsx agent/main.ts --zk 127.0.0.1:2181 --name host1 --state-dir /var/lib/helios-agent`
 * (or `node --import tsx agent/main.ts ...`: one process, so a signal reaches the agent itself).
 *
 * Every flag has a HELIOS_* environment equivalent (flags win). Repeatable K=V flags take a
 * comma-separated list in the environment, e.g. HELIOS_LABELS=role=web,zone=a.
 *
 * Prints one JSON line on stdout when started (`{"event":"started",...}`) and one when registered
 * (`{"event":"registered",...}`), each with `at` (epoch ms) and `sinceStartMs` (since the program's
 * code began to run, module loading excluded); logs JSON lines on stderr. SIGTERM/SIGINT stop it gracefully
 * (containers keep running).
 */
import { isIP } from "node:net"
import os from "node:os"
import { parseArgs } from "node:util"
import { Result } from "effect"
import { decodeContainerFlags } from "./container-flags.ts"
import { decodeOutboxFlags } from "./agent-settings.ts"
import { DockerRuntime } from "./docker-runtime.ts"
import { jsonLogger, type LogLevel } from "./logger.ts"
import { startAgent } from "./agent.ts"
import { testPausesFromEnv, withTestPauses } from "./test-pauses.ts"
import { MasterRelayLog, zkMasterUrls } from "./master-relay.ts"
import type { HostName } from "../core/ids.ts"
import type { EventLog } from "../core/event-log.ts"
import type { HostInfoStore } from "../core/host-info.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { LocalHostInfoStore } from "../log/sqlite-host-info-store.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"

const USAGE = `usage: agent/main.ts [options]
  --zk HOST:PORT[,HOST:PORT]   ZooKeeper ensemble (HELIOS_ZK)
  --zk-root PATH               chroot of the cluster, default /helios (HELIOS_ZK_ROOT)
  --zk-session-timeout-ms N    default 10000 (HELIOS_ZK_SESSION_TIMEOUT_MS)
  --sqlite FILE                use an embedded log instead of ZooKeeper (HELIOS_SQLITE)
  --name NAME                  host name, default the machine's (HELIOS_NAME)
  --id ID                      pin the agent id (HELIOS_ID)
  --state-dir DIR              default /var/lib/helios-agent (HELIOS_STATE_DIR)
  --port-range START:END       dynamic ports, end exclusive, default 20000:32768 (HELIOS_PORT_RANGE)
  --bind-address ADDRESS       where published ports listen, default 0.0.0.0 (HELIOS_BIND_ADDRESS)
  --dns IP                     DNS server for every container, repeatable (HELIOS_DNS=ip,ip2)
  --add-host HOST:IP           /etc/hosts entry for every container, repeatable (HELIOS_ADD_HOSTS)
  --bind /HOST:/CONTAINER[:ro|rw]
                               bind mount for every container, repeatable (HELIOS_BINDS)
  --advertised-host HOST       host in HELIOS_PORT_*, default the name (HELIOS_ADVERTISED_HOST)
  --label K=V                  agent label, repeatable (HELIOS_LABELS=k=v,k2=v2)
  --env K=V                    env for every container, repeatable (HELIOS_ENV=k=v,...)
  --container-label K=V        extra Docker label on every container (HELIOS_CONTAINER_LABELS)
  --reconcile-interval-ms N    default 30000 (HELIOS_RECONCILE_INTERVAL_MS)
  --log-level LEVEL            debug|info|warn|error, default info (HELIOS_AGENT_LOG)
  --outbox-max-events N        most facts queued for the log while it is unreachable, default
                               100000 (HELIOS_OUTBOX_MAX_EVENTS)
  --outbox-max-bytes SIZE      most bytes of them, e.g. 64MiB (the default), 512KiB, 1GiB; at least
                               64KiB (HELIOS_OUTBOX_MAX_BYTES). At either bound the oldest state of
                               a task with a newer one queued is dropped, other facts are refused
  --append-direct              append facts to ZooKeeper ourselves instead of through a master
                               (HELIOS_APPEND_DIRECT=1); by default they go through the masters
                               announced in ZooKeeper, and directly only when none answers
`

const fail = (message: string): never => {
  process.stderr.write(`${message}\n\n${USAGE}`)
  process.exit(2)
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        zk: { type: "string" },
        "zk-root": { type: "string" },
        "zk-session-timeout-ms": { type: "string" },
        sqlite: { type: "string" },
        name: { type: "string" },
        id: { type: "string" },
        "state-dir": { type: "string" },
        "port-range": { type: "string" },
        "bind-address": { type: "string" },
        dns: { type: "string", multiple: true },
        "add-host": { type: "string", multiple: true },
        bind: { type: "string", multiple: true },
        "advertised-host": { type: "string" },
        label: { type: "string", multiple: true },
        env: { type: "string", multiple: true },
        "container-label": { type: "string", multiple: true },
        "reconcile-interval-ms": { type: "string" },
        "outbox-max-events": { type: "string" },
        "outbox-max-bytes": { type: "string" },
        "log-level": { type: "string" },
        "append-direct": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    })
  } catch (e) {
    return fail((e as Error).message)
  }
})()

if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const env = (name: string): string | undefined => {
  const v = process.env[name]
  return v === undefined || v === "" ? undefined : v
}
const pick = (flag: string | undefined, envName: string): string | undefined => flag ?? env(envName)

const pairs = (flags: string[] | undefined, envName: string, what: string): Record<string, string> => {
  const items = flags ?? env(envName)?.split(",") ?? []
  const out: Record<string, string> = {}
  for (const item of items) {
    const i = item.indexOf("=")
    if (i <= 0) fail(`bad ${what} "${item}": expected KEY=VALUE`)
    out[item.slice(0, i)] = item.slice(i + 1)
  }
  return out
}

const int = (text: string | undefined, what: string): number | undefined => {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n <= 0) fail(`bad ${what} "${text}": expected a positive integer`)
  return n
}

const list = (flags: string[] | undefined, envName: string): string[] | undefined => flags ?? env(envName)?.split(",")

// Helios's `--bind` is an extra bind mount; an address there is the old meaning of this flag.
if (env("HELIOS_BIND") !== undefined) fail("HELIOS_BIND is no longer read: the published ports' address is HELIOS_BIND_ADDRESS")
for (const b of values.bind ?? [])
  if (isIP(b) !== 0) fail(`bad --bind "${b}": --bind is a bind mount for every container (Helios); the published ports' address is --bind-address`)
const decorations = (() => {
  const r = decodeContainerFlags({
    dns: list(values.dns, "HELIOS_DNS"),
    addHost: list(values["add-host"], "HELIOS_ADD_HOSTS"),
    bind: list(values.bind, "HELIOS_BINDS"),
  })
  return Result.isSuccess(r) ? r.success : fail(`bad ${r.failure}`)
})()

const outbox = (() => {
  const r = decodeOutboxFlags({
    maxEvents: pick(values["outbox-max-events"], "HELIOS_OUTBOX_MAX_EVENTS"),
    maxBytes: pick(values["outbox-max-bytes"], "HELIOS_OUTBOX_MAX_BYTES"),
  })
  return Result.isSuccess(r) ? r.success : fail(`bad ${r.failure}`)
})()

const level = (pick(values["log-level"], "HELIOS_AGENT_LOG") ?? "info") as LogLevel
if (!["debug", "info", "warn", "error"].includes(level)) fail(`bad log level "${level}"`)
const hostName = pick(values.name, "HELIOS_NAME") ?? os.hostname()
const logger = jsonLogger(level, { host: hostName })
const zkConnect = pick(values.zk, "HELIOS_ZK")
const sqlite = pick(values.sqlite, "HELIOS_SQLITE")
if (zkConnect === undefined && sqlite === undefined) fail("give --zk (or --sqlite for an embedded log)")
const zkRoot = pick(values["zk-root"], "HELIOS_ZK_ROOT") ?? "/helios"

const main = async () => {
  const mainStartedAt = Date.now()
  let zk: ZkClient | undefined
  let log: EventLog
  let hostInfo: HostInfoStore
  const stateDir = pick(values["state-dir"], "HELIOS_STATE_DIR") ?? "/var/lib/helios-agent"
  if (zkConnect !== undefined) {
    const sessionTimeoutMs = int(pick(values["zk-session-timeout-ms"], "HELIOS_ZK_SESSION_TIMEOUT_MS"), "session timeout") ?? 10_000
    // Keep retrying the first connection: an agent may start before ZooKeeper does.
    for (;;) {
      try {
        zk = await ZkClient.connect(zkConnect, { sessionTimeoutMs }, 15_000)
        break
      } catch (e) {
        logger.log("warn", "ZooKeeper not reachable yet", { zk: zkConnect, error: (e as Error).message })
      }
    }
    const direct = await ZooKeeperEventLog.open(zk, { root: zkRoot })
    // A fleet's facts reach the log through the masters (one writer, not one per host racing for
    // the next position): see agent/master-relay.ts.
    log =
      values["append-direct"] === true || env("HELIOS_APPEND_DIRECT") === "1"
        ? direct
        : new MasterRelayLog({ direct, host: hostName as HostName, masters: zkMasterUrls(zk, zkRoot), logger })
    hostInfo = new ZkHostInfoStore(zk, zkRoot)
  } else {
    log = new SqliteEventLog(sqlite!)
    hostInfo = new LocalHostInfoStore(`${sqlite}.hostinfo`)
  }
  const reconcileIntervalMs = int(pick(values["reconcile-interval-ms"], "HELIOS_RECONCILE_INTERVAL_MS"), "reconcile interval")
  const portRange = pick(values["port-range"], "HELIOS_PORT_RANGE")
  const bindAddress = pick(values["bind-address"], "HELIOS_BIND_ADDRESS")
  const advertisedHost = pick(values["advertised-host"], "HELIOS_ADVERTISED_HOST")
  const agentId = pick(values.id, "HELIOS_ID")
  // Fault tests only (HELIOS_TEST_PAUSE_*, see agent/test-pauses.ts); absent in production.
  const pauses = testPausesFromEnv(process.env)
  const runtime = pauses === undefined ? new DockerRuntime() : withTestPauses(new DockerRuntime(), pauses, logger)
  const agent = await startAgent({
    log,
    hostInfo,
    runtime,
    hostName,
    stateDir,
    logger,
    labels: pairs(values.label, "HELIOS_LABELS", "label"),
    env: pairs(values.env, "HELIOS_ENV", "env"),
    containerLabels: pairs(values["container-label"], "HELIOS_CONTAINER_LABELS", "container label"),
    dns: decorations.dns,
    extraHosts: decorations.extraHosts,
    extraBinds: decorations.extraBinds,
    ...(zk !== undefined ? { zk, zkRoot } : {}),
    ...(agentId !== undefined ? { agentId } : {}),
    ...(portRange !== undefined ? { portRange } : {}),
    ...(bindAddress !== undefined ? { bindAddress } : {}),
    ...(advertisedHost !== undefined ? { advertisedHost } : {}),
    ...(reconcileIntervalMs !== undefined ? { reconcileIntervalMs } : {}),
    outbox,
  })
  const say = (event: string, extra: Record<string, unknown> = {}) =>
    process.stdout.write(
      JSON.stringify({ event, agentId: agent.agentId, host: agent.hostName, pid: process.pid, at: Date.now(), sinceStartMs: Date.now() - mainStartedAt, ...extra }) + "\n",
    )
  say("started")
  void agent.registered.then(() => say("registered"))

  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.log("info", "shutting down", { signal })
    await agent.stop()
    await log.close()
    await hostInfo.close()
    await zk?.close()
    process.exit(0)
  }
  process.on("SIGTERM", () => void shutdown("SIGTERM"))
  process.on("SIGINT", () => void shutdown("SIGINT"))
}

main().catch((e: unknown) => {
  logger.log("error", "agent failed", { error: e instanceof Error ? e.message : String(e) })
  process.exit(1)
})
