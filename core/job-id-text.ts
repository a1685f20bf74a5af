import type { JobId } from "./job-id.ts"

/*
 * Job ids as text: parsing, formatting, the short form. No effect import, so that the CLI's verbs
 * that only print ids load without the schema library (start-up time); the schemas are in job-id.ts.
 */

// Names and versions are Helios's `[0-9a-zA-Z-_.]+`; the hash is 40 lower-case hex digits (SHA-1).
export const FULL_ID = /^([0-9a-zA-Z_.-]+):([0-9a-zA-Z_.-]+):([0-9a-f]{40})$/
export const ID_INPUT = /^([0-9a-zA-Z_.-]+):([0-9a-zA-Z_.-]+)(?::([0-9a-f]{40}))?$/

export interface ParsedJobId {
  readonly name: string
  readonly version: string
  readonly hash?: string
}

/** Splits `name:version` or `name:version:hash`; undefined for anything else (no partial hashes). */
export const parseJobId = (id: string): ParsedJobId | undefined => {
  const m = ID_INPUT.exec(id)
  if (m === null) return undefined
  const [, name, version, hash] = m as unknown as [string, string, string, string | undefined]
  return hash === undefined ? { name, version } : { name, version, hash }
}

export const isJobId = (id: string): id is JobId => FULL_ID.test(id)

/** `name:version:hash`; without a hash, `name:version` (the form a client submits). */
export function formatJobId(id: { readonly name: string; readonly version: string; readonly hash: string }): JobId
export function formatJobId(id: ParsedJobId): string
export function formatJobId(id: ParsedJobId): string {
  return id.hash === undefined ? `${id.name}:${id.version}` : `${id.name}:${id.version}:${id.hash}`
}

/** Helios's JobId.toShortString: `name:version:` plus the first 7 hex digits of the hash. */
export const shortJobId = (id: string): string => {
  const p = parseJobId(id)
  if (p === undefined) return id
  return p.hash === undefined ? `${p.name}:${p.version}` : `${p.name}:${p.version}:${p.hash.slice(0, 7)}`
}
