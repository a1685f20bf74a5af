import { homedir } from "node:os"
import { join } from "node:path"
import { bool, intFlag, list, str } from "../args.ts"
import { containerPolicyFromFlags } from "../../core/container-policy.ts"
import type { Command } from "../command.ts"
import { CliError } from "../errors.ts"
import { parsePairs } from "../job-flags.ts"
import { sleep } from "./watch.ts"
import { normalizeOrigin } from "../../master/browser-guard.ts"

const LOG_LEVELS = ["debug", "info", "warn", "error"] as const

const command: Command = {
  name: "solo",
  summary: "run a master and an agent for this machine in one process (Ctrl-C stops it)",
  usage: "",
  description:
    "Keeps its event log in --data-dir (SQLite), or on ZooKeeper with --zk. Stopping it keeps the data\n" +
    "and leaves deployed containers running; the next start adopts them. Docker must be running.\n" +
    "Safe by default: listens on 127.0.0.1, answers only requests carrying its local token (DATA-DIR/token,\n" +
    "found by the CLI), refuses other sites' pages (no wildcard CORS, JSON-only writes, Host checked), and\n" +
    "runs no job that mounts host paths, the Docker socket, runs unconfined or on the host network unless allowed.",
  positionals: [],
  flags: [
    { name: "port", type: "string", metavar: "PORT", help: "port of the master API (default 5801)" },
    { name: "bind", type: "string", metavar: "ADDRESS", help: "address the master API listens on (default 127.0.0.1)" },
    { name: "data-dir", type: "string", metavar: "DIR", help: "where the log, host facts and agent state live (default ~/.helios/solo)" },
    { name: "zk", type: "string", metavar: "HOST:PORT", help: "keep the log on this ZooKeeper instead of the data dir" },
    { name: "zk-root", type: "string", metavar: "PATH", help: "with --zk: the cluster's root path (default /helios)" },
    { name: "name", type: "string", metavar: "HOST", help: "the host name the agent registers (default: this machine's)" },
    { name: "label", type: "string", multiple: true, metavar: "K=V", help: "agent label (host selectors match it)" },
    { name: "container-label", type: "string", multiple: true, metavar: "K=V", help: "extra Docker label on every container the agent creates" },
    { name: "port-range", type: "string", metavar: "START:END", help: "dynamic external ports, end exclusive (default 20000:32768)" },
    { name: "log-level", type: "string", metavar: "LEVEL", help: "log lines also printed on stderr: debug|info|warn|error (default warn)" },
    { name: "allow-bind-mount", type: "string", multiple: true, metavar: "PREFIX", help: "host paths jobs may bind-mount (default: none)" },
    { name: "allow-docker-socket", type: "boolean", help: "jobs may mount the Docker socket (root on this machine)" },
    { name: "allow-unconfined", type: "boolean", help: "jobs may turn off seccomp/apparmor/systempaths confinement" },
    { name: "allow-host-network", type: "boolean", help: "jobs may use networkMode host or container:ID" },
    { name: "allow-runtime", type: "string", multiple: true, metavar: "NAME", help: "container runtime jobs may use besides runc" },
    { name: "whitelisted-capability", type: "string", multiple: true, metavar: "CAP", help: "capability jobs may add" },
    { name: "cors-origin", type: "string", multiple: true, metavar: "ORIGIN", help: "let web pages of this origin (scheme://host[:port]) call the API (default: none)" },
    { name: "allowed-host", type: "string", multiple: true, metavar: "NAME", help: "a name requests may give in Host besides localhost and loopback addresses" },
    { name: "skip-undecodable", type: "string", multiple: true, metavar: "POSITION", help: "skip the undecodable event at this log position instead of holding before it" },
  ],
  async run(ctx) {
    const { args, io } = ctx
    const port = intFlag(args, "port", "solo", 0, 65535) ?? 5801
    if (port > 65535) throw new CliError(`--port: not a port: ${port}`)
    const logLevel = str(args, "log-level") ?? "warn"
    if (!(LOG_LEVELS as ReadonlyArray<string>).includes(logLevel)) throw new CliError(`--log-level: expected debug, info, warn or error, got '${logLevel}'`)
    const zk = str(args, "zk")
    const zkRoot = str(args, "zk-root")
    const name = str(args, "name")
    const portRange = str(args, "port-range")
    const dataDir = str(args, "data-dir") ?? join(io.env["HOME"] || homedir(), ".helios", "solo")
    const skipUndecodable = list(args, "skip-undecodable").map((p) => {
      if (!/^[1-9]\d*$/.test(p)) throw new CliError(`--skip-undecodable: expected a log position (a positive integer), got '${p}'`)
      return Number(p)
    })
    const corsOrigins = list(args, "cors-origin").map((o) => {
      const origin = normalizeOrigin(o)
      if (origin instanceof Error) throw new CliError(`--cors-origin: ${origin.message}`)
      return origin
    })
    const containerPolicy = containerPolicyFromFlags({
      "allow-bind-mount": list(args, "allow-bind-mount"),
      "allow-docker-socket": bool(args, "allow-docker-socket"),
      "allow-unconfined": bool(args, "allow-unconfined"),
      "allow-host-network": bool(args, "allow-host-network"),
      "allow-runtime": list(args, "allow-runtime"),
      "whitelisted-capability": list(args, "whitelisted-capability"),
    })
    if (containerPolicy instanceof Error) throw new CliError(containerPolicy.message)
    // Loaded here, not at the top: the agent, Docker and ZooKeeper clients are only needed to run solo.
    const { startSolo } = await import("../solo.ts")
    const solo = await startSolo({
      port,
      bindAddress: str(args, "bind") ?? "127.0.0.1",
      dataDir,
      logLevel: logLevel as (typeof LOG_LEVELS)[number],
      containerLabels: parsePairs(list(args, "container-label"), "container label"),
      labels: parsePairs(list(args, "label"), "label"),
      stderr: io.stderr,
      env: io.env,
      skipUndecodable,
      corsOrigins,
      containerPolicy,
      allowedHosts: list(args, "allowed-host"),
      ...(zk !== undefined ? { zk } : {}),
      ...(zkRoot !== undefined ? { zkRoot } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(portRange !== undefined ? { portRange } : {}),
    })
    const registered = await Promise.race([solo.agent.registered.then(() => true), sleep(15_000, io.signal).then(() => false)])
    if (!registered && !io.signal.aborted) io.stderr(`warning: the agent has not registered ${solo.hostName} yet (see ${join(solo.dataDir, "solo.log")})\n`)
    if (ctx.json)
      ctx.io.stdout(JSON.stringify({ status: "RUNNING", url: solo.url, host: solo.hostName, agentId: solo.agentId, dataDir: solo.dataDir, tokenFile: solo.tokenFile, pid: process.pid }) + "\n")
    else {
      const example = (cmd: string) => ctx.print(`  helios ${cmd}`)
      ctx.print(`Helios solo is running: master ${solo.url}, agent for host ${solo.hostName}, ${zk ? `log on ZooKeeper ${zk}` : `data in ${solo.dataDir}`}`)
      ctx.print(`Requests need the local token in ${solo.tokenFile}: the helios CLI of this user finds it; other clients send Authorization: Bearer <its content>.`)
      ctx.print("")
      ctx.print("In another shell:")
      ctx.print(`  export HELIOS_MASTER=${solo.url}`)
      example("create web:v1 helios-test/web:latest -p http=80:8080")
      example(`deploy web:v1 ${solo.hostName}`)
      example("status")
      ctx.print("  curl http://127.0.0.1:8080/")
      example("undeploy -a --yes web:v1")
      example("history web:v1")
      ctx.print("")
      ctx.print("Ctrl-C stops Helios (deployed containers keep running; the next start adopts them).")
    }
    if (!io.signal.aborted) await new Promise<void>((resolve) => io.signal.addEventListener("abort", () => resolve(), { once: true }))
    await solo.stop()
    if (!ctx.json) ctx.print(`Helios solo stopped. Data kept in ${solo.dataDir}.`)
  },
}

export default command
