import fc from "fast-check"
import type { RawRequest } from "../test/raw-http.ts"
import { AWKWARD_KEYS, GOALS, TASK_STATES, THROTTLES, TOKEN, jobInputArb, loneSurrogateStringArb } from "./arbitraries.ts"

/*
 * HTTP requests for fuzzing the master's API, as plain data (so fast-check can shrink them) that
 * `renderRequest` turns into bytes against the fleet as it is when the request is sent: a job or
 * host reference is an index into the ids the master knows then, so generated requests hit
 * existing jobs and hosts as often as missing ones.
 *
 * Half the requests are well-formed (a route with a method it serves, a body of the right shape,
 * ordinary headers), so the fleet changes and commands succeed as well as fail; the other half are
 * wild: mangled or unknown paths, odd methods, query parameters with bad values, valid jobs mutated
 * field by field, bodies of the wrong shape, not JSON, not UTF-8, deeply nested, near or over the
 * size limit, bad header values, Content-Length lies and broken chunked framing.
 */

/** What the fleet looks like when a request is rendered. */
export interface FuzzWorld {
  /** Full ids of jobs the master has or had (sorted, stable between renders). */
  readonly jobs: ReadonlyArray<string>
  readonly hosts: ReadonlyArray<string>
  /** The log's head: `after` values are drawn at or below it. */
  readonly head: number
  /** The last Helios-Command-Id sent, to send again. */
  readonly lastCommandId: string | undefined
  /** A fresh command id each call (and the one "last" sends next). */
  readonly freshCommandId: () => string
  /** A fresh id for an agent's fact: facts' ids are not commands' (command-bus.ts). */
  readonly freshFactId: () => string
}

// ---------------------------------------------------------------------------------------------
// Paths

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const
const ODD_METHODS = ["HEAD", "OPTIONS", "TRACE", "PROPFIND", "get", "FOO", "M-SEARCH", "PURGE"]

/** How a job or host id in a path is spoiled. */
export type IdMutation = "none" | "truncate" | "tamper" | "upper" | "bare" | "long" | "encoded" | "slash" | "odd"

export type Segment =
  | { readonly k: "lit"; readonly v: string }
  | { readonly k: "job"; readonly i: number; readonly mut: IdMutation }
  | { readonly k: "host"; readonly i: number; readonly mut: IdMutation }
  | { readonly k: "odd"; readonly v: string }

const J = (i: number, mut: IdMutation = "none"): Segment => ({ k: "job", i, mut })
const H = (i: number, mut: IdMutation = "none"): Segment => ({ k: "host", i, mut })
const L = (v: string): Segment => ({ k: "lit", v })

/** Text that is awkward in a path or query: percent junk, encoded surrogates, dots, raw non-ASCII. */
const ODD_TEXTS = [
  "",
  ".",
  "..",
  "%",
  "%zz",
  "%2",
  "%00",
  "%2F",
  "%2e%2e",
  "%C3",
  "%C3%28",
  "%ED%A0%80",
  "%F4%90%80%80",
  "%FF%FE",
  "%E2%82%AC",
  "a;b",
  "a,b",
  "*",
  "~",
  "!$&'()*+,;=",
  "%20",
  "+",
  "é",
  "\u00ff",
  "🙂",
  "\\",
  "[",
  "{}",
  "__proto__",
  "constructor",
  "null",
  "undefined",
  "0",
  "-1",
  "9".repeat(30),
]

const oddTextArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ODD_TEXTS) },
  { weight: 1, arbitrary: fc.constantFrom(...AWKWARD_KEYS) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: loneSurrogateStringArb.map((s) => s.slice(-6)) },
  { weight: 1, arbitrary: fc.constantFrom(100, 1000, 9000, 20_000).map((n) => "x".repeat(n)) },
)

const idMutationArb: fc.Arbitrary<IdMutation> = fc.oneof(
  { weight: 6, arbitrary: fc.constant("none" as const) },
  { weight: 1, arbitrary: fc.constantFrom<IdMutation>("truncate", "tamper", "upper", "bare", "long", "encoded", "slash", "odd") },
)
const refArb = fc.nat({ max: 40 })
const jobSeg = fc.tuple(refArb, idMutationArb).map(([i, mut]) => J(i, mut))
const hostSeg = fc.tuple(refArb, idMutationArb).map(([i, mut]) => H(i, mut))

