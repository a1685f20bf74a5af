#!/usr/bin/env -S npx tsx
/*
 * A master on ZooKeeper: `helios-master --zk 127.0.0.1:2181 [--port 5801] [--name NAME]` (from a
 * checkout also `npx tsx master/main.ts ...`). USAGE below lists the flags and their environment
 * variables. --skip-undecodable POSITION (repeatable): skip the undecodable event at that log position
 * instead of holding before it (README "Failure modes"); give every master the same positions.
 */
import { join } from "node:path"
import { parseArgs } from "node:util"
import { DEFAULT_AGENT_REAPING_TIMEOUT_HOURS, HOUR_MS } from "./agent-reaper.ts"

const USAGE = `usage: helios-master [options]
  --zk HOST:PORT[,HOST:PORT]   ZooKeeper ensemble, default 127.0.0.1:2181 (HELIOS_ZK)
  --zk-root PATH               the cluster's root path, default /helios (HELIOS_ZK_ROOT)
  --port PORT                  HTTP API port, default 5801 (HELIOS_MASTER_PORT)
  --bind ADDRESS               address the API listens on, default 0.0.0.0
  --advertised-url URL         where agents reach this master to relay their facts,
                               default http://<host name>:<port> (HELIOS_MASTER_ADVERTISED_URL)
  --name NAME                  this master's name, default the host name (HELIOS_MASTER_NAME)
  --state-dir DIR              where the read-model snapshot is kept, so a restart reads only the
                               log's tail (HELIOS_MASTER_STATE_DIR)
  --whitelisted-capability CAP Linux capability jobs may add, repeatable
  --agent-reaping-timeout H    deregister hosts DOWN longer than H hours, default ${DEFAULT_AGENT_REAPING_TIMEOUT_HOURS}
                               (14 days), fractions allowed, 0 disables (HELIOS_AGENT_REAPING_TIMEOUT)
  --skip-undecodable POSITION  skip the undecodable event at this log position instead of holding
                               before it, repeatable (give every master the same positions)
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

const port = Number(values.port)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`helios-master: --port: not a port: ${values.port}`)
  process.exit(1)
}
const reapingHours = Number(values["agent-reaping-timeout"])
if (values["agent-reaping-timeout"]!.trim() === "" || !Number.isFinite(reapingHours) || reapingHours < 0) {
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
// Loaded only now: `--help` and a bad flag answer without loading the master.
const [{ ZkClient }, { ZooKeeperEventLog }, { startMaster }, { ZkHostInfoStore }, { installCrashHook }] = await Promise.all([
  import("../log/zk-client.ts"),
  import("../log/zookeeper-log.ts"),
  import("./master.ts"),
  import("../log/zk-host-info-store.ts"),
  import("./crash-hook.ts"),
])
const zk = await ZkClient.connect(values.zk!).catch((e: unknown) => {
  console.error(`helios-master: cannot reach ZooKeeper at ${values.zk}: ${(e as Error).message ?? e}`)
  process.exit(1)
})
installCrashHook(zk)
const root = values["zk-root"]!
const log = await ZooKeeperEventLog.open(zk, { root })
const master = await startMaster({
  log,
  zk,
  zkRoot: root,
  port,
  bindAddress: values.bind!,
  hostInfo: new ZkHostInfoStore(zk, root),
  whitelistedCapabilities: values["whitelisted-capability"]!,
  agentReapingTimeoutMs: reapingHours * HOUR_MS,
  skipUndecodable,
  ...(values.name ? { name: values.name } : {}),
  ...(values["advertised-url"] ? { advertisedUrl: values["advertised-url"] } : {}),
  ...(values["state-dir"] ? { snapshotFile: join(values["state-dir"], "snapshot.bin") } : {}),
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
