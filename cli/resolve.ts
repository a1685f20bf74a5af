import { parseJobId } from "../core/job-id-text.ts"
import type { HeliosClient } from "./client.ts"
import { CliError } from "./errors.ts"
import { Event, Jobs, Names } from "./answers.ts"

/*
 * Job and host references as users type them. A job may be named by any substring of its full id
 * `name:version:hash` (typically `name:version` or `name:version:abc1234`); the master filters
 * with `GET /jobs?q=` and the CLI picks the one match. Hosts may be unique prefixes.
 */

/**
 * Picks the job `ref` names among the ids that contain it: the only one, or the only one whose
 * full id or `name:version` equals `ref` (so `web:v1` is not ambiguous with `web:v10`).
 * Throws "Unknown job: X" / "Ambiguous job reference: X (matches: ...)".
 */
export const pickJob = (ref: string, ids: ReadonlyArray<string>): string => {
  const matches = [...new Set(ids.filter((id) => id.includes(ref)))].sort()
  if (matches.length === 1) return matches[0]!
  if (matches.length === 0) throw new CliError(`Unknown job: ${ref}`, { status: "JOB_NOT_FOUND", job: ref })
  const exact = matches.filter((id) => {
    const p = parseJobId(id)
    return id === ref || (p !== undefined && `${p.name}:${p.version}` === ref)
  })
  if (exact.length === 1) return exact[0]!
  throw new CliError(`Ambiguous job reference: ${ref} (matches: ${matches.join(", ")})`, {
    status: "AMBIGUOUS_JOB_REFERENCE",
    job: ref,
    matches,
  })
}

/** The ids of the jobs an event of `/events` concerns. */
const jobIdsOfEvent = (e: unknown): string[] => {
  const event = (e as { event?: { job?: { id?: unknown }; jobId?: unknown } }).event
  const id = event?.job?.id ?? event?.jobId
  return typeof id === "string" ? [id] : []
}

/**
 * The full id of the job `ref` names. With `includeRemoved`, a ref no current job matches is
 * looked up in the event log too (so `history` works after `remove`).
 */
export const resolveJob = async (client: HeliosClient, ref: string, options: { includeRemoved?: boolean } = {}): Promise<string> => {
  if (ref === "") throw new CliError("Unknown job: (empty reference)", { status: "JOB_NOT_FOUND", job: ref })
  const jobs = await client.getDecoded("/jobs", Jobs, { q: ref })
  const ids = Object.keys(jobs)
  if (ids.length === 0 && options.includeRemoved) {
    const seen: string[] = []
    await client.ndjson("/events", { job: ref }, Event, (e) => seen.push(...jobIdsOfEvent(e)))
    return pickJob(ref, seen)
  }
  return pickJob(ref, ids)
}

/**
 * The host `ref` names among `hosts`: itself, or the one host it is a prefix of.
 * Throws "Unknown host: X" / "Ambiguous host reference: X (matches: ...)".
 */
export const pickHost = (ref: string, hosts: ReadonlyArray<string>): string => {
  if (hosts.includes(ref)) return ref
  const matches = hosts.filter((h) => h.startsWith(ref)).sort()
  if (matches.length === 1) return matches[0]!
  if (matches.length === 0) throw new CliError(`Unknown host: ${ref}`, { status: "HOST_NOT_FOUND", host: ref })
  throw new CliError(`Ambiguous host reference: ${ref} (matches: ${matches.join(", ")})`, {
    status: "AMBIGUOUS_HOST_REFERENCE",
    host: ref,
    matches,
  })
}

/** Resolves host references against the registered hosts (one `GET /hosts`). */
export const resolveHosts = async (client: HeliosClient, refs: ReadonlyArray<string>): Promise<string[]> => {
  if (refs.length === 0) return []
  const hosts = await client.getDecoded("/hosts", Names)
  return [...new Set(refs.map((ref) => pickHost(ref, hosts)))]
}
