import fc from "fast-check"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { decodeBatch, decodeEvent, encodeBatch, encodeEvent, MalformedEvent } from "../core/codec.ts"
import { unpack } from "msgpackr"
import { decodeInput, formatFieldErrors } from "../core/decode.ts"
import { envelopeOf } from "../core/envelope.ts"
import { EventEnvelope } from "../core/events.ts"
import { decodeJob, Job } from "../core/job.ts"
import {
  envelopeArb,
  jobInputArb,
  loneSurrogateStringArb,
  portMappingArb,
  storedJobArb,
  streamIdArb,
  textArb,
} from "./arbitraries.ts"
import { check } from "./support.ts"

/*
 * The msgpack codec (core/codec.ts). The law, precisely:
 *
 *   For every envelope e that the EventEnvelope schema accepts, whose strings are well-formed
 *   UTF-16 and whose maps have no own `__proto__` key:
 *     decodeEvent(encodeEvent(e)) succeeds and deep-equals z(e), comparing leaves with Object.is,
 *   where z replaces every -0 by 0 (the codec folds -0 to 0 before packing; the schema lets -0
 *   through where it only asks for an integer >= 0, e.g. `at`). So nothing decoded is ever -0,
 *   an e without -0 comes back exactly, and encode(e) is the same bytes as encode(z(e)).
 *   The same holds for batches (decodeBatch/encodeBatch).
 *
 * `__proto__` map keys are refused by the job schema; lone surrogates are outside the law (see the
 * two properties at the end, which check that the schema refuses what the codec cannot carry).
 */

const hasNegativeZero = (x: unknown): boolean =>
  Object.is(x, -0) ||
  (Array.isArray(x) ? x.some(hasNegativeZero) : x !== null && typeof x === "object" && Object.values(x).some(hasNegativeZero))

const zeroed = <T>(x: T): T => {
  if (Object.is(x, -0)) return 0 as T
  if (Array.isArray(x)) return x.map(zeroed) as T
  if (x !== null && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, zeroed(v)])) as T
  return x
}

/**
 * Where two plain values differ (undefined when they do not): same own keys, same array lengths,
 * leaves compared with Object.is (so -0 != 0). Unlike toStrictEqual it does not read a
 * `constructor` property, which these maps may hold as an ordinary key.
 */
const difference = (a: unknown, b: unknown, path = "$"): string | undefined => {
  if (Object.is(a, b)) return undefined
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null)
    return `${path}: ${String(a)} (${typeof a}) vs ${String(b)} (${typeof b})`
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs object`
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return `${path}: different prototypes`
  const ka = Object.keys(a).sort()
  const kb = Object.keys(b).sort()
  if (ka.join("\u0000") !== kb.join("\u0000")) return `${path}: keys ${JSON.stringify(ka)} vs ${JSON.stringify(kb)}`
  for (const k of ka) {
    const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}[${JSON.stringify(k)}]`)
    if (d !== undefined) return d
  }
  return undefined
}

const expectSame = (actual: unknown, expected: unknown) => {
  const d = difference(actual, expected)
  if (d !== undefined) expect.fail(`decoded value differs at ${d}`)
}

const expectSchemaValid = (e: unknown) => {
  const r = decodeInput(EventEnvelope, e)
  if (Result.isFailure(r)) expect.fail(`generator bug: the schema refuses ${JSON.stringify(r.failure)}`)
}

/** Decoding is total: a Result, never a throw; failures are MalformedEvent; successes are schema-valid. */
const expectTotal = (bytes: Uint8Array) => {
  let event: ReturnType<typeof decodeEvent>
  let batch: ReturnType<typeof decodeBatch>
  try {
    event = decodeEvent(bytes)
    batch = decodeBatch(bytes)
  } catch (error) {
    return expect.fail(`decoding threw ${String(error)}`)
  }
  const failures: unknown[] = []
  for (const r of [event, batch] as ReadonlyArray<Result.Result<unknown, MalformedEvent>>) {
    expect(Result.isResult(r)).toBe(true)
    if (Result.isFailure(r)) failures.push(r.failure)
  }
  for (const f of failures) {
    expect(f).toBeInstanceOf(MalformedEvent)
    expect((f as MalformedEvent)._tag).toBe("MalformedEvent")
    expect(typeof (f as MalformedEvent).reason).toBe("string")
  }
  if (Result.isSuccess(event)) expectSchemaValid(event.success)
  if (Result.isSuccess(batch)) {
    expect(typeof batch.success.batchId).toBe("string")
    for (const s of batch.success.bumped) expect(s).toMatch(/^(job|host):/)
    for (const e of batch.success.events) expectSchemaValid(e)
  }
}

