import { bool, pos, str, UsageError } from "../args.ts"
import type { Command, Context } from "../command.ts"
import { formatTable } from "../output.ts"
import { fetchReplay, promotionLine, replayHeaderLines, replayLines, stepBlock } from "../rollout.ts"
import type { JobStatusJson, ReplayJson, ReplayStepJson } from "../wire.ts"
import { STATUS_COLUMNS, statusRows } from "./status.ts"
import { State } from "../answers.ts"

/*
 * `helios rollout replay GROUP [--rollout N] [--step]`: one rollout rebuilt from the log alone
 * (GET /deployment-group/{name}/rollouts/{n}/replay). --step walks it a step at a time, showing
 * after each step the fleet on the rollout's hosts as of the step's end (`status --at` of that
 * position), waiting for Enter when someone is at the terminal.
 */

const NAME = "rollout replay"

/** `--rollout N` (an integer >= 1) or "latest". */
const rolloutFromArgs = (ctx: Context): number | "latest" => {
  const v = str(ctx.args, "rollout")
  if (v === undefined || v === "latest") return "latest"
  if (!/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v)))
    throw new UsageError(`helios ${NAME}: option --rollout: expected a rollout number >= 1 or 'latest', got '${v}' (see 'helios ${NAME} --help')`)
  return Number(v)
}

/** Every host the rollout concerns: the group's hosts when it started, and any host a step ran on (hosts that left). */
const rolloutHosts = (r: ReplayJson): Set<string> => new Set([...r.hosts, ...r.steps.map((s) => s.host)])

/** The jobs' statuses narrowed to `hosts` (jobs with nothing there left out), as `status --json` prints them. */
export const statusesOnHosts = (jobs: Readonly<Record<string, JobStatusJson>>, hosts: ReadonlySet<string>): Record<string, JobStatusJson> => {
  const out: Record<string, JobStatusJson> = {}
  for (const id of Object.keys(jobs).sort()) {
    const s = jobs[id]!
    const pick = <V>(m: Readonly<Record<string, V>>) => Object.fromEntries(Object.entries(m).filter(([h]) => hosts.has(h)))
    const narrowed = { ...s, deployments: pick(s.deployments), taskStatuses: pick(s.taskStatuses) }
    if (Object.keys(narrowed.deployments).length > 0 || Object.keys(narrowed.taskStatuses).length > 0) out[id] = narrowed
  }
  return out
}

/** The fleet on the rollout's hosts as of `position`, in `status`'s layout, indented. */
export const fleetLines = (title: string, jobs: Readonly<Record<string, JobStatusJson>>, full: boolean): string[] => {
  const rows = Object.keys(jobs).flatMap((id) => statusRows(id, jobs[id]!, () => true, full))
  if (rows.length === 0) return [title, "  (nothing deployed on the rollout's hosts)"]
  return [title, ...formatTable([STATUS_COLUMNS, ...rows]).trimEnd().split("\n").map((l) => `  ${l}`)]
}

/** The position the fleet is shown at after a step: its end, or (in progress) the replay's position. */
const positionAfter = (step: ReplayStepJson, r: ReplayJson): number => step.ended?.position ?? r.position

const walk = async (ctx: Context, r: ReplayJson, full: boolean): Promise<void> => {
  const client = ctx.client()
  const hosts = rolloutHosts(r)
  const fleetAt = async (position: number) => statusesOnHosts((await client.getDecoded("/state", State, { at: String(position) })).jobs, hosts)
  if (ctx.json) {
    const steps = []
    for (const step of r.steps) steps.push(step.started === undefined ? step : { ...step, fleet: { position: positionAfter(step, r), jobs: await fleetAt(positionAfter(step, r)) } })
    ctx.printJson({ ...r, steps })
    return
  }
  for (const line of replayHeaderLines(r, full)) ctx.print(line)
  const lastStarted = Math.max(-1, ...r.steps.filter((s) => s.started !== undefined).map((s) => s.index))
  for (const step of r.steps) {
    if (r.canaryUntilStep !== undefined && step.index === r.canaryUntilStep) ctx.print(promotionLine(r))
    if (step.started === undefined) {
      for (const line of stepBlock(step, full)) ctx.print(line)
      continue
    }
    ctx.print()
    for (const line of stepBlock(step, full)) ctx.print(line)
    const at = positionAfter(step, r)
    const title = step.ended !== undefined ? `Fleet as of position ${at} (end of step #${step.index + 1}):` : `Fleet now, at position ${at} (step #${step.index + 1} in progress):`
    for (const line of fleetLines(title, await fleetAt(at), full)) ctx.print(line)
    if (ctx.io.interactive && step.index < lastStarted) {
      const answer = (await ctx.io.prompt("-- Enter: next step, q: stop -- ")).trim().toLowerCase()
      if (answer === "q" || answer === "quit" || ctx.io.signal.aborted) return
    }
  }
}

const command: Command = {
  name: NAME,
  summary: "replay a rollout from the log: each step with its times, positions, task transitions and errors",
  usage: "GROUP",
  description:
    "The header names the rollout, its job, reason, actor, start and end (time and log position), outcome and options;\n" +
    "then each step: '#i KIND HOST  start→end (positions a→b) duration outcome', the task reports on its host meanwhile,\n" +
    "and for a failed step its error and evidence. --step shows after each step the fleet on the rollout's hosts as of\n" +
    "the step's end ('helios status --at POSITION'), and waits for Enter at a terminal.",
  positionals: [{ name: "GROUP", required: true }],
  flags: [
    { name: "rollout", short: "r", type: "string", metavar: "N", help: "the rollout to replay (default: the latest; see 'helios rollout history')" },
    { name: "step", type: "boolean", help: "one step at a time, with the fleet's state after each" },
    { name: "full", short: "f", type: "boolean", help: "full job and container ids" },
  ],
  async run(ctx) {
    const which = rolloutFromArgs(ctx)
    const full = bool(ctx.args, "full")
    const replay = await fetchReplay(ctx.client(), pos(ctx.args, "GROUP")!, which)
    if (bool(ctx.args, "step")) return walk(ctx, replay, full)
    if (ctx.json) ctx.printJson(replay)
    else for (const line of replayLines(replay, full)) ctx.print(line)
  },
}

export default command
