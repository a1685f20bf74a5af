/**
 * The agent as a program: `helios-agent --zk 127.0.0.1:2181 --name host1 --state-dir /var/lib/helios-agent`
 * (from a checkout also `node --import tsx agent/main.ts ...`: one process, so a signal reaches the
 * agent itself).
 *
 * Every flag has a HELIOS_* environment equivalent (flags win). Repeatable K=V flags take a
 * comma-separated list in the environment, e.g. HELIOS_LABELS=role=web,zone=a.
 *
 * Prints one JSON line on stdout when started (`{"event":"started",...}`) and one when registered
 * (`{"event":"registered",...}`), each with `at` (epoch ms) and `sinceStartMs` (since the program's
 * code began to run, module loading excluded); logs JSON lines on stderr. SIGTERM/SIGINT stop it gracefully
 * (containers keep running).
 */
import { readFileSync } from "node:fs"
import { isIP } from "node:net"
import os from "node:os"
import { parseArgs } from "node:util"
import { Result } from "effect"
import { collectDefaultMetrics, Registry } from "prom-client"
import { decodeContainerFlags } from "./container-flags.ts"
import { decodeOutboxFlags, parseHostName, portRangeOf } from "./agent-settings.ts"
import { jsonLogger, type LogLevel } from "./logger.ts"
import { serveMetrics, type MetricsServer } from "./metrics.ts"
import type { HostName } from "../core/ids.ts"
import type { EventLog } from "../core/event-log.ts"
import type { HostInfoStore } from "../core/host-info.ts"
import type { ZkClient } from "../log/zk-client.ts"
import { CONTAINER_POLICY_OPTIONS, containerPolicyFromFlags } from "../core/container-policy.ts"
import { aclPolicy, readZkAuthFile } from "../log/zk-acl.ts"

