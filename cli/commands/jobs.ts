import type { Job } from "../../core/job.ts"
import { shortJobId } from "../../core/job-id-text.ts"
import { bool, pos } from "../args.ts"
import type { Command } from "../command.ts"
import { CliError } from "../errors.ts"
import { formatTable } from "../output.ts"
import { JobStatuses, Jobs } from "../answers.ts"

/** Helios's `jobs` table: JOB ID, NAME, VERSION, HOSTS (number of deployments), COMMAND, ENVIRONMENT. */
export const jobsTable = (jobs: ReadonlyArray<Job>, deployments: Readonly<Record<string, number>>, full: boolean): string =>
  formatTable([
    ["JOB ID", "NAME", "VERSION", "HOSTS", "COMMAND", "ENVIRONMENT"],
    ...jobs.map((job) => {
      const [name = "", version = ""] = job.id.split(":")
      return [
        full ? job.id : shortJobId(job.id),
        name,
        version,
        String(deployments[job.id] ?? 0),
        (job.command ?? []).join(" "),
        Object.entries(job.env ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(" "),
      ]
    }),
  ])

const command: Command = {
  name: "jobs",
  summary: "list jobs",
  usage: "[PATTERN]",
  description: "PATTERN is any part of a job id. Exits 1 when it matches no jobs.",
  positionals: [{ name: "PATTERN" }],
  flags: [
    { name: "quiet", short: "q", type: "boolean", help: "print only the (full) job ids" },
    { name: "full", short: "f", type: "boolean", help: "print full job ids" },
    { name: "deployed", short: "y", type: "boolean", help: "only jobs deployed on at least one host" },
  ],
  async run(ctx) {
    const pattern = pos(ctx.args, "PATTERN")
    const client = ctx.client()
    const all = await client.getDecoded("/jobs", Jobs, pattern !== undefined ? { q: pattern } : {})
    const ids = Object.keys(all).sort()
    const statuses = ids.length === 0 ? {} : await client.statusesOf("/jobs/statuses", JobStatuses, ids)
    const deployments = Object.fromEntries(ids.map((id) => [id, Object.keys(statuses[id]?.deployments ?? {}).length]))
    const shown = ids.filter((id) => !bool(ctx.args, "deployed") || deployments[id]! > 0)
    if (pattern !== undefined && shown.length === 0)
      throw new CliError(`job pattern ${pattern} matched no jobs`, { status: "NO_MATCH", jobs: {} })
    if (bool(ctx.args, "quiet")) {
      if (ctx.json) ctx.printJson(shown)
      else for (const id of shown) ctx.print(id)
    } else if (ctx.json) ctx.printJson(Object.fromEntries(shown.map((id) => [id, all[id]])))
    else
      ctx.io.stdout(
        jobsTable(
          shown.map((id) => all[id]!),
          deployments,
          bool(ctx.args, "full"),
        ),
      )
  },
}

export default command
