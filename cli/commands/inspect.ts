import type { Job } from "../../core/job.ts"
import { pos } from "../args.ts"
import type { Command } from "../command.ts"
import { formatTimestamp } from "../output.ts"
import { resolveJob } from "../resolve.ts"

const quote = (s: string) => (/\s/.test(s) ? `"${s}"` : s)

const healthCheckText = (job: Job): string => {
  const hc = job.healthCheck
  if (hc === undefined) return ""
  switch (hc.type) {
    case "http":
      return `http, port: ${hc.port}, path: ${hc.path}`
    case "tcp":
      return `tcp, port: ${hc.port}`
    case "exec":
      return `exec, command: ${hc.command.join(" ")}`
  }
}

/** `Label: first`, further entries aligned under the first. */
const mapLines = (label: string, entries: ReadonlyArray<string>): string[] =>
  entries.length === 0 ? [label.trimEnd()] : entries.map((e, i) => (i === 0 ? label : " ".repeat(label.length)) + e)

/** Helios's `inspect` layout. */
export const inspectLines = (job: Job): string[] => {
  const ports = Object.entries(job.ports ?? {}).map(
    ([name, p]) => `${name}=${p.ip ? `${p.ip}:` : ""}${p.internalPort}:${p.externalPort ?? ""}/${p.protocol}`,
  )
  const reg = Object.entries(job.registration ?? {}).map(([endpoint, sp]) => `${endpoint}=${Object.keys(sp.ports).join(",")}`)
  const volumes = Object.entries(job.volumes ?? {}).map(([path, source]) => (source === "" ? path : `${source}:${path}`))
  const r = job.rolloutOptions
  return [
    `Id: ${job.id}`,
    `Image: ${job.image}`,
    `Created: ${job.created !== undefined ? formatTimestamp(job.created) : ""}`,
    `Creating user: ${job.creatingUser ?? ""}`,
    `Expires: ${job.expires ?? "never"}`,
    `Hostname: ${job.hostname ?? ""}`,
    `Command: ${(job.command ?? []).map(quote).join(" ")}`,
    ...mapLines("Env:   ", Object.entries(job.env ?? {}).map(([k, v]) => `${k}=${quote(v)}`)),
    `Health check: ${healthCheckText(job)}`,
    `Grace period (seconds): ${job.gracePeriod ?? ""}`,
    `Time to wait before kill (seconds): ${job.secondsToWaitBeforeKill ?? ""}`,
    ...mapLines("Metadata: ", Object.entries(job.metadata ?? {}).map(([k, v]) => `${k}=${quote(v)}`)),
    ...mapLines("Ports: ", ports),
    ...mapLines("Reg: ", reg),
    `Security options: ${(job.securityOpt ?? []).join(", ")}`,
    `Network mode: ${job.networkMode ?? ""}`,
    `Token: ${job.token ?? ""}`,
    ...mapLines("Volumes: ", volumes),
    ...mapLines("Labels: ", Object.entries(job.labels ?? {}).map(([k, v]) => `${k}=${quote(v)}`)),
    `Add capabilities: ${(job.addCapabilities ?? []).join(", ")}`,
    `Drop capabilities: ${(job.dropCapabilities ?? []).join(", ")}`,
    `Runtime: ${job.runtime ?? ""}`,
    `Rollout options: ${r === undefined ? "" : Object.entries(r).map(([k, v]) => `${k}=${String(v)}`).join(", ")}`,
  ]
}

const command: Command = {
  name: "inspect",
  summary: "print the configuration of a job",
  usage: "JOB",
  positionals: [{ name: "JOB", required: true }],
  flags: [],
  async run(ctx) {
    const id = await resolveJob(ctx.client(), pos(ctx.args, "JOB")!)
    const job = await ctx.client().get<Job>(`/jobs/${encodeURIComponent(id)}`)
    if (ctx.json) ctx.printJson(job)
    else for (const line of inspectLines(job)) ctx.print(line)
  },
}

export default command
