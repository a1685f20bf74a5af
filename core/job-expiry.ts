import { Schema } from "effect"
import { stringWhere } from "./job-fields.ts"
import type { Job } from "./job.ts"

/*
 * A job's `expires`. Helios writes dates as Jackson's ISO-8601 with a numeric zone, always in UTC;
 * it reads any ISO-8601 date or epoch milliseconds.
 */

const JACKSON_DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})\+0000$/
const MAX_EXPIRES_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/

/**
 * Epoch milliseconds of an `expires` value as Jackson reads it: epoch milliseconds, or ISO-8601
 * `yyyy-MM-dd[THH:mm[:ss[.fraction]][Z|±hh[[:]mm]]]` (no zone means UTC; digits past milliseconds
 * are dropped). Undefined when malformed, not a real calendar date, or outside 1970-9999.
 */
export const parseExpiresMs = (value: string | number): number | undefined => {
  let ms: number
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || Object.is(value, -0)) return undefined
    ms = value
  } else {
    const m = ISO_DATE.exec(value)
    if (m === null) return undefined
    const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone = "Z"] = m
    const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [
      number, number, number, number, number, number,
    ]
    if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined
    const local = Date.UTC(year, month - 1, day, hour, minute, second, Number(frac.padEnd(3, "0").slice(0, 3)))
    if (new Date(local).getUTCDate() !== day) return undefined // e.g. February 30
    let offsetMinutes = 0
    if (zone !== "Z") {
      const zh = Number(zone.slice(1, 3))
      const zm = zone.length > 3 ? Number(zone.slice(-2)) : 0
      if (zh > 23 || zm > 59) return undefined
      offsetMinutes = (zone.startsWith("-") ? -1 : 1) * (zh * 60 + zm)
    }
    ms = local - offsetMinutes * 60_000
  }
  return ms >= 0 && ms <= MAX_EXPIRES_MS ? ms : undefined
}

const pad = (n: number, width: number) => String(n).padStart(width, "0")

/** Jackson's rendering of a java.util.Date (UTC): `yyyy-MM-ddTHH:mm:ss.SSS+0000`. */
export const formatExpires = (ms: number): string => {
  const d = new Date(ms)
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}` +
    `.${pad(d.getUTCMilliseconds(), 3)}+0000`
  )
}

/** When the job expires, in epoch milliseconds; undefined if it never does. */
const expiresAtMs = (job: Job): number | undefined =>
  job.expires === undefined ? undefined : parseExpiresMs(job.expires)

/**
 * True when the job's expiry lies before `nowMs`. The master refuses to create such a job
 * ("Job expires in the past") and undeploys and removes a stored one.
 */
export const isExpired = (job: Job, nowMs: number): boolean => {
  const at = expiresAtMs(job)
  return at !== undefined && at < nowMs
}

const EXPIRES_MESSAGE =
  "Expected an ISO-8601 date between 1970 and 9999 (e.g. 2030-01-31T12:00:00Z) or epoch milliseconds"

/** A canonical `expires`: `yyyy-MM-ddTHH:mm:ss.SSS+0000`, as Java Helios writes it. */
export const Expires = stringWhere((s) => JACKSON_DATE.test(s) && parseExpiresMs(s) !== undefined, EXPIRES_MESSAGE)
/** A submitted `expires`: see parseExpiresMs. */
export const ExpiresInput = Schema.Union([Schema.String, Schema.Number]).check(
  Schema.makeFilter((v: string | number) => parseExpiresMs(v) !== undefined || EXPIRES_MESSAGE),
)
