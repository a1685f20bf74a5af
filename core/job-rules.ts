import { Result } from "effect"
import type { FieldError } from "./decode.ts"
import { computeJobHash, parseJobId } from "./job-id.ts"
import { isExpired, validateJob, type Job } from "./job.ts"

/**
 * What creating a job requires beyond a well-formed job: the id's hash is the one Helios computes,
 * it has not expired yet, and every cross-field rule holds. (decodeJob checks the same for HTTP
 * input; decide checks again so no path can store a job that breaks them.)
 */
export const checkNewJob = (job: Job, now: number): Result.Result<Job, ReadonlyArray<FieldError>> => {
  const problems: FieldError[] = [...validateJob(job)]
  const hash = computeJobHash(job)
  const given = parseJobId(job.id)?.hash
  if (given !== hash) problems.push({ field: "id", message: `Id hash mismatch: ${given ?? "(none)"} != ${hash}` })
  if (isExpired(job, now)) problems.push({ field: "expires", message: `Job expires in the past: ${job.expires}` })
  return problems.length > 0 ? Result.fail(problems) : Result.succeed(job)
}