type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly bit: number }
  | { readonly kind: "set"; readonly at: number; readonly value: number }
  | { readonly kind: "insert"; readonly at: number; readonly value: number }
  | { readonly kind: "delete"; readonly at: number }
  | { readonly kind: "truncate"; readonly at: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xd4, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
)

const mutate = (bytes: Uint8Array, mutations: ReadonlyArray<Mutation>): Uint8Array => {
  let b = Array.from(bytes)
  for (const m of mutations) {
    if (b.length === 0) break
    const i = m.at % b.length
    switch (m.kind) {
      case "flip":
        b[i] = b[i]! ^ (1 << m.bit)
        break
      case "set":
        b[i] = m.value
        break
      case "insert":
        b.splice(i, 0, m.value)
        break
      case "delete":
        b.splice(i, 1)
        break
      case "truncate":
        b = b.slice(0, i)
        break
    }
  }
  return Uint8Array.from(b)
}

/** A copy of `value` with an own, enumerable `__proto__` key added to the map at `path`. */
const withProtoKey = (value: unknown, path: ReadonlyArray<string>, entry: unknown): unknown => {
  const copy = JSON.parse(JSON.stringify(value)) as Record<string, unknown>
  let map = copy
  for (const k of path) {
    if (typeof map[k] !== "object" || map[k] === null) map[k] = {}
    map = map[k] as Record<string, unknown>
  }
  Object.defineProperty(map, "__proto__", { value: entry, enumerable: true, writable: true, configurable: true })
  return copy
}

/** The maps of a job, and a value of the right shape for each. */
const JOB_MAPS: ReadonlyArray<readonly [ReadonlyArray<string>, unknown]> = [
  [["env"], "x"],
  [["labels"], "x"],
  [["metadata"], "x"],
  [["volumes"], "/data"],
  [["ramdisks"], "rw"],
  [["ports"], { internalPort: 80, protocol: "tcp" }],
  [["registration"], { ports: {} }],
  [["registration", "svc/http", "ports"], {}],
]