/** The master's routes (and Helios routes it does not serve) with their holes filled, and the methods each serves. */
type BodyKind = "none" | "job" | "deployment" | "relay" | "ids"
type Route = { readonly segments: ReadonlyArray<Segment>; readonly methods: ReadonlyArray<string>; readonly body: BodyKind }
const route =
  (methods: ReadonlyArray<string>, body: BodyKind = "none") =>
  (segments: ReadonlyArray<Segment>): Route => ({ segments, methods, body })
const routeArb: fc.Arbitrary<Route> = fc.oneof(
  fc.constant([L("jobs")]).map(route(["GET", "POST"], "job")),
  jobSeg.map((j) => [L("jobs"), j]).map(route(["GET", "DELETE"])),
  jobSeg.map((j) => [L("jobs"), j, L("status")]).map(route(["GET"])),
  fc.constant([L("jobs"), L("statuses")]).map(route(["POST"], "ids")),
  fc.constant([L("hosts")]).map(route(["GET"])),
  hostSeg.map((h) => [L("hosts"), h]).map(route(["PUT", "DELETE"])),
  hostSeg.map((h) => [L("hosts"), h, L("status")]).map(route(["GET"])),
  fc.constant([L("hosts"), L("statuses")]).map(route(["POST"], "ids")),
  { arbitrary: fc.tuple(hostSeg, jobSeg).map(([h, j]) => [L("hosts"), h, L("jobs"), j]).map(route(["PUT", "PATCH", "DELETE", "GET"], "deployment")), weight: 3 },
  hostSeg.map((h) => [L("hosts"), h, L("events")]).map(route(["POST"], "relay")),
  jobSeg.map((j) => [L("history"), L("jobs"), j]).map(route(["GET"])),
  fc
    .constantFrom(
      [L("state")],
      [L("events")],
      [L("masters")],
      [L("version")],
      [L("healthz")],
      [L("version"), L("check")],
      [L("deployment-group")],
      [L("deployment-group"), L("g1"), L("rolling-update")],
      [],
    )
    .map(route(["GET"])),
)

export type PathMutation = "none" | "trailing-slash" | "double-slash" | "drop" | "extra" | "replace" | "upper-case"

const pathMutationArb: fc.Arbitrary<PathMutation> = fc.oneof(
  { weight: 8, arbitrary: fc.constant("none" as const) },
  { weight: 1, arbitrary: fc.constantFrom<PathMutation>("trailing-slash", "double-slash", "drop", "extra", "replace", "upper-case") },
)

export interface PathSpec {
  readonly segments: ReadonlyArray<Segment>
  readonly mutation: PathMutation
  /** Which segment a mutation applies to (modulo the count). */
  readonly at: number
  readonly odd: string
}

const methodArb = (served: ReadonlyArray<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(...served) },
    { weight: 2, arbitrary: fc.constantFrom<string>(...METHODS) },
    { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) },
  )

