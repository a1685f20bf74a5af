/**
 * A fleet on one machine, to try deployment groups and rolling updates (and to produce the
 * README's examples): a private ZooKeeper, one master on 127.0.0.1:PORT and N agents, each its own
 * host with its own labels, port range and state dir, all sharing this machine's Docker engine.
 *
 *   npx tsx test/local-fleet.ts [--port 5801] [--host NAME:K=V,K=V]...
 *   npx tsx test/local-fleet.ts --host web1:role=web --host web2:role=web --host db1:role=db
 *
 * Default hosts: web1, web2, web10 (role=web) and db1 (role=db). Prints `HELIOS_MASTER=...` once
 * the hosts are up; Ctrl-C stops everything and removes the fleet's containers and data.
 * Needs ZooKeeper's jars (scripts/setup.sh) and a running dockerd (scripts/dockerd.sh). It lives in
 * test/ because it is built on the test harness (its private ZooKeeper, its container cleanup).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { fileURLToPath } from "node:url"
import { removeContainersByLabel } from "./docker.ts"
import { startZooKeeper } from "./zookeeper.ts"

const repo = fileURLToPath(new URL("..", import.meta.url))
const { values } = parseArgs({ options: { port: { type: "string", default: "5801" }, host: { type: "string", multiple: true } } })
const hosts = (values.host?.length ? values.host : ["web1:role=web", "web2:role=web", "web10:role=web", "db1:role=db"]).map((spec) => {
  const [name, labels = ""] = spec.split(":", 2)
  if (!name || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`--host ${spec}: expected NAME:K=V,K=V`)
  return { name, labels: labels === "" ? [] : labels.split(",") }
})

const dir = mkdtempSync(join(tmpdir(), "helios-local-fleet-"))
const runLabel = `helios-local-fleet=${randomBytes(4).toString("hex")}`
const children: ChildProcess[] = []
const zk = await startZooKeeper({ dataDir: join(dir, "zk"), fsync: true })
const node = (args: string[], name: string) => {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: repo, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, HELIOS_LOG_LEVEL: "warn" } })
  child.on("exit", (code) => code !== 0 && code !== null && console.error(`local-fleet: ${name} exited with ${code}`))
  children.push(child)
}

const stop = async () => {
  for (const c of children) c.kill("SIGTERM")
  await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)))))
  await removeContainersByLabel(runLabel).catch(() => undefined)
  await zk.destroy()
  rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}
process.on("SIGINT", () => void stop())
process.on("SIGTERM", () => void stop())

const url = `http://127.0.0.1:${values.port}`
node(["master/main.ts", "--zk", zk.connectString, "--port", values.port!, "--bind", "127.0.0.1", "--name", "local-master"], "master")
hosts.forEach((h, i) =>
  node(
    [
      "agent/main.ts",
      "--zk", zk.connectString,
      "--name", h.name,
      "--state-dir", join(dir, h.name),
      "--port-range", `${30000 + i * 200}:${30200 + i * 200}`,
      "--bind-address", "127.0.0.1",
      "--container-label", runLabel,
      "--log-level", "warn",
      ...h.labels.flatMap((l) => ["--label", l]),
    ],
    h.name,
  ),
)
for (const deadline = Date.now() + 120_000; ; ) {
  const statuses = await fetch(`${url}/hosts/statuses`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(hosts.map((h) => h.name)) }).then(
    (r): Promise<Record<string, { status: string }>> | Record<string, { status: string }> => (r.ok ? (r.json() as Promise<Record<string, { status: string }>>) : {}),
    () => ({}) as Record<string, { status: string }>,
  )
  if (hosts.every((h) => statuses[h.name]?.status === "UP")) break
  if (Date.now() > deadline) {
    console.error("local-fleet: the hosts did not come up within 2 minutes")
    await stop()
  }
  await new Promise((r) => setTimeout(r, 500))
}
console.log(`local-fleet: ${hosts.map((h) => `${h.name}${h.labels.length ? ` (${h.labels.join(",")})` : ""}`).join(", ")} are up`)
console.log(`HELIOS_MASTER=${url}`)
