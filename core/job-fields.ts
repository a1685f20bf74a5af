import { isIP } from "node:net"
import { Schema } from "effect"
import { imageReferenceProblems } from "./image-reference.ts"
import { SafeRecord } from "./safe-text.ts"

/*
 * The schemas of a job's single fields (Helios's JobValidator rules for each), shared by the stored
 * `Job` and the submitted `JobInput` (job.ts).
 */

export const INT32_MAX = 2 ** 31 - 1

export const intIn = (min: number, max: number) =>
  Schema.Number.check(
    Schema.makeFilter(
      (n: number) =>
        Object.is(n, -0)
          ? "Expected an integer, not -0 (it cannot be stored exactly)"
          : (Number.isInteger(n) && n >= min && n <= max) || `Expected an integer from ${min} to ${max}`,
      // What the OpenAPI document (master/openapi.ts) says of the field.
      { toJsonSchema: () => ({ type: "integer", minimum: min, maximum: max }) },
    ),
  )

export const stringWhere = (test: (s: string) => boolean, message: string) =>
  Schema.String.check(Schema.makeFilter((s: string) => test(s) || message))

/** A TCP/UDP port number, 0-65535 (Helios's legalPort). */
export const PortNumber = intIn(0, 65535)
/** A Java Integer that must not be negative (seconds). */
export const Seconds = intIn(0, INT32_MAX)
/** A Java Long as JSON can carry it exactly. */
export const longFrom = (min: number) => intIn(min, Number.MAX_SAFE_INTEGER)

export const Protocol = Schema.Literals(["tcp", "udp"])
export type Protocol = typeof Protocol.Type

/** A host bind address: an IPv4 or IPv6 literal (Helios: Guava InetAddresses.isInetAddress). */
export const IpAddress = stringWhere(
  (s) => isIP(s) !== 0 && !s.includes("%"),
  "Expected an IPv4 or IPv6 address, e.g. 0.0.0.0 or 127.0.0.1",
)

const HOSTNAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/
/** A container hostname: `[a-z0-9][a-z0-9-]{0,62}`, or "" for Docker's default. */
export const Hostname = stringWhere(
  (s) => s === "" || HOSTNAME_PATTERN.test(s),
  "Invalid hostname: only [a-z0-9][a-z0-9-] are allowed, size between 1 and 63",
)

/** `bridge`, `host` or `container:<name|id>`. */
export const NetworkMode = stringWhere(
  (s) => s === "bridge" || s === "host" || /^container:.+$/s.test(s),
  "A Docker container's network mode must be bridge, host, or container:<name|id>",
)

/** A Docker image reference, checked as Helios does (image-reference.ts). */
export const Image = Schema.String.check(
  Schema.makeFilter((s: string) => {
    const problems = imageReferenceProblems(s)
    return problems.length === 0 ? undefined : problems
  }),
)

const NonEmptyString = stringWhere((s) => s.length > 0, "Expected a non-empty string")
export const Capabilities = Schema.Array(NonEmptyString).check(Schema.isMaxLength(64))

const CPUSET_PATTERN = /^(?:\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)?$/
export const Cpuset = stringWhere((s) => CPUSET_PATTERN.test(s), 'Expected a cpuset like "0-3,5"')

export const StringMap = SafeRecord(Schema.String)
export const Strings = Schema.Array(Schema.String)