/** A method and a path: mostly a route with a method it serves. */
const methodAndPathArb: fc.Arbitrary<{ method: string; path: PathSpec; body: BodyKind }> = fc.oneof(
  {
    weight: 12,
    arbitrary: routeArb.chain(({ segments, methods, body }) =>
      fc.record({
        method: methodArb(methods),
        path: fc.record({ segments: fc.constant(segments), mutation: pathMutationArb, at: fc.nat(8), odd: oddTextArb }),
        body: fc.constant(body),
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      method: methodArb(METHODS),
      path: fc
        .array(fc.oneof(oddTextArb.map((v): Segment => ({ k: "odd", v })), fc.constantFrom(L("jobs"), L("hosts"), L("x"))), { maxLength: 5 })
        .map((segments): PathSpec => ({ segments, mutation: "none", at: 0, odd: "" })),
      body: fc.constant<BodyKind>("none"),
    }),
  },
)

// ---------------------------------------------------------------------------------------------
// Query strings

export type QueryValue = { readonly k: "text"; readonly v: string } | { readonly k: "position"; readonly back: number } | { readonly k: "job"; readonly i: number } | { readonly k: "host"; readonly i: number }

const QUERY_KEYS = [
  "after",
  "wait",
  "user",
  "at",
  "force",
  "token",
  "id",
  "q",
  "hostPattern",
  "namePattern",
  "selector",
  "status",
  "job",
  "host",
  "follow",
  "client",
] as const

/** Bad values for any parameter: empty, signs, exponents, hex, huge, fractional, words, odd text. */
const BAD_VALUES = [
  "",
  "-1",
  "-0",
  "1e3",
  "1e400",
  "0x10",
  "NaN",
  "Infinity",
  "99999999999999999999",
  "1.5",
  " 1",
  "1 ",
  "abc",
  "true",
  "false",
  "null",
  "START",
  "UP",
  "(",
  "[a-",
  "*",
  "a in (",
  "a=b",
  "a notin (b, c)",
  "2001-01-01T00:00:00Z",
  "2999-13-45",
  "0001-01-01",
  "yesterday",
  TOKEN,
]

const queryValueArb = (key: string): fc.Arbitrary<QueryValue> => {
  const text = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...BAD_VALUES) },
    { weight: 1, arbitrary: oddTextArb },
    { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
  ).map((v): QueryValue => ({ k: "text", v }))
  switch (key) {
    // Non-digit garbage, a position the log has (a later one is waited for, then 503: not fuzzed
    // here), or digits beyond 2^53 - 1 (refused at once).
    case "after":
      return fc.oneof(
        fc.nat(5).map((back): QueryValue => ({ k: "position", back })),
        text.filter((v) => v.k !== "text" || !/^\d+$/.test(v.v)),
        fc.constantFrom("9007199254740992", "99999999999999999999").map((v): QueryValue => ({ k: "text", v })),
      )
    case "at":
      return fc.oneof(fc.nat(5).map((back): QueryValue => ({ k: "position", back })), text)
    case "wait":
      return fc.oneof(fc.constantFrom("0", "1", "50").map((v): QueryValue => ({ k: "text", v })), text)
    case "job":
    case "q":
      return fc.oneof(refArb.map((i): QueryValue => ({ k: "job", i })), text)
    case "host":
    case "id":
      return fc.oneof(refArb.map((i): QueryValue => ({ k: "host", i })), text)
    case "user":
      return fc.oneof(fc.constantFrom("alice", "bob").map((v): QueryValue => ({ k: "text", v })), text, fc.constant<QueryValue>({ k: "text", v: "u".repeat(300) }))
    case "token":
      return fc.oneof(fc.constant<QueryValue>({ k: "text", v: TOKEN }), text)
    default:
      return text
  }
}

export interface QueryParam {
  readonly key: string
  readonly value: QueryValue
  /** Sent percent-encoded (as a client library would) or raw. */
  readonly encoded: boolean
}

const queryParamArb: fc.Arbitrary<QueryParam> = fc
  .oneof({ weight: 8, arbitrary: fc.constantFrom<string>(...QUERY_KEYS) }, { weight: 1, arbitrary: oddTextArb.map((k) => k.slice(0, 20)) })
  .chain((key) => fc.record({ key: fc.constant(key), value: queryValueArb(key), encoded: fc.boolean() }))

// ---------------------------------------------------------------------------------------------
// Bodies

/** A value of the wrong kind for any field. */
export const garbageValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    1.5,
    1e308,
    -1e308,
    2 ** 53 + 2,
    -(2 ** 31),
    2 ** 31,
    "",
    "x",
    "-1",
    "1e3",
    [],
    {},
    [null],
    { "": null },
    { __proto__: null, constructor: { prototype: 1 } },
    "\u0000",
    "\ud800",
  ),
  fc.jsonValue({ maxDepth: 3 }),
)

/** Dotted paths into a job, top-level and nested. */
const JOB_FIELD_PATHS = [
  "id",
  "image",
  "hostname",
  "command",
  "command.0",
  "env",
  "env.A",
  "resources",
  "resources.memory",
  "resources.cpuShares",
  "resources.memorySwap",
  "ports",
  "ports.http",
  "ports.http.internalPort",
  "ports.http.externalPort",
  "ports.http.protocol",
  "ports.http.ip",
  "registration",
  "registration.svc/http",
  "registration.svc/http.ports",
  "registrationDomain",
  "gracePeriod",
  "secondsToWaitBeforeKill",
  "volumes",
  "volumes./data",
  "ramdisks",
  "expires",
  "healthCheck",
  "healthCheck.type",
  "healthCheck.port",
  "securityOpt",
  "networkMode",
  "addCapabilities",
  "dropCapabilities",
  "labels",
  "metadata",
  "token",
  "rolloutOptions",
  "rolloutOptions.timeout",
  "rolloutOptions.parallelism",
  "runtime",
  "created",
  "creatingUser",
  "imgae",
  "__proto__",
  "constructor",
]

export interface FieldChange {
  readonly path: string
  /** undefined: the field is deleted. */
  readonly value: unknown
}

const fieldChangeArb: fc.Arbitrary<FieldChange> = fc.record({
  path: fc.constantFrom(...JOB_FIELD_PATHS),
  value: fc.option(garbageValueArb, { nil: undefined, freq: 6 }),
})

