import { bool, intFlag, pos } from "../args.ts"

/** The most events `--tail` asks for (the master's bound). */
const MAX_TAIL = 999_999_999
import type { Command } from "../command.ts"
import { actorText, describeEvent } from "../describe-event.ts"
import { formatTable, formatTimestamp } from "../output.ts"
import { resolveJob } from "../resolve.ts"
import type { AuditJson } from "../wire.ts"
import { History } from "../answers.ts"

export const HISTORY_COLUMNS = ["TIMESTAMP", "POSITION", "HOST", "ACTOR", "EVENT", "STATE", "THROTTLED", "CONTAINER ID", "DETAIL/ERROR"]

/** One row per audit entry, oldest first: who did what, where, when, at which log position. */
export const historyRows = (audit: ReadonlyArray<AuditJson>, full: boolean): string[][] =>
  audit.map((entry) => {
    const { type, timestamp, position, actor, ...fields } = entry as unknown as Record<string, unknown> & {
      type: string
      timestamp: number
      position: number
      actor: string
    }
    const d = describeEvent(type, fields)
    const dash = (x: string | undefined) => x ?? "-"
    return [
      formatTimestamp(timestamp),
      String(position),
      dash(d.host),
      actorText(actor),
      d.what,
      dash(d.state),
      dash(d.throttled),
      dash(full ? d.containerId : d.containerId?.slice(0, 7)),
      d.detail,
    ]
  })

const command: Command = {
  name: "history",
  summary: "show the whole story of a job: who did what and when, every task state",
  usage: "JOB",
  description: "Oldest first. Works after the job was removed too (name it by any unique part of its id).",
  positionals: [{ name: "JOB", required: true }],
  flags: [
    { name: "full", short: "f", type: "boolean", help: "full container ids" },
    { name: "tail", short: "n", type: "string", metavar: "N", help: "only the job's last N events (a long-lived job's history is long)" },
  ],
  async run(ctx) {
    const client = ctx.client()
    const tail = intFlag(ctx.args, "tail", "history", 1, MAX_TAIL)
    const jobId = await resolveJob(client, pos(ctx.args, "JOB")!, { includeRemoved: true })
    const history = await client.getDecoded(`/history/jobs/${encodeURIComponent(jobId)}`, History, tail === undefined ? {} : { tail: String(tail) })
    if (ctx.json) ctx.printJson({ job: jobId, ...history })
    else {
      ctx.print(`History of ${jobId}:`)
      ctx.io.stdout(formatTable([HISTORY_COLUMNS, ...historyRows(history.audit, bool(ctx.args, "full"))]))
    }
  },
}

export default command
