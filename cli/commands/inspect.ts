import { DEFAULT_LIVENESS_FAILURE_THRESHOLD, DEFAULT_LIVENESS_INTERVAL_SECONDS, type HealthCheck, type Job } from "../../core/job.ts"
import { pos } from "../args.ts"
import type { Command } from "../command.ts"
import { formatTimestamp } from "../output.ts"
import { resolveJob } from "../resolve.ts"
import { OneJob } from "../answers.ts"

const quote = (s: string) => (/\s/.test(s) ? `"${s}"` : s)

const checkText = (hc: HealthCheck | undefined): string => {
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

/** The liveness check (beyond Helios) in the health check's words, with its interval and threshold. */
const livenessText = (job: Job): string => {
  const lc = job.livenessCheck
  if (lc === undefined) return ""
  const every = lc.intervalSeconds ?? DEFAULT_LIVENESS_INTERVAL_SECONDS
  const threshold = lc.failureThreshold ?? DEFAULT_LIVENESS_FAILURE_THRESHOLD
  return `${checkText(lc)}, every ${every} s, restart after ${threshold} failures`
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
    `Health check: ${checkText(job.healthCheck)}`,
    ...(job.livenessCheck !== undefined ? [`Liveness check: ${livenessText(job)}`] : []),
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
    const job = await ctx.client().getDecoded(`/jobs/${encodeURIComponent(id)}`, OneJob)
    if (ctx.json) ctx.printJson(job)
    else for (const line of inspectLines(job)) ctx.print(line)
  },
}

export default command