/** Sets a dotted path in a JSON object, creating objects on the way (`__proto__` as an own key). */
const setPath = (root: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> => {
  const copy: Record<string, unknown> = JSON.parse(JSON.stringify(root))
  const keys = path.split(".")
  let at: Record<string, unknown> = copy
  for (const key of keys.slice(0, -1)) {
    const next = Object.getOwnPropertyDescriptor(at, key)?.value
    const child = next !== null && typeof next === "object" ? (next as Record<string, unknown>) : {}
    Object.defineProperty(at, key, { value: child, enumerable: true, writable: true, configurable: true })
    at = child
  }
  const last = keys[keys.length - 1]!
  if (value === undefined) delete at[last]
  else Object.defineProperty(at, last, { value, enumerable: true, writable: true, configurable: true })
  return copy
}

/** An agent's fact about `host` as the relay expects it (POST /hosts/{host}/events). */
export type RelayedFact = { readonly tag: "HostRegistered" | "HostWentUp" | "TaskStateChanged"; readonly jobRef: number; readonly state: string; readonly goal: string; readonly throttled: string }

export type BodySpec =
  | { readonly k: "none" }
  | { readonly k: "job"; readonly job: Record<string, unknown>; readonly changes: ReadonlyArray<FieldChange> }
  | { readonly k: "deployment"; readonly goal: unknown; readonly name: "none" | "job" | "jobId" | "other"; readonly extra: ReadonlyArray<FieldChange> }
  | { readonly k: "relay"; readonly facts: ReadonlyArray<RelayedFact>; readonly otherHost: boolean; readonly actor: "agent" | "user"; readonly expected: unknown; readonly changes: ReadonlyArray<FieldChange> }
  | { readonly k: "ids"; readonly jobs: ReadonlyArray<number>; readonly hosts: ReadonlyArray<number>; readonly junk: ReadonlyArray<unknown> }
  | { readonly k: "json"; readonly value: unknown }
  | { readonly k: "text"; readonly text: string }
  | { readonly k: "bytes"; readonly bytes: ReadonlyArray<number>; readonly wrapInJob: boolean }
  | { readonly k: "deep"; readonly depth: number; readonly open: "[" | '{"a":'; readonly inJob: boolean }
  | { readonly k: "oversized"; readonly bytes: number }
  /** A valid job padded to about `bytes`: near the body limit, and as events near ZooKeeper's. */
  | { readonly k: "large"; readonly bytes: number; readonly name: string }

const INVALID_JSON = [
  "{",
  "}",
  "{'id': 'a:b'}",
  '{"id":}',
  "[1,]",
  "nul",
  "NaN",
  "01",
  "1e999",
  '"\\ud800"',
  '{"a":"\u0000"}',
  '{"a":1}{"b":2}',
  '{"a":1} x',
  "\ufeff{}",
  '{"__proto__":{"polluted":1},"id":"web:v1","image":"busybox"}',
  '{"id":"web:v1","image":"busybox","id":"api:v1"}',
  " ",
  "\n",
  "true",
  "0",
  '""',
  "[]",
  "{}",
]

/** Byte sequences that are not UTF-8: stray continuation, truncated, overlong, surrogate, > U+10FFFF. */
const INVALID_UTF8 = [[0xff], [0xfe, 0xff], [0x80], [0xc3], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]]

const factArb: fc.Arbitrary<RelayedFact> = fc.record({
  tag: fc.constantFrom("HostRegistered" as const, "HostWentUp" as const, "TaskStateChanged" as const),
  jobRef: refArb,
  state: fc.oneof({ weight: 5, arbitrary: fc.constantFrom<string>(...TASK_STATES) }, { weight: 1, arbitrary: fc.constant("EXPLODED") }),
  goal: fc.constantFrom<string>(...GOALS),
  throttled: fc.constantFrom<string>(...THROTTLES),
})

