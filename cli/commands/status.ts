import { shortJobId } from "../../core/job-id-text.ts"
import { bool, str } from "../args.ts"
import type { Command } from "../command.ts"
import { CliError } from "../errors.ts"
import { formatTable } from "../output.ts"
import type { JobStatusJson } from "../wire.ts"
import { JobStatuses, Jobs, State } from "../answers.ts"

export const STATUS_COLUMNS = ["JOB ID", "HOST", "GOAL", "STATE", "CONTAINER ID", "PORTS"]

/** Helios's status rows for one job: one per host it is deployed on (or has a status on). */
export const statusRows = (jobId: string, s: JobStatusJson, hostFilter: (host: string) => boolean, full: boolean): string[][] => {
  const hosts = [...new Set([...Object.keys(s.deployments), ...Object.keys(s.taskStatuses)])].filter(hostFilter).sort()
  return hosts.map((host) => {
    const d = s.deployments[host]
    const t = s.taskStatuses[host]
    const id = full ? jobId : shortJobId(jobId)
    if (t === undefined) return [id, host, d?.goal ?? "", "", "", ""]
    const ports = Object.entries(t.ports)
      .map(([name, p]) => `${name}=${p.internalPort}:${p.externalPort ?? ""}`)
      .join(" ")
    const state = t.throttled !== "NO" ? `${t.state} (${t.throttled})` : t.state
    const containerId = t.containerId ?? ""
    return [id, host, d?.goal ?? t.goal, state, full ? containerId : containerId.slice(0, 7), ports]
  })
}

const command: Command = {
  name: "status",
  summary: "show the status of jobs on hosts",
  usage: "",
  description: "One row per deployment: JOB ID, HOST, GOAL, STATE (with the throttle, if any), CONTAINER ID, PORTS.",
  positionals: [],
  flags: [
    { name: "job", short: "j", type: "string", metavar: "FILTER", help: "only jobs whose id contains FILTER" },
    { name: "host", type: "string", metavar: "PATTERN", help: "only hosts whose name contains PATTERN" },
    { name: "full", short: "f", type: "boolean", help: "full job and container ids" },
    { name: "at", type: "string", metavar: "POSITION|TIME", help: "the status as of a log position or an ISO-8601 time" },
  ],
  async run(ctx) {
    const client = ctx.client()
    const filter = str(ctx.args, "job")
    const hostPattern = str(ctx.args, "host")
    const at = str(ctx.args, "at")
    let statuses: Record<string, JobStatusJson>
    if (at !== undefined) {
      const state = await client.getDecoded("/state", State, { at })
      statuses = Object.fromEntries(Object.entries(state.jobs).filter(([id]) => filter === undefined || id.includes(filter)))
    } else {
      const ids = Object.keys(await client.getDecoded("/jobs", Jobs, filter !== undefined ? { q: filter } : {}))
      statuses = ids.length === 0 ? {} : await client.statusesOf("/jobs/statuses", JobStatuses, ids)
    }
    if (filter !== undefined && Object.keys(statuses).length === 0)
      throw new CliError(`job pattern ${filter} matched no jobs${at !== undefined ? ` at ${at}` : ""}`, { status: "NO_MATCH", jobs: {} })
    const hostFilter = (host: string) => hostPattern === undefined || host.includes(hostPattern)
    const ids = Object.keys(statuses).sort()
    if (ctx.json) {
      const pick = <V>(m: Readonly<Record<string, V>>) => Object.fromEntries(Object.entries(m).filter(([h]) => hostFilter(h)))
      ctx.printJson(
        Object.fromEntries(
          ids.map((id) => {
            const s = statuses[id]!
            return [id, { ...s, deployments: pick(s.deployments), taskStatuses: pick(s.taskStatuses) }]
          }),
        ),
      )
      return
    }
    const full = bool(ctx.args, "full")
    ctx.io.stdout(formatTable([STATUS_COLUMNS, ...ids.flatMap((id) => statusRows(id, statuses[id]!, hostFilter, full))]))
  },
}

export default command
