#!/usr/bin/env -S npx tsx
/*
 * A master on ZooKeeper: `npx tsx master/main.ts --zk 127.0.0.1:2181 [--port 5801] [--name NAME]`.
 * Environment: HELIOS_ZK, HELIOS_ZK_ROOT, HELIOS_MASTER_PORT, HELIOS_MASTER_NAME, HELIOS_MASTER_STATE_DIR,
 * HELIOS_MASTER_ADVERTISED_URL (--advertised-url: where agents reach this master to relay their facts;
 * default http://<host name>:<port>).
 * (--state-dir: where the master keeps its read-model snapshot, so a restart reads only the log's tail).
 * --agent-reaping-timeout HOURS (HELIOS_AGENT_REAPING_TIMEOUT): the leader deregisters hosts DOWN
 * longer than this, as Helios's master does; default 336 (14 days), fractions allowed, 0 disables.
 * --skip-undecodable POSITION (repeatable): skip the undecodable event at that log position instead
 * of holding before it (README "Failure modes"); give every master the same positions.
 * Container policy (core/container-policy.ts; a job asking more is refused with a 400 naming the flag):
 * --allow-bind-mount PREFIX (repeatable; none by default), --allow-docker-socket, --allow-unconfined,
 * --allow-host-network, --allow-runtime NAME (repeatable), --whitelisted-capability CAP (repeatable).
 * --auth-file PATH (HELIOS_AUTH_FILE): bearer-token principals and their capabilities (master/auth.ts);
 * without it the API is open to whoever reaches it (a warning says so).
 * --zk-auth-file FILE (HELIOS_ZK_AUTH_FILE): the digest identity this master gives ZooKeeper and the
 * masters' and agents' identities its nodes' ACLs name (log/zk-acl.ts); without it nodes are world-open.
 * --tls-cert FILE --tls-key FILE (HELIOS_TLS_CERT, HELIOS_TLS_KEY): serve HTTPS (PEM); the advertised URL
 * becomes https://. Clients trust the issuing CA with --ca-file (CLI) or NODE_EXTRA_CA_CERTS (agents).
 * --cors-origin ORIGIN (repeatable): web pages of this origin may call the API (none by default; never "*").
 * --allowed-host NAME (repeatable): names a request may give in Host (checked always when given, and
 * on a loopback bind address, where loopback names are allowed: DNS rebinding).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { collectDefaultMetrics, Registry } from "prom-client"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { startMaster } from "./master.ts"
import { DEFAULT_AGENT_REAPING_TIMEOUT_HOURS, HOUR_MS } from "./agent-reaper.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { installCrashHook } from "./crash-hook.ts"
import { normalizeOrigin } from "./browser-guard.ts"
import { Principals } from "./auth.ts"
import { aclPolicy, readZkAuthFile } from "../log/zk-acl.ts"
import { CONTAINER_POLICY_OPTIONS, containerPolicyFromFlags } from "../core/container-policy.ts"

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
    ...CONTAINER_POLICY_OPTIONS,
    "auth-file": { type: "string", default: process.env.HELIOS_AUTH_FILE },
    "zk-auth-file": { type: "string", default: process.env.HELIOS_ZK_AUTH_FILE },
    "tls-cert": { type: "string", default: process.env.HELIOS_TLS_CERT },
    "tls-key": { type: "string", default: process.env.HELIOS_TLS_KEY },
    "cors-origin": { type: "string", multiple: true, default: [] },
    "allowed-host": { type: "string", multiple: true, default: [] },
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
const zkAuth = values["zk-auth-file"] ? readZkAuthFile(values["zk-auth-file"]) : undefined
if (zkAuth instanceof Error) {
  console.error(`helios-master: --zk-auth-file: ${zkAuth.message}`)
  process.exit(1)
}
const zk = await ZkClient.connect(values.zk!, zkAuth ? { auth: zkAuth, aclFor: aclPolicy(root, zkAuth) } : {}).catch((e: unknown) => {
  console.error(`helios-master: cannot reach ZooKeeper at ${values.zk}: ${(e as Error).message ?? e}`)
  process.exit(1)
})
installCrashHook(zk)
const log = await ZooKeeperEventLog.open(zk, { root })
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