const jobBodyArb: fc.Arbitrary<BodySpec> = fc.record({
  k: fc.constant("job" as const),
  job: jobInputArb as fc.Arbitrary<Record<string, unknown>>,
  changes: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: fc.array(fieldChangeArb, { minLength: 1, maxLength: 3 }) }),
})
const deploymentBodyArb: fc.Arbitrary<BodySpec> = fc.record({
  k: fc.constant("deployment" as const),
  goal: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<unknown>(...GOALS) }, { weight: 1, arbitrary: garbageValueArb }),
  name: fc.constantFrom("none" as const, "job" as const, "jobId" as const, "other" as const),
  extra: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(fieldChangeArb, { maxLength: 2 }) }),
})
const relayBodyArb: fc.Arbitrary<BodySpec> = fc.record({
      k: fc.constant("relay" as const),
      facts: fc.array(factArb, { maxLength: 3 }),
      otherHost: fc.boolean(),
      actor: fc.oneof({ weight: 5, arbitrary: fc.constant("agent" as const) }, { weight: 1, arbitrary: fc.constant("user" as const) }),
      expected: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom<unknown>("none", 0, 3, -1, 1.5, "x") }),
      changes: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(fieldChangeArb.map((c) => ({ ...c, path: `events.0.${c.path}` })), { maxLength: 2 }) }),
})
const idsBodyArb: fc.Arbitrary<BodySpec> = fc.record({
  k: fc.constant("ids" as const),
  jobs: fc.array(refArb, { maxLength: 3 }),
  hosts: fc.array(refArb, { maxLength: 3 }),
  junk: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(garbageValueArb, { maxLength: 1 }) }),
})
const noBody: fc.Arbitrary<BodySpec> = fc.constant({ k: "none" })
const largeJobBodyArb: fc.Arbitrary<BodySpec> = fc.record({
  k: fc.constant("large" as const),
  bytes: fc.constantFrom(100_000, 400_000, 512 * 1024 - 64),
  name: fc.constantFrom("big", "huge"),
})

/** Any body at all. */
const bodyArb: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 2, arbitrary: noBody },
  { weight: 3, arbitrary: jobBodyArb },
  { weight: 3, arbitrary: deploymentBodyArb },
  { weight: 1, arbitrary: relayBodyArb },
  { weight: 1, arbitrary: idsBodyArb },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("json" as const), value: fc.jsonValue({ maxDepth: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("text" as const), text: fc.oneof(fc.constantFrom(...INVALID_JSON), fc.string({ maxLength: 20 })) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("bytes" as const),
      bytes: fc.oneof(fc.constantFrom(...INVALID_UTF8), fc.uint8Array({ maxLength: 16 }).map((a) => [...a])),
      wrapInJob: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant("deep" as const), depth: fc.constantFrom(50, 1000, 20_000, 200_000), open: fc.constantFrom("[" as const, '{"a":' as const), inJob: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("oversized" as const), bytes: fc.constantFrom(512 * 1024 + 1, 700_000) }) },
  { weight: 1, arbitrary: largeJobBodyArb },
)

// ---------------------------------------------------------------------------------------------
// Headers

export type Framing = "actual" | "none" | "shorter" | "longer" | "zero" | "chunked" | "bad-chunked" | "twice" | "not-a-number"

export interface HeaderSpec {
  readonly contentType: string | undefined
  readonly heliosVersion: string | undefined
  readonly commandId: "none" | "fresh" | "last" | "invalid" | "long"
  readonly framing: Framing
  readonly lie: number
  readonly extra: ReadonlyArray<readonly [string, string]>
}

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=latin1",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "",
  "*/*",
  "application/json, text/plain",
  "\u00ff\u00fe",
]

const HELIOS_VERSIONS = ["0.9.0", "0.8.1000", "1.0.0", "999.999.999", "", "garbage", "1", "1.2", "-1.-1.-1", "1.2.3.4", "\u00ff", "9".repeat(400)]

const EXTRA_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["Accept-Encoding", "gzip, deflate, br"],
  ["Accept", "text/html"],
  ["Expect", "100-continue"],
  ["Expect", "nothing"],
  ["Connection", "keep-alive"],
  ["Content-Encoding", "gzip"],
  ["Origin", "http://evil.example"],
  ["X-Forwarded-For", "::1, 10.0.0.1"],
  ["Helios-Command-Id", "dup-1"],
  ["Cookie", "a=b"],
  ["Range", "bytes=0-1"],
  ["Transfer-Encoding", "gzip"],
  ["Host", "other.example"],
  ["X-Very-Long", "v".repeat(17_000)],
]

