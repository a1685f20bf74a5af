import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { position, type HostName } from "../core/ids.ts"
import type { StoredEvent } from "../core/events.ts"
import { ZkHostInfoStore } from "../log/zk-host-info-store.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { foldReadModel } from "../projections/read-model.ts"
import { requestSpecArb, renderRequest, type FuzzWorld } from "../properties/api-requests.ts"
import { TOKEN } from "../properties/arbitraries.ts"
import { sendRaw, showRequest, type RawRequest, type RawResponse } from "../test/raw-http.ts"
import { uniqueRoot, zkConnect } from "../test/services.ts"
import { startMaster, type RunningMaster } from "./master.ts"

/*
 * Fuzzing the master's HTTP API: fast-check generates requests (paths, methods, query strings,
 * bodies, headers: properties/api-requests.ts) and sends them one at a time, as raw bytes, to a
 * live master on the run's real ZooKeeper. Invariants, checked after every request:
 *
 * 1. No 5xx. (The only 5xx the master gives by design are 503s for an unreachable log or an
 *    `after` position it has not applied; neither is provoked here: `after` values are at or
 *    below the log's head or not numbers at all.)
 * 2. No crash: every request gets an answer (except one whose Content-Length promises more bytes
 *    than are sent: the connection ends before the request does), the master logs no unexpected
 *    error, and afterwards it still answers /healthz and its read model equals a replay of the log.
 * 3. A request answered 4xx (or not at all, or by a read) wrote nothing: the log's head is the
 *    same before and after it. Requests are sent one at a time, so the attribution is exact.
 * 4. A 2xx write wrote exactly what it answered: the new events are one command's batch (one
 *    command id, the one the client sent if any), of the kind the route makes, about the job or
 *    host the answer names, by the user the request named, ending at the position it answered.
 *
 * Runs are reproducible: the seed is printed (HELIOS_FUZZ_SEED to replay it). HELIOS_FUZZ_RUNS sets
 * the number of requests (default sized for CI on a busy 2-core machine).
 */

