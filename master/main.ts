#!/usr/bin/env -S npx tsx
/*
 * A master on ZooKeeper: `helios-master --zk 127.0.0.1:2181 [--port 5801] [--name NAME]` (from a
 * checkout also `npx tsx master/main.ts ...`). USAGE below lists the flags and their environment
 * variables. --skip-undecodable POSITION (repeatable): skip the undecodable event at that log position
 * instead of holding before it (README "Failure modes"); give every master the same positions.
 * --checkpoint-every N (HELIOS_CHECKPOINT_EVERY): events between the checkpoints `/state?at=` starts
 * from (default 10,000; with --state-dir they are kept in <state-dir>/checkpoints, else in memory).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { DEFAULT_AGENT_REAPING_TIMEOUT_HOURS, HOUR_MS } from "./agent-reaper.ts"
import { CONTAINER_POLICY_OPTIONS } from "../core/container-policy.ts"

// `helios-master archive ...`: the operator's archiving command (master/archive-command.ts).
if (process.argv[2] === "archive") {
  const { runArchiveCommand } = await import("./archive-command.ts")
  process.exit(await runArchiveCommand(process.argv.slice(3)))
}

const USAGE = `usage: helios-master [options]
       helios-master archive --through POSITION --dir DIR [--zk ...]   (helios-master archive --help)
  --zk HOST:PORT[,HOST:PORT]   ZooKeeper ensemble, default 127.0.0.1:2181 (HELIOS_ZK)
  --zk-root PATH               the cluster's root path, default /helios (HELIOS_ZK_ROOT)
  --port PORT                  HTTP API port, default 5801 (HELIOS_MASTER_PORT)
  --bind ADDRESS               address the API listens on, default 0.0.0.0
  --advertised-url URL         where agents reach this master to relay their facts,
                               default http://<host name>:<port> (HELIOS_MASTER_ADVERTISED_URL)
  --name NAME                  this master's name, default the host name (HELIOS_MASTER_NAME)
  --state-dir DIR              where the read-model snapshot is kept, so a restart reads only the
                               log's tail (HELIOS_MASTER_STATE_DIR)
  --agent-reaping-timeout H    deregister hosts DOWN longer than H hours, default ${DEFAULT_AGENT_REAPING_TIMEOUT_HOURS}
                               (14 days), fractions allowed, 0 disables (HELIOS_AGENT_REAPING_TIMEOUT)
  --skip-undecodable POSITION  skip the undecodable event at this log position instead of holding
                               before it, repeatable (give every master the same positions)
  --checkpoint-every N         events between the checkpoints /state?at= starts from, default 10000
                               (HELIOS_CHECKPOINT_EVERY)
  --pack-interval SECONDS      how often the leader packs the log's sealed segments into a few large
                               znodes and, every tenth of the log, shares a snapshot of its read model
                               beside it (a new master starts there), default 30, 0: never
                               (HELIOS_PACK_INTERVAL)
  --compress-from BYTES|off    large answers (statuses, /state) this size or more are gzip-compressed
                               for a client that accepts gzip, default 65536; off: never (the
                               answer's CPU is spent where its bytes are cheap: clients on this
                               machine or its LAN) (HELIOS_COMPRESS_FROM)
  --archive-dir DIR            where archive files of the log's oldest events are (helios-master
                               archive): queries about archived positions are answered from them,
                               without it with 410 Gone (HELIOS_ARCHIVE_DIR)
Security (README "Security model"):
  --auth-file PATH             bearer-token principals and their capabilities (HELIOS_AUTH_FILE);
                               without it the API is open to whoever reaches it (a warning says so)
  --zk-auth-file FILE          ZooKeeper digest identities; nodes get ACLs (HELIOS_ZK_AUTH_FILE)
  --tls-cert FILE --tls-key FILE  serve HTTPS (PEM) (HELIOS_TLS_CERT, HELIOS_TLS_KEY)
  --cors-origin ORIGIN         web pages of this origin may call the API, repeatable (never "*")
  --allowed-host NAME          a name requests may give in Host, repeatable (DNS rebinding)
Container policy (a job asking more is refused with a 400 naming the flag):
  --allow-bind-mount PREFIX    host paths jobs may bind-mount, repeatable (none by default)
  --allow-docker-socket        jobs may mount the Docker socket
  --allow-unconfined           jobs may turn off seccomp/apparmor/systempaths confinement
  --allow-host-network         jobs may use the host's network or another container's
  --allow-runtime NAME         a container runtime jobs may ask for besides runc, repeatable
  --whitelisted-capability CAP a Linux capability jobs may add, repeatable
  -h, --help                   show this help
The HTTP API is described at /openapi.json (reference page: /docs).
`

const fail = (message: string): never => {
  process.stderr.write(`helios-master: ${message}\n\n${USAGE}`)
  process.exit(2)
}

const parsed = (() => {
  try {
    return parseArgs({
      options: {
        zk: { type: "string", default: process.env.HELIOS_ZK ?? "127.0.0.1:2181" },
        "zk-root": { type: "string", default: process.env.HELIOS_ZK_ROOT ?? "/helios" },
        port: { type: "string", default: process.env.HELIOS_MASTER_PORT ?? "5801" },
        bind: { type: "string", default: "0.0.0.0" },
        "advertised-url": { type: "string", default: process.env.HELIOS_MASTER_ADVERTISED_URL },
        name: { type: "string", default: process.env.HELIOS_MASTER_NAME },
        "whitelisted-capability": { type: "string", multiple: true, default: [] },
        "state-dir": { type: "string", default: process.env.HELIOS_MASTER_STATE_DIR },
        "agent-reaping-timeout": { type: "string", default: process.env.HELIOS_AGENT_REAPING_TIMEOUT ?? String(DEFAULT_AGENT_REAPING_TIMEOUT_HOURS) },
        "skip-undecodable": { type: "string", multiple: true, default: [] },
        "checkpoint-every": { type: "string", default: process.env.HELIOS_CHECKPOINT_EVERY },
        "pack-interval": { type: "string", default: process.env.HELIOS_PACK_INTERVAL ?? "30" },
        "archive-dir": { type: "string", default: process.env.HELIOS_ARCHIVE_DIR },
        "compress-from": { type: "string", default: process.env.HELIOS_COMPRESS_FROM },
        ...CONTAINER_POLICY_OPTIONS,
        "auth-file": { type: "string", default: process.env.HELIOS_AUTH_FILE },
        "zk-auth-file": { type: "string", default: process.env.HELIOS_ZK_AUTH_FILE },
        "tls-cert": { type: "string", default: process.env.HELIOS_TLS_CERT },
        "tls-key": { type: "string", default: process.env.HELIOS_TLS_KEY },
        "cors-origin": { type: "string", multiple: true, default: [] },
        "allowed-host": { type: "string", multiple: true, default: [] },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    })
  } catch (e) {
    return fail((e as Error).message)
  }
})()
const { values } = parsed
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

// Loaded only now: `--help` and a bad flag answer without loading the master.
const [{ collectDefaultMetrics, Registry }, { ZkClient }, { ZooKeeperEventLog }, { startMaster }, { ZkHostInfoStore }, { installCrashHook }, { normalizeOrigin }, { Principals }, { aclPolicy, readZkAuthFile }, { containerPolicyFromFlags }, { Result }, { decodeInput, formatFieldErrors }, { HostName }] =
  await Promise.all([
    import("prom-client"),
    import("../log/zk-client.ts"),
    import("../log/zookeeper-log.ts"),
    import("./master.ts"),
    import("../log/zk-host-info-store.ts"),
    import("./crash-hook.ts"),
    import("./browser-guard.ts"),
    import("./auth.ts"),
    import("../log/zk-acl.ts"),
    import("../core/container-policy.ts"),
    import("effect"),
    import("../core/decode.ts"),
    import("../core/ids.ts"),
  ])

// Numbers as written in decimal: Number() would also take "", "0x10" and "1e3".
const port = Number(values.port)
if (!/^\d{1,5}$/.test(values.port!.trim()) || port > 65535) {
  console.error(`helios-master: --port: not a port: ${values.port}`)
  process.exit(1)
}
const reapingHours = Number(values["agent-reaping-timeout"])
if (!/^\d+(\.\d+)?$/.test(values["agent-reaping-timeout"]!.trim()) || !Number.isFinite(reapingHours)) {
  console.error(`helios-master: --agent-reaping-timeout: expected a number of hours (0 disables), got ${values["agent-reaping-timeout"]}`)
  process.exit(1)
}
const skipUndecodable = values["skip-undecodable"]!.map((p) => {
  if (!/^[1-9]\d*$/.test(p.trim())) {
    console.error(`helios-master: --skip-undecodable: expected a log position (a positive integer), got ${p}`)
    process.exit(1)
  }
  return Number(p)
})
const checkpointEvery = values["checkpoint-every"] === undefined ? undefined : Number(values["checkpoint-every"])
if (checkpointEvery !== undefined && !(/^[1-9]\d*$/.test(values["checkpoint-every"]!.trim()) && Number.isSafeInteger(checkpointEvery))) {
  console.error(`helios-master: --checkpoint-every: expected a number of events (a positive integer), got ${values["checkpoint-every"]}`)
  process.exit(1)
}
const packIntervalSeconds = Number(values["pack-interval"])
if (!(/^\d+(\.\d+)?$/.test(values["pack-interval"]!.trim()) && (packIntervalSeconds === 0 || (packIntervalSeconds >= 0.1 && packIntervalSeconds <= 86_400)))) {
  console.error(`helios-master: --pack-interval: expected 0 (never) or seconds between 0.1 and 86400, got ${values["pack-interval"]}`)
  process.exit(1)
}
const compressFrom = values["compress-from"]?.trim()
if (compressFrom !== undefined && compressFrom !== "off" && !(/^\d+$/.test(compressFrom) && Number.isSafeInteger(Number(compressFrom)))) {
  console.error(`helios-master: --compress-from: expected a number of bytes (0 or more) or "off", got ${values["compress-from"]}`)
  process.exit(1)
}
const compressFromBytes = compressFrom === undefined ? undefined : compressFrom === "off" ? Number.POSITIVE_INFINITY : Number(compressFrom)
const corsOrigins = values["cors-origin"]!.map((o) => {
  const origin = normalizeOrigin(o)
  if (origin instanceof Error) {
    console.error(`helios-master: --cors-origin: ${origin.message}`)
    process.exit(1)
  }
  return origin
})
const containerPolicy = containerPolicyFromFlags(values)
if (containerPolicy instanceof Error) {
  console.error(`helios-master: ${containerPolicy.message}`)
  process.exit(1)
}
const principals = values["auth-file"] ? Principals.fromFile(values["auth-file"]) : undefined
if (principals instanceof Error) {
  console.error(`helios-master: --auth-file: ${principals.message}`)
  process.exit(1)
}
if (principals === undefined) console.error("helios-master: warning: no --auth-file: anyone who reaches this master may use its whole API")
const tls = (() => {
  const [certFile, keyFile] = [values["tls-cert"], values["tls-key"]]
  if (certFile === undefined && keyFile === undefined) return undefined
  if (certFile === undefined || keyFile === undefined) {
    console.error("helios-master: --tls-cert and --tls-key go together")
    process.exit(1)
  }
  try {
    return { cert: readFileSync(certFile), key: readFileSync(keyFile) }
  } catch (e) {
    console.error(`helios-master: --tls-cert/--tls-key: ${(e as Error).message}`)
    process.exit(1)
  }
})()
const root = values["zk-root"]!
// ZooKeeper's path rules, checked before connecting (the client asserts them and would crash).
if (!/^(\/[^/\u0000]+)+$/.test(root) || root.split("/").some((part) => part === "." || part === "..")) {
  console.error(`helios-master: --zk-root: expected an absolute ZooKeeper path such as /helios, got ${JSON.stringify(root)}`)
  process.exit(1)
}
// The name is a znode under the masters' and a label on its events: a host name.
const badName = values.name === undefined ? undefined : decodeInput(HostName, values.name)
if (badName !== undefined && Result.isFailure(badName)) {
  console.error(`helios-master: --name: expected a host name, got ${JSON.stringify(values.name)}: ${formatFieldErrors(badName.failure)}`)
  process.exit(1)
}
if (values["advertised-url"] !== undefined && !(URL.canParse(values["advertised-url"]) && /^https?:$/.test(new URL(values["advertised-url"]).protocol))) {
  console.error(`helios-master: --advertised-url: expected an http:// or https:// URL, got ${JSON.stringify(values["advertised-url"])}`)
  process.exit(1)
}
const zkAuth = values["zk-auth-file"] ? readZkAuthFile(values["zk-auth-file"]) : undefined
if (zkAuth instanceof Error) {
  console.error(`helios-master: --zk-auth-file: ${zkAuth.message}`)
  process.exit(1)
}
const zk = await ZkClient.connect(values.zk!, zkAuth ? { auth: zkAuth, aclFor: aclPolicy(root, zkAuth) } : {}).catch((e: unknown) => {
  console.error(`helios-master: cannot reach ZooKeeper at ${values.zk}: ${(e as { reason?: string }).reason ?? ((e as Error).message || String(e))}`)
  process.exit(1)
})
installCrashHook(zk)
const log = await ZooKeeperEventLog.open(zk, { root, ...(values["archive-dir"] ? { archiveDir: values["archive-dir"] } : {}) })
// GET /metrics: this master's metrics and the process's (CPU, memory, event loop lag).
const metrics = new Registry()
collectDefaultMetrics({ register: metrics })
const master = await startMaster({
  metrics,
  log,
  zk,
  zkRoot: root,
  port,
  bindAddress: values.bind!,
  hostInfo: new ZkHostInfoStore(zk, root),
  containerPolicy,
  ...(tls ? { tls } : {}),
  ...(principals ? { principals } : {}),
  agentReapingTimeoutMs: reapingHours * HOUR_MS,
  skipUndecodable,
  corsOrigins,
  allowedHosts: values["allowed-host"]!,
  ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
  packIntervalMs: packIntervalSeconds * 1000,
  ...(compressFromBytes !== undefined ? { compressFromBytes } : {}),
  ...(values.name ? { name: values.name } : {}),
  ...(values["advertised-url"] ? { advertisedUrl: values["advertised-url"] } : {}),
  ...(values["state-dir"] ? { snapshotFile: join(values["state-dir"], "snapshot.bin"), checkpointDir: join(values["state-dir"], "checkpoints") } : {}),
}).catch((e: unknown) => {
  // One line, not a stack: --bind not this machine's, a port in use, a --state-dir that is a file...
  console.error(`helios-master: cannot start: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
console.log(`helios-master ${master.name} serving ${master.url} (log at position ${master.projection.position})`)
const shutdown = async () => {
  await master.stop()
  await log.close()
  await zk.close()
  process.exit(0)
}
process.on("SIGINT", () => void shutdown())
process.on("SIGTERM", () => void shutdown())
