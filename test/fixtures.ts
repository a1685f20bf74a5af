import { Result } from "effect"
import { formatFieldErrors } from "../core/decode.ts"
import { decodeJob, type Job, type JobInput } from "../core/job.ts"

/**
 * A valid decoded job for tests: `web:v1` with its computed hash, image `helios-test/web:latest`
 * (the locally built test image, see scripts/build-test-image.sh), container port 80 named `http`
 * with a dynamic external port.
 *
 * `overrides` is merged over that in the JSON (wire) form and the result goes through `decodeJob`,
 * so the hash always matches the final configuration: `aJob({ id: "api:v2" })`,
 * `aJob({ env: { A: "1" } })`. Pass `null` to drop a default, e.g. `aJob({ ports: null })`. Throws
 * (naming every bad field) if the overrides make the job invalid.
 */
export const aJob = (overrides: Partial<JobInput> = {}): Job => {
  const input: JobInput = {
    id: "web:v1",
    image: "helios-test/web:latest",
    ports: { http: { internalPort: 80, protocol: "tcp" } },
    ...overrides,
  }
  const result = decodeJob(input)
  if (Result.isFailure(result)) throw new Error(`aJob: invalid job: ${formatFieldErrors(result.failure)}`)
  return result.success
}
