import { shortJobId } from "../../core/job-id.ts"
import { bool, intFlag, pos, MAX_TIMER_SECONDS } from "../args.ts"
import type { Command, Context } from "../command.ts"
import { aboutGroup, groupPath } from "../deployment-group.ts"
import { ApiError, CliError } from "../errors.ts"
import { fetchRollouts, rolloutAt } from "../rollout.ts"
import { followRollout, optionsJson, SYSTEM_CLOCK, WAIT_FLAGS, type WaitClock } from "./rolling-update.ts"
import { Started } from "../answers.ts"

/*
 * `helios promote GROUP`: a canary's hosts run the new job and the rollout awaits promotion; this
 * lets it go on to the other hosts, then waits as rolling-update does (unless --async).
 */

const NAME = "promote"

export const promote = async (ctx: Context, clock: WaitClock, pollIntervalMs: number): Promise<number> => {
  intFlag(ctx.args, "rollout-timeout", NAME, 1, Math.floor(MAX_TIMER_SECONDS / 60))
  const group = pos(ctx.args, "GROUP")!
  const client = ctx.client()
  const startedAt = clock.now()
  let started: { status: string; position: number }
  try {
    started = await aboutGroup(group, client.requestDecoded("POST", groupPath(group, "/promote"), Started))
  } catch (e) {
    if (e instanceof ApiError && e.status === "NOT_AWAITING_PROMOTION") {
      const message = (e.body as { message?: unknown }).message
      throw new CliError(`Cannot promote: ${typeof message === "string" ? message : `deployment group ${group} is not awaiting promotion`}`, { status: e.status, name: group })
    }
    throw e
  }
  const rollout = rolloutAt(await fetchRollouts(client, group), started.position)
  if (rollout === undefined) throw new CliError(`the rollout of ${group} promoted at position ${started.position} is not among the group's rollouts`)
  return followRollout(ctx, clock, pollIntervalMs, {
    group,
    jobId: rollout.jobId,
    number: rollout.number,
    startedAt,
    startedLine: `Promoted${bool(ctx.args, "async") ? " (async)" : ""}: ${group} -> ${shortJobId(rollout.jobId)} (rollout ${rollout.number}) goes on to the other hosts`,
    startStatus: started.status,
    summary: { ...optionsJson(rollout.options), name: group, job: rollout.jobId, rollout: rollout.number },
  })
}

const command: Command = {
  name: NAME,
  summary: "let a canary rollout awaiting promotion go on to the rest of its deployment group",
  usage: "GROUP",
  description:
    "The group's status is AWAITING_PROMOTION after 'rolling-update --canary N' updated its first N hosts.\n" +
    "Prints 'Promoted: GROUP -> JOB (rollout N) goes on to the other hosts', then waits as rolling-update does.",
  positionals: [{ name: "GROUP", required: true }],
  flags: [...WAIT_FLAGS],
  run: (ctx) => promote(ctx, SYSTEM_CLOCK, 1000),
}

export default command
