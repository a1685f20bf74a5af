import { shortJobId } from "../../core/job-id-text.ts"
import { bool, intFlag, str } from "../args.ts"
import type { Command } from "../command.ts"
import { actorText, describeEvent } from "../describe-event.ts"
import { formatTimestamp } from "../output.ts"
import type { EventJson } from "../wire.ts"
import { Event } from "../answers.ts"

/** One event as one line: time, position, what, job, host, state, container, detail, actor. */
export const eventLine = (e: EventJson): string => {
  const { _tag, ...fields } = e.event
  const d = describeEvent(_tag, fields)
  const state = d.state === undefined ? undefined : d.throttled && d.throttled !== "NO" ? `${d.state} (${d.throttled})` : d.state
  return [
    formatTimestamp(e.timestamp),
    `#${e.position}`,
    d.what,
    d.jobId && shortJobId(d.jobId),
    d.host && `host=${d.host}`,
    state,
    d.containerId && `container=${d.containerId.slice(0, 7)}`,
    d.detail,
    `by ${actorText(e.actor)}`,
  ]
    .filter((x) => x !== undefined && x !== "")
    .join("  ")
}

const command: Command = {
  name: "events",
  summary: "print the event log (optionally following it live)",
  usage: "",
  description:
    "With --json: a JSON array of events, or with --follow one JSON object per line (NDJSON).\n" +
    "--job matches any part of a job id; --host a host name exactly.",
  positionals: [],
  flags: [
    { name: "follow", type: "boolean", help: "keep printing new events until Ctrl-C" },
    { name: "from", type: "string", metavar: "N", help: "start at log position N (default: the beginning)" },
    { name: "job", type: "string", metavar: "JOB", help: "only events about jobs whose id contains JOB" },
    { name: "host", type: "string", metavar: "HOST", help: "only events about this host" },
  ],
  async run(ctx) {
    const from = intFlag(ctx.args, "from", "events", 1)
    const follow = bool(ctx.args, "follow")
    const query = {
      after: String(from === undefined ? 0 : from - 1),
      job: str(ctx.args, "job"),
      host: str(ctx.args, "host"),
      ...(follow ? { follow: "true" } : {}),
    }
    const collected: unknown[] = []
    await ctx.client().ndjson(
      "/events",
      query,
      Event,
      (e) => {
        if (ctx.json && !follow) collected.push(e)
        else ctx.io.stdout((ctx.json ? JSON.stringify(e) : eventLine(e)) + "\n")
      },
      ctx.io.signal,
    )
    if (ctx.json && !follow) ctx.printJson(collected)
  },
}

export default command
