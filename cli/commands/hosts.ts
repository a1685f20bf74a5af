import { bool, list, pos, str } from "../args.ts"
import type { Command } from "../command.ts"
import { CliError } from "../errors.ts"
import { formatTable, humanDuration, orDash } from "../output.ts"
import type { AgentInfoJson, HostInfoJson, HostStatusJson } from "../wire.ts"
import { HostStatuses, Names } from "../answers.ts"

const num = (x: unknown): number | undefined => (typeof x === "number" && Number.isFinite(x) ? x : undefined)
const text = (x: unknown): string | undefined => (typeof x === "string" && x !== "" ? x : undefined)

/** One row of Helios's `hosts` table; "-" for every fact the agent has not reported. */
export const hostRow = (host: string, s: HostStatusJson, now: number): string[] => {
  const info = (s.hostInfo ?? {}) as HostInfoJson
  const agent = (s.agentInfo ?? {}) as AgentInfoJson
  const deployed = Object.keys(s.jobs)
  const running = deployed.filter((id) => s.statuses[id]?.state === "RUNNING").length
  const total = num(info.memoryTotalBytes)
  const free = num(info.memoryFreeBytes)
  const load = num(Array.isArray(info.loadAvg) ? info.loadAvg[0] : info.loadAvg)
  const cpus = num(info.cpus)
  const os = [text(info.osName), text(info.osVersion)].filter((x) => x !== undefined).join(" ")
  const docker = text(info.dockerVersion?.version)
  const api = text(info.dockerVersion?.apiVersion)
  return [
    host,
    `${s.status === "UP" ? "Up" : "Down"} ${humanDuration(now - s.statusSince)}`,
    String(deployed.length),
    String(running),
    cpus === undefined ? "-" : String(cpus),
    total === undefined ? "-" : (total / 2 ** 30).toFixed(1),
    load === undefined ? "-" : load.toFixed(2),
    total === undefined || free === undefined || total === 0 ? "-" : ((total - free) / total).toFixed(2),
    orDash(os),
    orDash(text(agent.version)),
    docker === undefined ? "-" : api === undefined ? docker : `${docker} (${api})`,
    Object.entries(s.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(", "),
  ]
}

export const HOST_COLUMNS = ["HOST", "STATUS", "DEPLOYED", "RUNNING", "CPUS", "MEM (GB)", "LOAD AVG", "MEM USAGE", "OS", "HELIOS", "DOCKER", "LABELS"]

const command: Command = {
  name: "hosts",
  summary: "list hosts",
  usage: "[PATTERN]",
  description: "PATTERN is a regular expression matched against host names. Exits 1 when it matches no hosts.",
  positionals: [{ name: "PATTERN" }],
  flags: [
    { name: "quiet", short: "q", type: "boolean", help: "print only the host names" },
    { name: "full", short: "f", type: "boolean", help: "accepted for compatibility (names are never shortened)" },
    { name: "status", type: "string", metavar: "UP|DOWN", help: "only hosts with this status" },
    { name: "selector", short: "s", type: "string", multiple: true, metavar: "EXPR", help: "label selector: K=V, K!=V, 'K in (a, b)', 'K notin (a, b)'; all must match" },
  ],
  async run(ctx) {
    const pattern = pos(ctx.args, "PATTERN")
    const wanted = str(ctx.args, "status")?.toUpperCase()
    if (wanted !== undefined && wanted !== "UP" && wanted !== "DOWN") throw new CliError(`--status: expected UP or DOWN, got '${str(ctx.args, "status")}'`)
    const client = ctx.client()
    const names = await client.getDecoded("/hosts", Names, { namePattern: pattern, selector: list(ctx.args, "selector") })
    if (pattern !== undefined && names.length === 0) throw new CliError(`host pattern ${pattern} matched no hosts`, { status: "NO_MATCH", hosts: {} })
    const statuses =
      names.length === 0 ? {} : await client.statusesOf("/hosts/statuses", HostStatuses, names, { query: { status: wanted } })
    const shown = names.filter((h) => statuses[h] !== undefined).sort()
    if (bool(ctx.args, "quiet")) {
      if (ctx.json) ctx.printJson(shown)
      else for (const h of shown) ctx.print(h)
    } else if (ctx.json) ctx.printJson(Object.fromEntries(shown.map((h) => [h, statuses[h]])))
    else {
      const now = Date.now()
      ctx.io.stdout(formatTable([HOST_COLUMNS, ...shown.map((h) => hostRow(h, statuses[h]!, now))]))
    }
  },
}

export default command