describe("codec laws", () => {
  it("decodeEvent(encodeEvent(e)) deep-equals e (Object.is on leaves) for every schema-valid envelope with well-formed strings and awkward map keys (unicode, empty, constructor, toString, numeric-looking, dotted, colons), large safe integers and max ports, except that -0 comes back as 0; nothing decoded is -0 and encode(e) == encode(e with -0 as 0)", () => {
    check(
      fc.property(envelopeArb, (e) => {
        expectSchemaValid(e)
        const bytes = encodeEvent(e)
        const decoded = decodeEvent(bytes)
        if (Result.isFailure(decoded)) return expect.fail(`round trip refused: ${decoded.failure.reason}`)
        expectSame(decoded.success, zeroed(e))
        expect(hasNegativeZero(decoded.success)).toBe(false)
        expect(Buffer.from(encodeEvent(zeroed(e))).equals(Buffer.from(bytes))).toBe(true)
      }),
      { runs: 400, seed: 3001 },
    )
  })

  it("decodeBatch(encodeBatch(b)) deep-equals b (with -0 as 0) for every batch of 1-4 valid envelopes, any batch id and bumped streams", () => {
    check(
      fc.property(
        textArb(40),
        fc.array(streamIdArb, { maxLength: 4 }),
        fc.array(envelopeArb, { minLength: 1, maxLength: 4 }),
        (batchId, bumped, events) => {
          const decoded = decodeBatch(encodeBatch({ batchId, bumped, events }))
          if (Result.isFailure(decoded)) return expect.fail(`round trip refused: ${decoded.failure.reason}`)
          expectSame(decoded.success, { batchId, bumped, events: zeroed(events) })
        },
      ),
      { runs: 200, seed: 3002 },
    )
  })

  it("decodeEvent answers exactly as the strict schema decode (decodeInput: every problem, excess keys refused) for envelopes with an extra key or a wrong value at any depth: the same success and value, or a MalformedEvent with decodeInput's full report", () => {
    /** Every object (not array) inside `x`, as paths from the root. */
    const objectPaths = (x: unknown, path: ReadonlyArray<string> = []): Array<ReadonlyArray<string>> =>
      x === null || typeof x !== "object"
        ? []
        : Array.isArray(x)
          ? x.flatMap((v, i) => objectPaths(v, [...path, String(i)]))
          : [path, ...Object.entries(x).flatMap(([k, v]) => objectPaths(v, [...path, k]))]
    const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom("extra key", "wrong value"), key: fc.constantFrom("extra", "imgae", "hostName", "0", "x.y"), value: fc.constantFrom<unknown>(1, "s", null, {}, [], { a: 1 }) })
    check(
      fc.property(envelopeArb, fc.array(edit, { minLength: 1, maxLength: 3 }), (e, edits) => {
        const raw = unpack(encodeEvent(e)) as Record<string, unknown>
        for (const { at, kind, key, value } of edits) {
          const paths = objectPaths(raw)
          const target = paths[at % paths.length]!.reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, raw)
          const keys = Object.keys(target)
          if (kind === "extra key" || keys.length === 0) target[key] = structuredClone(value)
          else target[keys[at % keys.length]!] = structuredClone(value)
        }
        const bytes = encodeEvent(raw as never)
        const strict = decodeInput(EventEnvelope, unpack(bytes))
        const decoded = decodeEvent(bytes)
        if (Result.isSuccess(strict)) {
          if (Result.isFailure(decoded)) return expect.fail(`decodeInput accepts, decodeEvent refuses: ${decoded.failure.reason}`)
          expectSame(decoded.success, strict.success)
        } else {
          if (Result.isSuccess(decoded)) return expect.fail(`decodeInput refuses (${formatFieldErrors(strict.failure)}), decodeEvent accepts`)
          expect(decoded.failure.reason).toBe(`event 0: ${formatFieldErrors(strict.failure)}`)
        }
      }),
      { runs: 400, seed: 3008 },
    )
  })

  it("decoding shares what repeats: equal actors and equal jobs of events read back are one object; a job with the same id but other content is not taken for it", () => {
    check(
      fc.property(storedJobArb, fc.constantFrom("alice", "h1"), (job, name) => {
        const at = (event: EventEnvelope["event"]): EventEnvelope => envelopeOf(event, { at: 0, actor: { kind: "user", name } })
        const created = decodeEvent(encodeEvent(at({ _tag: "JobCreated", job })))
        const deployed = decodeBatch(encodeBatch({ batchId: "b", bumped: [], events: [at({ _tag: "JobDeployed", job, host: "h1" as never, goal: "START" })] }))
        if (Result.isFailure(created) || Result.isFailure(deployed)) return expect.fail("round trip refused")
        const [d] = deployed.success.events
        expect(d!.actor).toBe(created.success.actor)
        expect((d!.event as { job: unknown }).job).toBe((created.success.event as { job: unknown }).job)
        const other = decodeEvent(encodeEvent(at({ _tag: "JobCreated", job: { ...job, image: `${job.image}x` } })))
        if (Result.isFailure(other)) return
        expect((other.success.event as { job: Job }).job.image).toBe(`${job.image}x`)
      }),
      { runs: 50, seed: 3009 },
    )
  })

  it("a map key __proto__ anywhere in a job (env, labels, metadata, volumes, ramdisks, ports, registration, a registration's ports) is refused by decodeJob with an error on that field, by the stored-job schema, and inside JobCreated/JobDeployed by the envelope schema: never silently mangled", () => {
    check(
      fc.property(jobInputArb, storedJobArb, fc.constantFrom(...JOB_MAPS), (input, stored, [path, entry]) => {
        const submitted = decodeJob(withProtoKey(input, path, entry))
        if (Result.isSuccess(submitted)) return expect.fail(`decodeJob accepted __proto__ in ${path.join(".")}`)
        expect(submitted.failure.some((f) => f.field.split(".").includes("__proto__"))).toBe(true)

        const job = withProtoKey(stored, path, entry)
        expect(Result.isFailure(decodeInput(Job, job))).toBe(true)
        const envelope = (event: unknown) => ({ event, schemaVersion: 1, at: 0, actor: { kind: "user", name: "u" } })
        expect(Result.isFailure(decodeInput(EventEnvelope, envelope({ _tag: "JobCreated", job })))).toBe(true)
        expect(Result.isFailure(decodeInput(EventEnvelope, envelope({ _tag: "JobDeployed", job, host: "h1", goal: "START" })))).toBe(true)
      }),
      { runs: 200, seed: 3003 },
    )
  })

  it("arbitrary bytes never make decodeBatch/decodeEvent throw: always a Result, a failure is a typed MalformedEvent, a success is schema-valid", () => {
    check(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc.uint8Array({ maxLength: 600 }),
          // msgpack-shaped prefixes: containers and extensions with absurd lengths.
          fc.tuple(fc.constantFrom(0x94, 0xdc, 0xdd, 0xde, 0xdf, 0xc7, 0xc8, 0xc9, 0xd4, 0xd8, 0xdb, 0xc4, 0xc6), fc.uint8Array({ maxLength: 32 })).map(
            ([head, rest]) => Uint8Array.from([head, ...rest]),
          ),
        ),
        (bytes) => expectTotal(bytes),
      ),
      { runs: 2000, seed: 3004 },
    )
  })

  it("mutated valid encodings (bit flips, byte changes, insertions, deletions, truncations) never make decodeBatch/decodeEvent throw: always a Result, a failure is a typed MalformedEvent, a success is schema-valid", () => {
    check(
      fc.property(
        fc.array(envelopeArb, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        (events, asBatch, mutations) => {
          const bytes = asBatch ? encodeBatch({ batchId: "b", bumped: ["job:x"], events }) : encodeEvent(events[0]!)
          expectTotal(mutate(bytes, mutations))
        },
      ),
      { runs: 1000, seed: 3005 },
    )
  })

  // ---- What the codec cannot carry exactly, the envelope schema refuses ----

  it(
    "a TaskStateChanged whose env or ports map has an own __proto__ key is either refused by the envelope schema or round-trips exactly",
    () => {
      check(
        fc.property(fc.boolean(), textArb(), portMappingArb, (inEnv, value, mapping) => {
          const raw = {
            event: {
              _tag: "TaskStateChanged",
              jobId: `a:b:${"0".repeat(40)}`,
              host: "h1",
              state: "RUNNING",
              goal: "START",
              throttled: "NO",
              ...(inEnv ? { env: JSON.parse(`{"__proto__": ${JSON.stringify(value)}}`) } : { ports: JSON.parse(`{"__proto__": ${JSON.stringify(mapping)}}`) }),
            },
            schemaVersion: 1,
            at: 0,
            actor: { kind: "agent", name: "h1" },
          }
          const accepted = decodeInput(EventEnvelope, raw)
          if (Result.isFailure(accepted)) return
          const back = decodeEvent(encodeEvent(accepted.success))
          if (Result.isFailure(back)) return expect.fail(`round trip refused: ${back.failure.reason}`)
          expectSame(back.success, accepted.success)
        }),
        { runs: 20, seed: 3006 },
      )
    },
  )

  it(
    "a string with a lone UTF-16 surrogate (task error, task env, actor name, command id) is either refused by the envelope schema or round-trips exactly",
    () => {
      check(
        fc.property(loneSurrogateStringArb, fc.constantFrom("error", "actor", "commandId", "env"), (s, where) => {
          const raw = {
            event: {
              _tag: "TaskStateChanged",
              jobId: `a:b:${"0".repeat(40)}`,
              host: "h1",
              state: "FAILED",
              goal: "START",
              throttled: "NO",
              ...(where === "error" ? { error: s } : {}),
              ...(where === "env" ? { env: { K: s } } : {}),
            },
            schemaVersion: 1,
            at: 0,
            actor: { kind: "agent", name: where === "actor" ? s : "h1" },
            ...(where === "commandId" ? { commandId: s.slice(0, 128) } : {}),
          }
          const accepted = decodeInput(EventEnvelope, raw)
          if (Result.isFailure(accepted)) return
          const back = decodeEvent(encodeEvent(accepted.success))
          if (Result.isFailure(back)) return expect.fail(`round trip refused: ${back.failure.reason}`)
          expectSame(back.success, accepted.success)
        }),
        { runs: 20, seed: 3007 },
      )
    },
  )
})
