import { createHash } from "node:crypto"
import type { Job } from "./job.ts"
import type { Deployment, FleetState } from "./state.ts"

/*
 * Rules a deployment must pass, shared by a user's deploy (decide.ts) and a rollout's
 * DEPLOY_NEW_JOB step (rollout-step.ts).
 */

/**
 * Helios's "insecure access token" (protects against accidents, not attackers): the token given
 * must equal the job's, both empty when absent — so a token sent for a job that has none is
 * refused too, as Helios refuses it.
 */
export const tokenMatches = (job: Job, token: string | undefined): boolean => sameSecret(job.token ?? "", token ?? "")

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest()

/**
 * Whether two secrets are equal, in a time that does not depend on where they differ: their SHA-256
 * digests (fixed length) are compared in full, every byte XORed into one accumulator (what
 * crypto.timingSafeEqual does, which the domain may not import).
 */
export const sameSecret = (a: string, b: string): boolean => {
  const x = sha256(a)
  const y = sha256(b)
  let diff = 0
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!
  return diff === 0
}

/** Static external ports a job would take on a host, keyed by port/protocol. */
const staticPorts = (job: Job): string[] =>
  Object.values(job.ports ?? {}).flatMap((p) => (p.externalPort !== undefined ? [`${p.externalPort}/${p.protocol ?? "tcp"}`] : []))

/** Why `job` cannot join `deployments` (a host's) for a static port, or undefined. */
export const portConflict = (state: FleetState, job: Job, deployments: Iterable<Deployment>): string | undefined => {
  const wanted = new Set(staticPorts(job))
  if (wanted.size === 0) return undefined
  for (const d of deployments) {
    const other = state.jobs.get(d.jobId)
    if (!other || other.id === job.id) continue
    const clash = staticPorts(other).find((p) => wanted.has(p))
    if (clash) return `port ${clash} on ${d.host} is already used by ${d.jobId}`
  }
  return undefined
}