const headerSpecArb: fc.Arbitrary<HeaderSpec> = fc.record({
  contentType: fc.oneof({ weight: 4, arbitrary: fc.constant("application/json") }, { weight: 2, arbitrary: fc.constantFrom<string | undefined>(undefined, ...CONTENT_TYPES) }),
  heliosVersion: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...HELIOS_VERSIONS) }),
  commandId: fc.oneof({ weight: 4, arbitrary: fc.constant("none" as const) }, { weight: 2, arbitrary: fc.constant("fresh" as const) }, { weight: 1, arbitrary: fc.constantFrom("last" as const, "invalid" as const, "long" as const) }),
  framing: fc.oneof({ weight: 12, arbitrary: fc.constant("actual" as const) }, { weight: 1, arbitrary: fc.constantFrom<Framing>("none", "shorter", "longer", "zero", "chunked", "bad-chunked", "twice", "not-a-number") }),
  lie: fc.integer({ min: 1, max: 64 }),
  extra: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.subarray([...EXTRA_HEADERS], { maxLength: 2 }) }),
})

// ---------------------------------------------------------------------------------------------
// Whole requests


export interface RequestSpec {
  readonly method: string
  readonly path: PathSpec
  readonly query: ReadonlyArray<QueryParam>
  readonly body: BodySpec
  readonly headers: HeaderSpec
}

const FITTING_BODIES: Record<BodyKind, fc.Arbitrary<BodySpec>> = {
  none: noBody,
  job: fc.oneof({ weight: 10, arbitrary: jobBodyArb }, { weight: 1, arbitrary: largeJobBodyArb }),
  deployment: deploymentBodyArb,
  relay: relayBodyArb,
  ids: idsBodyArb,
}

/** Garbage anywhere: a route or not, any method, bad query values, any body, odd headers. */
const wildRequestArb: fc.Arbitrary<RequestSpec> = methodAndPathArb.chain(({ method, path, body }) =>
  fc.record({
    method: fc.constant(method),
    path: fc.constant(path),
    query: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: fc.array(queryParamArb, { maxLength: 4 }) }),
    body: fc.oneof({ weight: 3, arbitrary: FITTING_BODIES[body] }, { weight: 2, arbitrary: bodyArb }),
    headers: headerSpecArb,
  }),
)

const WELL_FORMED_BODIES: Record<BodyKind, fc.Arbitrary<BodySpec>> = {
  none: noBody,
  job: jobInputArb.map((job): BodySpec => ({ k: "job", job: job as Record<string, unknown>, changes: [] })),
  deployment: fc.record({
    k: fc.constant("deployment" as const),
    goal: fc.constantFrom<unknown>(...GOALS),
    name: fc.constantFrom("none" as const, "job" as const, "jobId" as const),
    extra: fc.constant([]),
  }),
  relay: fc.record({
    k: fc.constant("relay" as const),
    facts: fc.array(factArb.filter((f) => f.state !== "EXPLODED"), { minLength: 1, maxLength: 3 }),
    otherHost: fc.constant(false),
    actor: fc.constant("agent" as const),
    expected: fc.constant(undefined),
    changes: fc.constant([]),
  }),
  ids: idsBodyArb.map((b) => ({ ...b, junk: [] })),
}

const param = (key: string, value: QueryValue): QueryParam => ({ key, value, encoded: true })
const text = (v: string): QueryValue => ({ k: "text", v })

/** What a well-behaved client sends: a user, perhaps the token, an `after` it has seen, an agent id. */
const wellFormedQueryArb = (segments: ReadonlyArray<Segment>): fc.Arbitrary<QueryParam[]> =>
  fc
    .tuple(
      fc.subarray([param("user", text("alice")), param("token", text(TOKEN)), param("after", { k: "position", back: 1 })]),
      refArb.map((i) => param("id", { k: "host", i })),
    )
    .map(([common, id]) => (segments.length === 2 && segments[0]!.k === "lit" && segments[0]!.v === "hosts" ? [...common, id] : common))

const wellFormedHeadersArb: fc.Arbitrary<HeaderSpec> = fc.record({
  contentType: fc.constant("application/json"),
  heliosVersion: fc.constantFrom(undefined, "0.9.0"),
  commandId: fc.constantFrom("none" as const, "fresh" as const, "last" as const),
  framing: fc.constant("actual" as const),
  lie: fc.constant(1),
  extra: fc.constant([]),
})

/** A request a client could mean: a route with a method it serves, a body of the right shape. */
const wellFormedRequestArb: fc.Arbitrary<RequestSpec> = routeArb.chain(({ segments, methods, body }) =>
  fc.record({
    method: fc.constantFrom(...methods),
    path: fc.constant<PathSpec>({ segments, mutation: "none", at: 0, odd: "" }),
    query: wellFormedQueryArb(segments),
    body: WELL_FORMED_BODIES[body],
    headers: wellFormedHeadersArb,
  }),
)

export const requestSpecArb: fc.Arbitrary<RequestSpec> = fc.oneof(wellFormedRequestArb, wildRequestArb)

