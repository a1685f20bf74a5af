/*
 * Helios's client/server version check (Helios's VersionCompatibility and its version filter).
 * A client names its version in the `Helios-Version` request header; every answer
 * carries `Helios-Version-Status`. Pure: no I/O, so the rule is unit-tested on its own.
 */

/** A version as Helios writes it: `MAJOR.MINOR.PATCH`, optionally `-SNAPSHOT`. */
export interface PomVersion {
  readonly major: number
  readonly minor: number
  readonly patch: number
  readonly snapshot: boolean
}

export type VersionStatus = "EQUAL" | "COMPATIBLE" | "MAYBE" | "INCOMPATIBLE" | "INVALID" | "MISSING"

export const HELIOS_VERSION_HEADER = "Helios-Version"
export const HELIOS_SERVER_VERSION_HEADER = "Helios-Server-Version"
export const HELIOS_VERSION_STATUS_HEADER = "Helios-Version-Status"

const MAX_PART = 2 ** 31 - 1 // Helios parses each part as a Java int

/** The version in `text`, or undefined when it is not `n.n.n[-SNAPSHOT]`. */
export const parsePomVersion = (text: string): PomVersion | undefined => {
  const m = /^(\d{1,10})\.(\d{1,10})\.(\d{1,10})(-SNAPSHOT)?$/.exec(text)
  if (!m) return undefined
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (major > MAX_PART || minor > MAX_PART || patch > MAX_PART) return undefined
  return { major, minor, patch, snapshot: m[4] !== undefined }
}

export const formatPomVersion = (v: PomVersion): string => `${v.major}.${v.minor}.${v.patch}${v.snapshot ? "-SNAPSHOT" : ""}`

/**
 * Helios's rule, exactly: EQUAL when all of major, minor, patch and the snapshot flag match;
 * INCOMPATIBLE when the majors differ; COMPATIBLE when the client's minor is not above the
 * server's (an older client, or the same minor with another patch or snapshot flag); MAYBE when
 * the client's minor is above the server's (a newer client within the same major).
 */
export const compareVersions = (server: PomVersion, client: PomVersion): Exclude<VersionStatus, "INVALID" | "MISSING"> => {
  if (server.major === client.major && server.minor === client.minor && server.patch === client.patch && server.snapshot === client.snapshot)
    return "EQUAL"
  if (server.major !== client.major) return "INCOMPATIBLE"
  if (server.minor >= client.minor) return "COMPATIBLE"
  return "MAYBE"
}

/** The status for a client's `Helios-Version` header: MISSING when absent, INVALID when malformed (also empty). */
export const versionStatusOf = (server: PomVersion, clientHeader: string | undefined): VersionStatus => {
  if (clientHeader === undefined) return "MISSING"
  const client = parsePomVersion(clientHeader)
  return client === undefined ? "INVALID" : compareVersions(server, client)
}

/** The HTTP code a status is answered with instead of serving the request, if any. */
export const refusalCodeOf = (status: VersionStatus): 400 | 426 | undefined =>
  status === "INVALID" ? 400 : status === "INCOMPATIBLE" ? 426 : undefined
