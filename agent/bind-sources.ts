import { realpathSync } from "node:fs"
import { containerPolicyViolations, normalizeHostPath, type ContainerPolicy } from "../core/container-policy.ts"
import type { FieldError } from "../core/decode.ts"
import type { Job } from "../core/job.ts"

/*
 * The container policy checks a job's bind-mount sources as written (core/container-policy.ts: the
 * master has no view of the hosts' files). Docker follows symlinks when it mounts, so on the host a
 * path inside an allowed prefix may lead anywhere: a job allowed to write under `/srv/data` creates
 * `/srv/data/x -> /`, and a later job mounting `/srv/data/x` would get the host's root. So before
 * a container is created the agent checks the sources again as this host resolves them. (A path
 * swapped for a symlink between this check and Docker's mount is not caught: an allowed prefix
 * must not be writable by containers that should not reach the rest of the host.)
 */

/** Where a bind mount of `path` leads on this host: symlinks (and `..` after them) resolved along the part that exists. */
export const realHostPath = (path: string): string => {
  const parts = path.split("/").filter((p) => p !== "")
  for (let i = parts.length; i >= 0; i--) {
    let real: string
    try {
      real = realpathSync.native("/" + parts.slice(0, i).join("/")) // native: `..` after a symlink as the kernel takes it (the JS one folds it first)
    } catch {
      continue // not there (yet): Docker creates it
    }
    return normalizeHostPath([real, ...parts.slice(i)].join("/"))
  }
  return normalizeHostPath(path)
}

/** What the policy refuses in `job`, its bind-mount sources taken as written and as they resolve on this host. */
export const policyViolationsOnThisHost = (job: Job, policy: ContainerPolicy): FieldError[] => {
  const asWritten = containerPolicyViolations(job, policy)
  const volumes = Object.fromEntries(Object.entries(job.volumes ?? {}).map(([target, source]) => [target, source.startsWith("/") ? realHostPath(source) : source]))
  const resolved = containerPolicyViolations({ ...job, volumes }, policy).filter((e) => e.field.startsWith("volumes."))
  const seen = new Set(asWritten.map((e) => e.field))
  return [
    ...asWritten,
    ...resolved
      .filter((e) => !seen.has(e.field))
      .map((e) => ({ field: e.field, message: `${e.message}; ${job.volumes?.[e.field.slice("volumes.".length)]} leads there through a symlink on this host` })),
  ]
}
