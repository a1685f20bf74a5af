import { Result, Schema } from "effect"
import { decodeInput } from "../../core/decode.ts"
import { RollbackRequest } from "../../core/deployment-group.ts"
import { shortJobId } from "../../core/job-id.ts"
import { bool, intFlag, pos, str, UsageError, type ParsedArgs, MAX_TIMER_SECONDS } from "../args.ts"
import type { Command, Context } from "../command.ts"
import { aboutGroup, groupPath } from "../deployment-group.ts"
import { ApiError, CliError } from "../errors.ts"
import { fetchRollouts, optionsText, rolloutAt } from "../rollout.ts"
import { followRollout, optionsJson, ROLLOUT_FLAGS, rolloutOptionsFromArgs, SYSTEM_CLOCK, WAIT_FLAGS, type WaitClock } from "./rolling-update.ts"
import { Started } from "../answers.ts"

/*
 * `helios rollback GROUP [--to-rollout N]`: a rolling update back to the job of the group's
 * previous successful rollout (or of rollout N), recorded as a rollout with reason ROLLBACK, with
 * the same options as the rollout it replaces unless given. Then waits as rolling-update does.
 */

const NAME = "rollback"

/** `--to-rollout N`, decoded with the request's schema (an integer >= 1). */
export const toRolloutFromArgs = (args: ParsedArgs): number | undefined => {
  const v = str(args, "to-rollout")
  if (v === undefined) return undefined
  const fail = (message: string) => new UsageError(`helios ${NAME}: option --to-rollout: ${message}, got '${v}' (see 'helios ${NAME} --help')`)
  if (!/^[-+]?\d+$/.test(v.trim())) throw fail("expected an integer")
  const decoded = decodeInput(Schema.Struct({ toRollout: RollbackRequest.fields.toRollout }), { toRollout: Number(v) })
  if (Result.isFailure(decoded)) throw fail(decoded.failure[0]!.message)
  return Number(v)
}

/** `Rolling back: GROUP -> JOB (rollout N restores rollout M) (options)`. */
export const rollbackStartedLine = (group: string, r: { number: number; jobId: string; rollbackTo?: number | undefined; options: Parameters<typeof optionsText>[0] }, async: boolean): string =>
  `Rolling back${async ? " (async)" : ""}: ${group} -> ${shortJobId(r.jobId)} (rollout ${r.number}${r.rollbackTo !== undefined ? ` restores rollout ${r.rollbackTo}` : ""}) (${optionsText(r.options)})`

export const rollback = async (ctx: Context, clock: WaitClock, pollIntervalMs: number): Promise<number> => {
  const options = rolloutOptionsFromArgs(ctx.args, NAME)
  const toRollout = toRolloutFromArgs(ctx.args)
  intFlag(ctx.args, "rollout-timeout", NAME, 1, Math.floor(MAX_TIMER_SECONDS / 60))
  const group = pos(ctx.args, "GROUP")!
  const client = ctx.client()
  const startedAt = clock.now()
  let started: { status: string; position: number }
  try {
    started = await aboutGroup(
      group,
      client.requestDecoded("POST", groupPath(group, "/rollback"), Started, {
        body: { ...(toRollout !== undefined ? { toRollout } : {}), ...(Object.keys(options).length > 0 ? { rolloutOptions: options } : {}) },
      }),
    )
  } catch (e) {
    if (e instanceof ApiError && (e.status === "NO_ROLLBACK_TARGET" || e.status === "ROLLOUT_NOT_FOUND")) {
      const body = e.body as { message?: unknown; errors?: unknown }
      const message = typeof body.message === "string" ? body.message : e.message
      throw new CliError(`Cannot roll back: ${message}`, { status: e.status, name: group, ...(toRollout !== undefined ? { toRollout } : {}) })
    }
    throw e
  }
  const rollout = rolloutAt(await fetchRollouts(client, group), started.position)
  if (rollout === undefined) throw new CliError(`the rollback of ${group} started at position ${started.position} is not among the group's rollouts`)
  return followRollout(ctx, clock, pollIntervalMs, {
    group,
    jobId: rollout.jobId,
    number: rollout.number,
    startedAt,
    startedLine: rollbackStartedLine(group, rollout, bool(ctx.args, "async")),
    startStatus: started.status,
    summary: { ...optionsJson(rollout.options), name: group, job: rollout.jobId, rollout: rollout.number, rollbackTo: rollout.rollbackTo ?? null },
  })
}

const command: Command = {
  name: NAME,
  summary: "roll a deployment group back to its previous successful rollout's job (or rollout N's)",
  usage: "GROUP",
  description:
    "A rolling update of the earlier job, recorded as a rollout with reason ROLLBACK (see 'helios rollout history GROUP').\n" +
    "Options not given are those of the rollout it replaces. Undoes a canary awaiting promotion too.\n" +
    "Prints 'Rolling back: GROUP -> JOB (rollout N restores rollout M) (...)', then waits as rolling-update does.",
  positionals: [{ name: "GROUP", required: true }],
  flags: [
    { name: "to-rollout", type: "string", metavar: "N", help: "restore the job of rollout N (default: the last successful rollout before the current one)" },
    ...ROLLOUT_FLAGS,
    ...WAIT_FLAGS,
  ],
  run: (ctx) => rollback(ctx, SYSTEM_CLOCK, 1000),
}

export default command