const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === "") return fallback
  if (!Number.isSafeInteger(Number(raw))) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`)
  return Number(raw)
}
const SEED = envInt("HELIOS_FUZZ_SEED", 1717)
const RUNS = envInt("HELIOS_FUZZ_RUNS", 500)
/** Housekeeping (host liveness, expired jobs) would write events no request asked for: off. */
const NO_HOUSEKEEPING_MS = 2 ** 31 - 1

interface FuzzMaster extends RunningMaster {
  readonly log: ZooKeeperEventLog
  readonly zk: ZkClient
}

let m: FuzzMaster
const seenJobs = new Set<string>()
let lastCommandId: string | undefined
let commandCounter = 0
const unexpectedErrors: string[] = []

beforeAll(async () => {
  const root = uniqueRoot("api-fuzz")
  const zk = await ZkClient.connect(zkConnect())
  const log = await ZooKeeperEventLog.open(zk, { root })
  const master = await startMaster({ log, zk, zkRoot: root, name: "m-fuzz", port: 0, bindAddress: "127.0.0.1", hostInfo: new ZkHostInfoStore(zk, root), housekeepingIntervalMs: NO_HOUSEKEEPING_MS })
  m = { ...master, log, zk }
  // Every "unexpected error" is a 500 (the client may not even see it when its connection ended).
  const original = console.error
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    if (String(args[0]).includes("unexpected error")) unexpectedErrors.push(args.map((a) => (a instanceof Error ? a.stack : String(a))).join(" "))
    original(...args)
  })
  // A small fleet for the requests to act on: hosts, jobs (one with a token), a deployment.
  for (const h of ["h1", "h2", "h3"]) await send("PUT", `/hosts/${h}?id=agent-${h}`)
  const web = await send("POST", "/jobs", { id: "web:v1", image: "nginx:1.25", ports: { http: { internalPort: 80, externalPort: 8080 } } })
  await send("POST", "/jobs", { id: "api:v1", image: "redis", token: TOKEN })
  await send("POST", "/jobs", { id: "db:v1", image: "busybox", ports: { admin: { internalPort: 9000 } } })
  await send("PUT", `/hosts/h1/jobs/${web.id}`, { goal: "START" })
}, 60_000)

/** A well-formed request that must succeed. */
const send = async (method: string, target: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(m.url + target, { method, headers: { "content-type": "application/json", ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  expect(res.status).toBe(200)
  return (await res.json()) as { id?: string; position?: number }
}

afterAll(async () => {
  vi.restoreAllMocks()
  await m?.stop()
  await m?.log.close()
  await m?.zk.close()
})

const worldNow = async (): Promise<FuzzWorld> => {
  const state = m.projection.model.state
  for (const id of state.jobs.keys()) seenJobs.add(id)
  return {
    jobs: [...seenJobs].sort(),
    hosts: [...new Set(["h1", "h2", "h3", "h9", ...state.hosts.keys()])].sort(),
    head: await m.log.head(),
    lastCommandId,
    freshCommandId: () => (lastCommandId = `fuzz-${SEED}-${++commandCounter}`),
    freshFactId: () => `fact-${SEED}-${++commandCounter}`,
  }
}

const headerOf = (r: RawRequest, name: string) => r.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1]
const VALID_COMMAND_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Which events each write route appends, told apart by the fields of its answer. */
const expectedTags = (method: string, answer: Record<string, unknown>): ReadonlyArray<string> | undefined => {
  if (method === "POST" && "id" in answer) return ["JobCreated"]
  if (method === "PUT" && "job" in answer) return ["JobDeployed"]
  if (method === "PUT" && "host" in answer) return ["HostRegistered"]
  if (method === "PATCH" && "job" in answer) return ["DeploymentGoalChanged"]
  if (method === "DELETE" && "job" in answer) return ["JobUndeployed"]
  if (method === "DELETE" && "id" in answer) return ["JobRemoved"]
  if (method === "DELETE" && "host" in answer) return ["JobUndeployed", "HostDeregistered"]
  return undefined
}

/** The events of one command are the kind its route makes, about what its answer names. */
const checkCommandEvents = (req: RawRequest, answer: Record<string, unknown>, events: ReadonlyArray<StoredEvent>) => {
  expect(answer.status).toBe("OK")
  expect(answer.position).toBe(events[events.length - 1]!.position)
  expect(new Set(events.map((e) => e.envelope.commandId)).size).toBe(1)
  const sentId = headerOf(req, "Helios-Command-Id")
  if (sentId !== undefined && VALID_COMMAND_ID.test(sentId)) expect(events[0]!.envelope.commandId).toBe(sentId)
  const allowed = expectedTags(req.method, answer)
  expect(allowed, "a write route this test does not know").toBeDefined()
  for (const e of events) {
    expect(allowed).toContain(e.envelope.event._tag)
    expect(e.envelope.actor.kind).toBe("user")
    const ev = e.envelope.event as Record<string, unknown>
    if ("host" in answer) expect(ev.host).toBe(answer.host)
    if ("job" in answer) expect(ev.jobId ?? (ev.job as { id: string }).id).toBe(answer.job)
    if ("id" in answer) expect(ev.jobId ?? (ev.job as { id: string } | undefined)?.id).toBe(answer.id)
  }
}

/** Invariant 4: the events a 2xx write appended are the ones its answer describes. */
const checkWrite = (req: RawRequest, answer: Record<string, unknown>, events: ReadonlyArray<StoredEvent>, before: number, after: number) => {
  expect(events.map((e) => e.position)).toEqual(Array.from({ length: after - before }, (_, i) => before + 1 + i))
  expect(answer.status).toBe("OK")
  if ("firstPosition" in answer) {
    // The agent-fact relay: the events of the body, as they were sent.
    expect([answer.firstPosition, answer.lastPosition]).toEqual([before + 1, after])
    const sent = (JSON.parse((req.content ?? req.body).toString()) as { events: Array<{ event: { _tag: string }; commandId?: string }> }).events
    expect(events.map((e) => [e.envelope.event._tag, e.envelope.actor.kind, e.envelope.commandId])).toEqual(sent.map((s) => [s.event._tag, "agent", s.commandId]))
    return
  }
  checkCommandEvents(req, answer, events)
  const user = new URL(req.target, "http://x").searchParams.get("user")
  if (user === null) expect(events[0]!.envelope.actor.name).toBe("anonymous")
  else if (/^[A-Za-z0-9]{1,256}$/.test(user)) expect(events[0]!.envelope.actor.name).toBe(user)
}

/**
 * A 2xx command that wrote nothing was a no-op or a retry. A retry (its command id is on the events
 * at the position it answered) must be answered for the command that wrote them, not another one.
 */
const checkRetry = async (req: RawRequest, answer: Record<string, unknown>) => {
  const sentId = headerOf(req, "Helios-Command-Id")
  if (answer.status !== "OK" || typeof answer.position !== "number" || answer.position < 1 || sentId === undefined || !VALID_COMMAND_ID.test(sentId)) return
  const around = await m.log.read(position(Math.max(0, answer.position - 64)), 64)
  // Users' commands only: an agent's fact may carry any id, and is never taken for a retry.
  const batch = around.filter((e) => e.position <= (answer.position as number) && e.envelope.commandId === sentId && e.envelope.actor.kind === "user")
  if (batch.length === 0 || batch[batch.length - 1]!.position !== answer.position) return
  checkCommandEvents(req, answer, batch)
}

const stats = { requests: 0, byStatus: new Map<string, number>(), writes: 0, eventsWritten: 0 }
const count = (key: string) => stats.byStatus.set(key, (stats.byStatus.get(key) ?? 0) + 1)

/** Sends one request and checks invariants 1, 3 and 4 on it. */
const exchange = async (req: RawRequest): Promise<RawResponse> => {
  const before = await m.log.head()
  const errorsBefore = unexpectedErrors.length
  const res = await sendRaw(m.port, req)
  // Still up? (Also lets the master finish with a connection the client ended.)
  const health = await fetch(`${m.url}/healthz`)
  const after = await m.log.head()
  stats.requests++
  const answer = res.kind === "answered" ? res.body.toString("utf8") : ""
  const what = `${showRequest(req)}\n  → ${res.kind === "answered" ? `${res.status} ${answer.slice(0, 400)}` : `no answer: ${res.reason}`}\n  log head ${before} → ${after}`
  expect(health.status, `/healthz after:\n${what}`).toBe(200)
  expect(unexpectedErrors.slice(errorsBefore), `the master logged an unexpected error (a 500):\n${what}`).toEqual([])
  if (res.kind === "no-answer") {
    count("none")
    const promisedMore = typeof req.declaredLength === "number" && req.declaredLength > req.body.length
    expect(promisedMore, `no answer to a complete request:\n${what}`).toBe(true)
    expect(after, `a request that got no answer wrote to the log:\n${what}`).toBe(before)
    return res
  }
  count(String(res.status))
  // HELIOS_FUZZ_DEBUG: also count answers by route and status name, to see what the requests reach.
  if (process.env.HELIOS_FUZZ_DEBUG) count(`${req.method} ${req.target.split("?")[0]!.replace(/[^/]{20,}/g, "…")} ${res.status} ${/"status":"([A-Z_]+)"/.exec(answer)?.[1] ?? ""}`)
  expect(res.status, `5xx:\n${what}`).toBeLessThan(500)
  const wrote = after !== before
  if (!wrote) {
    if (res.status >= 200 && res.status < 300 && ["POST", "PUT", "PATCH", "DELETE"].includes(req.method)) {
      let parsed: Record<string, unknown> | undefined
      try {
        parsed = JSON.parse(answer)
      } catch {}
      if (parsed !== undefined && parsed !== null && typeof parsed === "object")
        await checkRetry(req, parsed).catch((e: Error) => {
          throw new Error(`a 2xx retry is answered for another command:\n${what}\n${e.message}`)
        })
    }
    return res
  }
  expect(res.status >= 200 && res.status < 300, `a ${res.status} answer wrote to the log:\n${what}`).toBe(true)
  expect(["POST", "PUT", "PATCH", "DELETE"], `a ${req.method} wrote to the log:\n${what}`).toContain(req.method)
  let parsed: Record<string, unknown>
  try {
    parsed = JSON.parse(answer)
  } catch {
    throw new Error(`a write answered with a body that is not JSON:\n${what}`)
  }
  const events = await m.log.read(position(before), after - before)
  try {
    checkWrite(req, parsed, events, before, after)
  } catch (e) {
    throw new Error(`a 2xx write does not match its answer:\n${what}\n  events: ${JSON.stringify(events.map((x) => x.envelope)).slice(0, 2000)}\n${(e as Error).message}`)
  }
  stats.writes++
  stats.eventsWritten += events.length
  return res
}

/** Maps and sets as sorted entries, so two read models compare as JSON. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v) =>
    v instanceof Map ? [...v.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)) : v instanceof Set ? [...v].sort() : v,
  )

/** The shrunk counterexamples the fuzzing found, kept as examples (each was a bug, fixed). */
describe("requests the fuzzing found mishandled", () => {
  const raw = (method: string, target: string, headers: Array<[string, string]>, body: string, declaredLength: RawRequest["declaredLength"]): RawRequest => ({
    method,
    target,
    headers,
    body: Buffer.from(body),
    declaredLength,
  })
  const answered = (res: RawResponse) => {
    if (res.kind !== "answered") throw new Error(`no answer: ${res.reason}`)
    return { status: res.status, body: res.body.toString() }
  }

  it("a body cut short by the client (Content-Length: 2, one byte, then end) is a 400, not an unexpected error (500)", async () => {
    const before = await m.log.head()
    const res = await exchange(raw("POST", "/jobs", [["Content-Type", "application/json"]], "{", 2))
    if (res.kind === "answered") expect(res.status).toBe(400)
    // Without a Content-Type it is refused on its headers (415), before the body is waited for.
    const untyped = await exchange(raw("POST", "/jobs", [], "{", 2))
    expect(untyped.kind === "answered" && untyped.status).toBe(415)
    expect(unexpectedErrors).toEqual([])
    expect(await m.log.head()).toBe(before)
  })

  it("a DELETE whose body framing is broken (Transfer-Encoding other than chunked, bad chunks) is a 400 and is not applied", async () => {
    await send("PUT", "/hosts/reg-framing?id=agent-reg")
    const before = await m.log.head()
    for (const [te, body] of [["gzip", '{"a":1}'], ["chunked", 'zz\r\n{"a":1}\r\n0\r\n\r\n']] as const) {
      const res = answered(await exchange(raw("DELETE", "/hosts/reg-framing", [["Content-Type", "application/json"], ["Transfer-Encoding", te]], body, "none")))
      expect(res.status).toBe(400)
    }
    expect(await m.log.head()).toBe(before)
    expect(m.projection.model.state.hosts.has("reg-framing" as HostName)).toBe(true)
  })

  it("a chunked body without a Content-Type: empty, it is no body (Node's client sends one so); with bytes, it must say it is JSON (415, not applied)", async () => {
    const empty = answered(await exchange(raw("PUT", "/hosts/reg-chunked?id=agent-reg", [["Transfer-Encoding", "chunked"]], "0\r\n\r\n", "none")))
    expect([empty.status, JSON.parse(empty.body).status]).toEqual([200, "OK"])
    const before = await m.log.head()
    const untyped = answered(await exchange(raw("DELETE", "/hosts/reg-chunked", [["Transfer-Encoding", "chunked"]], '7\r\n{"a":1}\r\n0\r\n\r\n', "none")))
    expect([untyped.status, JSON.parse(untyped.body).status]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"])
    expect(await m.log.head()).toBe(before)
    expect(m.projection.model.state.hosts.has("reg-chunked" as HostName)).toBe(true)
  })

  it("a complete request followed by bytes Node cannot parse gets its own answer, not Node's 400", async () => {
    await send("PUT", "/hosts/reg-tail?id=agent-reg")
    // No Content-Length, so "x" is data after `Connection: close`.
    const deregistered = answered(await exchange(raw("DELETE", "/hosts/reg-tail", [], "x", "none")))
    expect([deregistered.status, JSON.parse(deregistered.body).status]).toEqual([200, "OK"])
    expect(m.projection.model.state.hosts.has("reg-tail" as HostName)).toBe(false)
    // A Content-Length shorter than the body: the rest is a second request that does not parse.
    const registered = answered(await exchange(raw("PUT", "/hosts/reg-tail?id=agent-reg", [], "tail", 0)))
    expect([registered.status, JSON.parse(registered.body).status]).toEqual([200, "OK"])
    expect(m.projection.model.state.hosts.has("reg-tail" as HostName)).toBe(true)
  })

  it("a Helios-Command-Id already used by another command is refused (409), not answered as that command's success", async () => {
    await send("PUT", "/hosts/reg-reuse?id=agent-reg")
    const job = (await send("POST", "/jobs", { id: "reuse:v1", image: "busybox" })).id!
    const removed = await send("DELETE", `/jobs/${job}`, undefined, { "Helios-Command-Id": "reg-reuse-1" })
    await send("POST", "/jobs", { id: "reuse:v1", image: "busybox" })
    const before = await m.log.head()
    const headers: Array<[string, string]> = [["Content-Type", "application/json"], ["Helios-Command-Id", "reg-reuse-1"]]
    const deploy = answered(await exchange(raw("PUT", `/hosts/reg-reuse/jobs/${job}`, headers, '{"goal":"START"}', "actual")))
    expect([deploy.status, JSON.parse(deploy.body).status]).toEqual([409, "COMMAND_ID_REUSED"])
    expect(await m.log.head()).toBe(before)
    expect(m.projection.model.state.deployments.get("reg-reuse" as HostName)?.has(job) ?? false).toBe(false)
    // The command the id was first used for is still answered with its first outcome.
    const retried = answered(await exchange(raw("DELETE", `/jobs/${job}`, headers.slice(1), "", "none")))
    expect(JSON.parse(retried.body)).toMatchObject({ status: "OK", position: removed.position })
  })
})

describe("API fuzz against a live master on real ZooKeeper", () => {
  it(
    `generated requests (seed ${SEED}, ${RUNS} runs): no 5xx, no crash, a 4xx writes nothing, a 2xx writes what it answered`,
    async () => {
      console.log(`api fuzz: seed ${SEED}, ${RUNS} requests (HELIOS_FUZZ_SEED, HELIOS_FUZZ_RUNS)`)
      const started = Date.now()
      Object.assign(stats, { requests: 0, byStatus: new Map(), writes: 0, eventsWritten: 0 })
      await fc.assert(
        fc.asyncProperty(requestSpecArb, async (spec) => {
          await exchange(renderRequest(spec, await worldNow()))
        }),
        { seed: SEED, numRuns: RUNS },
      )
      // Invariant 2: still up, no unexpected error, and the read model is a replay of the log.
      const health = await fetch(`${m.url}/healthz`)
      expect(health.status).toBe(200)
      expect(unexpectedErrors).toEqual([])
      const head = await m.log.head()
      expect(await m.projection.waitFor(head, 10_000)).toBe(true)
      const replay = foldReadModel(await m.log.read(position(0), 1_000_000)).state
      expect(canonical(m.projection.model.state)).toBe(canonical(replay))
      console.log(
        `api fuzz: ${stats.requests} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; answers ${JSON.stringify(Object.fromEntries([...stats.byStatus].sort()))}; ` +
          `${stats.writes} writes, ${stats.eventsWritten} events, log head ${head}, ${m.projection.model.state.jobs.size} jobs`,
      )
    },
    Math.max(120_000, RUNS * 100),
  )
})