const USAGE = `usage: helios-agent [options]
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
  --metrics-port N             serve Prometheus metrics on http://ADDRESS:N/metrics (HELIOS_METRICS_PORT);
                               off by default; 0 picks a free port (printed in the "started" line)
  --metrics-address ADDRESS    where --metrics-port listens, default 127.0.0.1 (HELIOS_METRICS_ADDRESS)
  --outbox-max-events N        most facts queued for the log while it is unreachable, default
                               100000 (HELIOS_OUTBOX_MAX_EVENTS)
  --outbox-max-bytes SIZE      most bytes of them, e.g. 64MiB (the default), 512KiB, 1GiB; at least
                               64KiB (HELIOS_OUTBOX_MAX_BYTES). At either bound the oldest state of
                               a task with a newer one queued is dropped, other facts are refused
  --append-direct              append facts to ZooKeeper ourselves instead of through a master
                               (HELIOS_APPEND_DIRECT=1); by default they go through the masters
                               announced in ZooKeeper, and directly only when none answers
  --zk-auth-file FILE          the digest identity this agent gives ZooKeeper, and the masters' and agents'
                               identities its nodes' ACLs name (HELIOS_ZK_AUTH_FILE; log/zk-acl.ts). With it the
                               agent never appends to the log itself: its facts go through a master
  --auth-token-file FILE       this agent's bearer token (a principal with agent:<its host>), for
                               masters with --auth-file (HELIOS_AGENT_TOKEN_FILE, or the token in HELIOS_AGENT_TOKEN)
  Container policy: a job asking more than this fails (FAILED, naming the flag) and is not run.
  Give the agents the same flags as the masters.
  --allow-bind-mount PREFIX    host paths jobs may bind-mount, repeatable (HELIOS_ALLOW_BIND_MOUNTS=p,p2); none by default
  --allow-docker-socket        jobs may mount the Docker socket (HELIOS_ALLOW_DOCKER_SOCKET=1 or true)
  --allow-unconfined           securityOpt seccomp/apparmor/systempaths=unconfined, label=disable (HELIOS_ALLOW_UNCONFINED=1 or true)
  --allow-host-network         networkMode host and container:ID (HELIOS_ALLOW_HOST_NETWORK=1 or true)
  --allow-runtime NAME         container runtime other than runc, repeatable (HELIOS_ALLOW_RUNTIMES=a,b)
  --whitelisted-capability CAP capability jobs may add, repeatable (HELIOS_WHITELISTED_CAPABILITIES=a,b)
  -h, --help                   show this help
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
        "metrics-port": { type: "string" },
        "metrics-address": { type: "string" },
        "append-direct": { type: "boolean" },
        "auth-token-file": { type: "string" },
        "zk-auth-file": { type: "string" },
        ...CONTAINER_POLICY_OPTIONS,
        "whitelisted-capability": { type: "string", multiple: true },
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

/** Milliseconds given as a positive whole number, at most what a timer can wait (2^31-1: a longer one fires at once, again and again). */
const int = (text: string | undefined, what: string): number | undefined => {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!/^[1-9]\d*$/.test(text.trim()) || n > 2 ** 31 - 1) fail(`bad ${what} "${text}": expected a positive whole number of milliseconds, at most ${2 ** 31 - 1}`)
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

/** A yes/no environment variable: 1/true or 0/false (or unset); anything else is refused, naming it ("yes" was taken as no). */
const envBool = (envName: string): boolean => {
  const v = env(envName)
  if (v === undefined || v === "" || v === "0" || v.toLowerCase() === "false") return false
  if (v === "1" || v.toLowerCase() === "true") return true
  return fail(`bad ${envName} "${v}": expected 1 or true, 0 or false`)
}
const flagOrEnv = (flag: boolean | undefined, envName: string) => flag === true || envBool(envName)
const containerPolicy = (() => {
  const p = containerPolicyFromFlags({
    "allow-bind-mount": list(values["allow-bind-mount"], "HELIOS_ALLOW_BIND_MOUNTS") ?? [],
    "allow-docker-socket": flagOrEnv(values["allow-docker-socket"], "HELIOS_ALLOW_DOCKER_SOCKET"),
    "allow-unconfined": flagOrEnv(values["allow-unconfined"], "HELIOS_ALLOW_UNCONFINED"),
    "allow-host-network": flagOrEnv(values["allow-host-network"], "HELIOS_ALLOW_HOST_NETWORK"),
    "allow-runtime": list(values["allow-runtime"], "HELIOS_ALLOW_RUNTIMES") ?? [],
    "whitelisted-capability": list(values["whitelisted-capability"], "HELIOS_WHITELISTED_CAPABILITIES") ?? [],
  })
  return p instanceof Error ? fail(p.message) : p
})()

const authToken = (() => {
  const file = pick(values["auth-token-file"], "HELIOS_AGENT_TOKEN_FILE")
  if (file === undefined) return env("HELIOS_AGENT_TOKEN")
  try {
    return readFileSync(file, "utf8").trim() || fail(`--auth-token-file ${file} is empty`)
  } catch (e) {
    return fail(`cannot read --auth-token-file ${file}: ${(e as Error).message}`)
  }
})()

const zkAuth = (() => {
  const file = pick(values["zk-auth-file"], "HELIOS_ZK_AUTH_FILE")
  if (file === undefined) return undefined
  const auth = readZkAuthFile(file)
  if (auth instanceof Error) return fail(`--zk-auth-file: ${auth.message}`)
  if (flagOrEnv(values["append-direct"], "HELIOS_APPEND_DIRECT")) return fail("--append-direct: with --zk-auth-file an agent may not write the log; its facts go through a master")
  return auth
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
if (zkConnect !== undefined && !/^[^,\s]+(,[^,\s]+)*$/.test(zkConnect)) fail(`bad --zk "${zkConnect}": expected HOST:PORT[,HOST:PORT...]`)
// Everything the agent is given is checked here, before it waits for ZooKeeper (which may be away for long).
try {
  parseHostName(hostName)
} catch (e) {
  fail(`bad --name: ${(e as Error).message}`)
}
const portRangeText = pick(values["port-range"], "HELIOS_PORT_RANGE")
try {
  if (portRangeText !== undefined) portRangeOf({ portRange: portRangeText })
} catch (e) {
  fail(`bad --port-range: ${(e as Error).message}`)
}
const reconcileIntervalMs = int(pick(values["reconcile-interval-ms"], "HELIOS_RECONCILE_INTERVAL_MS"), "reconcile interval")
const sessionTimeoutMs = int(pick(values["zk-session-timeout-ms"], "HELIOS_ZK_SESSION_TIMEOUT_MS"), "session timeout") ?? 10_000
const labels = pairs(values.label, "HELIOS_LABELS", "label")
const containerEnv = pairs(values.env, "HELIOS_ENV", "env")
const bindAddress = pick(values["bind-address"], "HELIOS_BIND_ADDRESS")
if (bindAddress !== undefined && isIP(bindAddress) === 0) fail(`bad --bind-address "${bindAddress}": expected an IP address`)
const zkRoot = pick(values["zk-root"], "HELIOS_ZK_ROOT") ?? "/helios"
const metricsPort = (() => {
  const text = pick(values["metrics-port"], "HELIOS_METRICS_PORT")
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`bad metrics port "${text}": expected 0..65535`)
  return n
})()
const metricsAddress = pick(values["metrics-address"], "HELIOS_METRICS_ADDRESS") ?? "127.0.0.1"
if (isIP(metricsAddress) === 0) fail(`bad metrics address "${metricsAddress}": expected an IP address`)

const main = async () => {
  // Loaded only now: `--help` and a bad flag answer without loading the agent, Docker and log clients.
  const [{ DockerRuntime }, { startAgent }, { testPausesFromEnv, withTestPauses }, { MasterRelayLog, zkMasterUrls }, { ZkClient }, { ZooKeeperEventLog }, { ZkHostInfoStore }] =
    await Promise.all([
      import("./docker-runtime.ts"),
      import("./agent.ts"),
      import("./test-pauses.ts"),
      import("./master-relay.ts"),
      import("../log/zk-client.ts"),
      import("../log/zookeeper-log.ts"),
      import("../log/zk-host-info-store.ts"),
    ])
  const mainStartedAt = Date.now()
  let zk: ZkClient | undefined
  let log: EventLog
  let hostInfo: HostInfoStore
  const stateDir = pick(values["state-dir"], "HELIOS_STATE_DIR") ?? "/var/lib/helios-agent"
  if (zkConnect !== undefined) {
    // Keep retrying the first connection: an agent may start before ZooKeeper does (a pause between
    // tries: one that fails at once would otherwise log thousands of lines a second).
    for (let pauseMs = 500; ; pauseMs = Math.min(10_000, pauseMs * 2)) {
      try {
        zk = await ZkClient.connect(zkConnect, { sessionTimeoutMs, ...(zkAuth ? { auth: zkAuth, aclFor: aclPolicy(zkRoot, zkAuth) } : {}) }, 15_000)
        break
      } catch (e) {
        logger.log("warn", "ZooKeeper not reachable yet", { zk: zkConnect, error: (e as Error).message, retryInMs: pauseMs })
        await new Promise((resolve) => setTimeout(resolve, pauseMs))
      }
    }
    const direct = await ZooKeeperEventLog.open(zk, { root: zkRoot })
    // A fleet's facts reach the log through the masters (one writer, not one per host racing for
    // the next position): see agent/master-relay.ts.
    log =
      flagOrEnv(values["append-direct"], "HELIOS_APPEND_DIRECT")
        ? direct
        : new MasterRelayLog({
            direct,
            host: hostName as HostName,
            masters: zkMasterUrls(zk, zkRoot),
            logger,
            ...(authToken !== undefined ? { token: authToken } : {}),
            ...(zkAuth ? { appendDirectly: false } : {}),
          })
    hostInfo = new ZkHostInfoStore(zk, zkRoot)
  } else {
    const [{ SqliteEventLog }, { LocalHostInfoStore }] = await Promise.all([import("../log/sqlite-log.ts"), import("../log/sqlite-host-info-store.ts")])
    log = new SqliteEventLog(sqlite!)
    hostInfo = new LocalHostInfoStore(`${sqlite}.hostinfo`)
  }
  const portRange = portRangeText
  const advertisedHost = pick(values["advertised-host"], "HELIOS_ADVERTISED_HOST")
  const agentId = pick(values.id, "HELIOS_ID")
  // Fault tests only (HELIOS_TEST_PAUSE_*, see agent/test-pauses.ts); absent in production.
  const pauses = testPausesFromEnv(process.env)
  const runtime = pauses === undefined ? new DockerRuntime() : withTestPauses(new DockerRuntime(), pauses, logger)
  // Metrics only when asked for: a registry of this agent's, served on the loopback by default.
  let metrics: Registry | undefined
  let metricsServer: MetricsServer | undefined
  if (metricsPort !== undefined) {
    metrics = new Registry()
    collectDefaultMetrics({ register: metrics })
    metricsServer = await serveMetrics(metrics, metricsPort, metricsAddress).catch((e: unknown) =>
      fail(`cannot serve metrics on ${metricsAddress}:${metricsPort}: ${e instanceof Error ? e.message : String(e)}`),
    )
  }
  const agent = await startAgent({
    log,
    hostInfo,
    runtime,
    hostName,
    stateDir,
    logger,
    labels,
    env: containerEnv,
    containerLabels: pairs(values["container-label"], "HELIOS_CONTAINER_LABELS", "container label"),
    dns: decorations.dns,
    extraHosts: decorations.extraHosts,
    extraBinds: decorations.extraBinds,
    containerPolicy,
    ...(zk !== undefined ? { zk, zkRoot } : {}),
    ...(agentId !== undefined ? { agentId } : {}),
    ...(portRange !== undefined ? { portRange } : {}),
    ...(bindAddress !== undefined ? { bindAddress } : {}),
    ...(advertisedHost !== undefined ? { advertisedHost } : {}),
    ...(reconcileIntervalMs !== undefined ? { reconcileIntervalMs } : {}),
    ...(metrics !== undefined ? { metrics } : {}),
    outbox,
  })
  const say = (event: string, extra: Record<string, unknown> = {}) =>
    process.stdout.write(
      JSON.stringify({ event, agentId: agent.agentId, host: agent.hostName, pid: process.pid, at: Date.now(), sinceStartMs: Date.now() - mainStartedAt, ...extra }) + "\n",
    )
  say("started", metricsServer ? { metrics: metricsServer.url } : {})
  void agent.registered.then(() => say("registered"))

  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.log("info", "shutting down", { signal })
    await agent.stop()
    await metricsServer?.close()
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