// ---------------------------------------------------------------------------------------------
// Rendering

const pick = <T>(xs: ReadonlyArray<T>, i: number, fallback: T): T => (xs.length === 0 ? fallback : xs[i % xs.length]!)
const MISSING_JOB = `ghost:v0:${"f".repeat(40)}`

/** A path segment as a client would send it: percent-encoded where needed (raw if it cannot be). */
const encodeSegment = (s: string): string => {
  try {
    return encodeURIComponent(s)
  } catch {
    return s // a lone surrogate: sent as whatever latin1 makes of it
  }
}

const mutateId = (id: string, mut: IdMutation): string => {
  switch (mut) {
    case "none":
      return encodeSegment(id)
    case "truncate":
      return encodeSegment(id.slice(0, Math.max(1, id.length - 5)))
    case "tamper":
      return encodeSegment(id.slice(0, -1) + (id.endsWith("0") ? "1" : "0"))
    case "upper":
      return encodeSegment(id.toUpperCase())
    case "bare":
      return encodeSegment(id.split(":")[0]!)
    case "long":
      return encodeSegment(id + "a".repeat(5000))
    case "encoded":
      return [...Buffer.from(id)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")
    case "slash":
      return id.replace(":", "/")
    case "odd":
      return id + "%"
  }
}

const renderSegment = (s: Segment, world: FuzzWorld): string => {
  switch (s.k) {
    case "lit":
      return s.v
    case "odd":
      return s.v
    case "job":
      return mutateId(pick(world.jobs, s.i, MISSING_JOB), s.mut)
    case "host":
      return mutateId(pick(world.hosts, s.i, "h1"), s.mut)
  }
}

const renderPath = (p: PathSpec, world: FuzzWorld): string => {
  const segs = p.segments.map((s) => renderSegment(s, world))
  const at = segs.length === 0 ? 0 : p.at % segs.length
  switch (p.mutation) {
    case "none":
      break
    case "trailing-slash":
      return `/${segs.join("/")}/`
    case "double-slash":
      segs.splice(at, 0, "")
      break
    case "drop":
      segs.splice(at, 1)
      break
    case "extra":
      segs.splice(at + 1, 0, p.odd)
      break
    case "replace":
      segs[at] = p.odd
      break
    case "upper-case":
      segs[at] = (segs[at] ?? "").toUpperCase()
      break
  }
  return `/${segs.join("/")}`
}

const renderQueryValue = (v: QueryValue, world: FuzzWorld): string => {
  switch (v.k) {
    case "text":
      return v.v
    case "position":
      return String(Math.max(0, world.head - v.back))
    case "job":
      return pick(world.jobs, v.i, MISSING_JOB)
    case "host":
      return pick(world.hosts, v.i, "h1")
  }
}

const renderQuery = (q: ReadonlyArray<QueryParam>, world: FuzzWorld): string =>
  q.length === 0
    ? ""
    : "?" +
      q
        .map(({ key, value, encoded }) => {
          const v = renderQueryValue(value, world)
          return encoded ? `${encodeSegment(key)}=${encodeSegment(v)}` : `${key}=${v}`
        })
        .join("&")

const agentEnvelope = (fact: RelayedFact, host: string, world: FuzzWorld, actor: "agent" | "user") => {
  const event =
    fact.tag === "TaskStateChanged"
      ? { _tag: fact.tag, host, jobId: pick(world.jobs, fact.jobRef, MISSING_JOB), state: fact.state, goal: fact.goal, throttled: fact.throttled }
      : { _tag: fact.tag, host, agentId: "agent-fuzz" }
  return { event, schemaVersion: 1, at: 1_700_000_000_000, actor: { kind: actor, name: host }, commandId: world.freshFactId() }
}

/** The host a relay body speaks about: the one in the path when it names a host. */
const pathHost = (p: PathSpec, world: FuzzWorld): string => {
  const h = p.segments.find((s) => s.k === "host")
  return h?.k === "host" ? pick(world.hosts, h.i, "h1") : "h1"
}
const pathJob = (p: PathSpec, world: FuzzWorld): string => {
  const j = p.segments.find((s) => s.k === "job")
  return j?.k === "job" ? pick(world.jobs, j.i, MISSING_JOB) : MISSING_JOB
}

const renderBody = (spec: RequestSpec, world: FuzzWorld): Buffer | undefined => {
  const b = spec.body
  const json = (v: unknown) => Buffer.from(JSON.stringify(v) ?? "null")
  const apply = (root: Record<string, unknown>, changes: ReadonlyArray<FieldChange>) => changes.reduce((acc, c) => setPath(acc, c.path, c.value), root)
  switch (b.k) {
    case "none":
      return undefined
    case "job":
      return json(apply(b.job, b.changes))
    case "deployment": {
      const job = pathJob(spec.path, world)
      const named = b.name === "none" ? {} : { [b.name === "other" ? "job" : b.name]: b.name === "other" ? MISSING_JOB : job }
      return json(apply({ goal: b.goal, ...named }, b.extra))
    }
    case "relay": {
      const host = b.otherHost ? "someone-else" : pathHost(spec.path, world)
      const body: Record<string, unknown> = { events: b.facts.map((f) => agentEnvelope(f, host, world, b.actor)) }
      if (b.expected !== undefined) body.expected = { [`host:${host}`]: b.expected }
      return json(apply(body, b.changes))
    }
    case "ids":
      return json([...b.jobs.map((i) => pick(world.jobs, i, MISSING_JOB)), ...b.hosts.map((i) => pick(world.hosts, i, "h1")), ...b.junk])
    case "json":
      return json(b.value)
    case "text":
      return Buffer.from(b.text)
    case "bytes": {
      const bad = Buffer.from(b.bytes)
      return b.wrapInJob
        ? Buffer.concat([Buffer.from('{"id":"utf:v1","image":"busybox","env":{"A":"'), bad, Buffer.from('"}}')])
        : bad
    }
    case "deep": {
      const close = b.open === "[" ? "]" : "}"
      const nested = b.open.repeat(b.depth) + "1" + close.repeat(b.depth)
      return Buffer.from(b.inJob ? `{"id":"deep:v1","image":"busybox","metadata":${nested}}` : nested)
    }
    case "oversized":
      return Buffer.from(`{"id":"big:v1","image":"busybox","env":{"A":"${"x".repeat(b.bytes)}"}}`)
    case "large": {
      const head = `{"id":"${b.name}:v1","image":"busybox","env":{"A":"`
      return Buffer.from(`${head}${"é".repeat(Math.max(0, (b.bytes - head.length - 3) >> 1))}"}}`)
    }
  }
}

export const renderRequest = (spec: RequestSpec, world: FuzzWorld): RawRequest => {
  const h = spec.headers
  const body = renderBody(spec, world)
  const headers: Array<readonly [string, string]> = []
  if (h.contentType !== undefined && body !== undefined) headers.push(["Content-Type", h.contentType])
  if (h.heliosVersion !== undefined) headers.push(["Helios-Version", h.heliosVersion])
  const commandId =
    h.commandId === "fresh" ? world.freshCommandId()
    : h.commandId === "last" ? world.lastCommandId
    : h.commandId === "invalid" ? "not valid!"
    : h.commandId === "long" ? "c".repeat(200)
    : undefined
  if (commandId !== undefined) headers.push(["Helios-Command-Id", commandId])
  headers.push(...h.extra)
  const target = renderPath(spec.path, world) + renderQuery(spec.query, world)
  const bytes = body ?? Buffer.alloc(0)
  switch (body === undefined ? "none" : h.framing) {
    case "none":
      return { method: spec.method, target, headers, body: bytes, declaredLength: "none" }
    case "actual":
      return { method: spec.method, target, headers, body: bytes, declaredLength: "actual" }
    case "shorter":
      return { method: spec.method, target, headers, body: bytes, declaredLength: Math.max(0, bytes.length - h.lie) }
    case "longer":
      return { method: spec.method, target, headers, body: bytes, declaredLength: bytes.length + h.lie }
    case "zero":
      return { method: spec.method, target, headers, body: bytes, declaredLength: 0 }
    case "chunked":
    case "bad-chunked": {
      const size = h.framing === "chunked" ? bytes.length.toString(16) : "zz"
      const framed = Buffer.concat([Buffer.from(`${size}\r\n`), bytes, Buffer.from("\r\n0\r\n\r\n")])
      return { method: spec.method, target, headers: [...headers, ["Transfer-Encoding", "chunked"]], body: framed, content: bytes, declaredLength: "none" }
    }
    case "twice":
      return { method: spec.method, target, headers: [...headers, ["Content-Length", String(bytes.length + h.lie)]], body: bytes, declaredLength: "actual" }
    case "not-a-number":
      return { method: spec.method, target, headers: [...headers, ["Content-Length", `${bytes.length}x`]], body: bytes, declaredLength: "none" }
  }
}
