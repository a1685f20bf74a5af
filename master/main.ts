#!/usr/bin/env -S npx tsx
/*
 * A master on ZooKeeper: `npx tsx master/main.ts --zk 127.0.0.1:2181 [--port 5801] [--name NAME]`.
 * Environment: HELIOS_ZK, HELIOS_ZK_ROOT, HELIOS_MASTER_PORT, HELIOS_MASTER_NAME, HELIOS_MASTER_STATE_DIR,
 * HELIOS_MASTER_ADVERTISED_URL (--advertised-url: where agents reach this master to relay their facts;
 * default http://<host name>:<port>).
 * (--state-dir: where the master keeps its read-model snapshot, so a restart reads only the log's tail,
 * and its checkpoints for `/state?at=` in <state-dir>/checkpoints; without it they are kept in memory only).
 * --agent-reaping-timeout HOURS (HELIOS_AGENT_REAPING_TIMEOUT): the leader deregisters hosts DOWN
 * longer than this, as Helios's master does; default 336 (14 days), fractions allowed, 0 disables.
 * --checkpoint-every N (HELIOS_CHECKPOINT_EVERY): events between the checkpoints `/state?at=` starts
 * from (default 10,000; a query reads at most that many events of the log).
 * --skip-undecodable POSITION (repeatable): skip the undecodable event at that log position instead
 * of holding before it (README "Failure modes"); give every master the same positions.
 */
import { join } from "node:path"
import { parseArgs } from "node:util"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { startMaster } from "./master.ts"
import { DEFAULT_AGENT_REAPING_TIMEOUT_HOURS, HOUR_MS } from "./agent-reaper.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { installCrashHook } from "./crash-hook.ts"

const { values } = parseArgs({
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
  },
})

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
const checkpointEvery = values["checkpoint-every"] === undefined ? undefined : Number(values["checkpoint-every"])
if (checkpointEvery !== undefined && !(Number.isSafeInteger(checkpointEvery) && checkpointEvery > 0)) {
  console.error(`helios-master: --checkpoint-every: expected a number of events (a positive integer), got ${values["checkpoint-every"]}`)
  process.exit(1)
}
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
  ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
  ...(values.name ? { name: values.name } : {}),
  ...(values["advertised-url"] ? { advertisedUrl: values["advertised-url"] } : {}),
  ...(values["state-dir"] ? { snapshotFile: join(values["state-dir"], "snapshot.bin"), checkpointDir: join(values["state-dir"], "checkpoints") } : {}),
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
