import { request } from "node:http"
import { afterAll, describe, expect, it } from "vitest"
import { envelope, host as hostName } from "../test/event-fixtures.ts"
import { waitFor } from "../test/services.ts"
import { envelopeOf } from "../core/envelope.ts"
import { Principals } from "./auth.ts"
import { position } from "../core/ids.ts"
import { ZK, ZkClient, zkCode } from "../log/zk-client.ts"
import { aclPolicy, zkDigest } from "../log/zk-acl.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { uniqueRoot as freshRoot, zkConnect } from "../test/services.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot } from "../test/services.ts"
import { DEFAULT_CONTAINER_POLICY } from "../core/container-policy.ts"

/*
 * Issue 13's attacks, one named test each, against a real master on the run's real ZooKeeper.
 * Each failed on the main branch before the fix it names.
 */

const masters: TestMaster[] = []
const cleanups: Array<() => Promise<unknown> | unknown> = []
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
  for (const m of masters) await m.stop()
})
const master = async (name: string, options: Parameters<typeof startTestMaster>[3] = {}) => {
  const m = await startTestMaster(uniqueRoot(name), name, undefined, options)
  masters.push(m)
  return m
}

/** Principals from [name, capabilities]; each one's token is `token-<name>-0123456789`. */
const principals = (entries: ReadonlyArray<readonly [string, ReadonlyArray<string>]>): Principals => {
  const p = Principals.of(entries.map(([name, capabilities]) => ({ name, token: tokenOf(name), capabilities })))
  if (p instanceof Error) throw p
  return p
}
const tokenOf = (name: string) => `token-${name}-0123456789`
const bearer = (name: string) => ({ Authorization: `Bearer ${tokenOf(name)}` })

/** A fact as an agent posts it to the relay. */
const agentFact = (event: Parameters<typeof envelopeOf>[0]) =>
  envelopeOf(event, { at: 1_700_000_000_000, actor: { kind: "agent", name: "agent-1" }, commandId: `agent-1-${Math.random().toString(36).slice(2)}` })

const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
  const started = performance.now()
  const value = await f()
  return [value, performance.now() - started]
}

/** A request with headers fetch would not send as given (Host). */
const rawRequest = (url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: any }> =>
  new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        let parsed: unknown = text
        try {
          parsed = JSON.parse(text)
        } catch {}
        resolve({ status: res.statusCode!, headers: res.headers, body: parsed })
      })
    })
    req.on("error", reject)
    req.end(body)
  })

/** A job that mounts the host's root: what a hostile page would create. */
const rootMount = { id: "evil:v1", image: "busybox:latest", volumes: { "/host": "/" } }

describe("security (issue 13)", () => {
  it("ReDoS: a catastrophic namePattern or hostPattern against a 40-character host answers in under 100 ms", async () => {
    const m = await master("sec-redos")
    const host = "a".repeat(39) + "_"
    expect((await m.call("PUT", `/hosts/${host}?id=agent-1`)).status).toBe(200)
    const id = (await m.call("POST", "/jobs", { id: "web:v1", image: "busybox:latest" })).body.id
    expect((await m.call("PUT", `/hosts/${host}/jobs/${id}`, { goal: "START" })).status).toBe(200)
    const evil = encodeURIComponent("^([a-z0-9]+)+$")
    const [hosts, hostsMs] = await timed(() => m.call("GET", `/hosts?namePattern=${evil}`))
    expect([hosts.status, hosts.body]).toEqual([200, []])
    expect(hostsMs).toBeLessThan(100)
    const [jobs, jobsMs] = await timed(() => m.call("GET", `/jobs?hostPattern=${evil}`))
    expect([jobs.status, jobs.body]).toEqual([200, {}])
    expect(jobsMs).toBeLessThan(100)
    // The same pattern still finds the hosts it matches; backreferences are refused, naming the field.
    expect((await m.call("GET", `/hosts?namePattern=${encodeURIComponent("^([a-z]+)+_$")}`)).body).toEqual([host])
    const backref = await m.call("GET", `/hosts?namePattern=${encodeURIComponent("^(a)\\1")}`)
    expect([backref.status, backref.body.status]).toEqual([400, "INVALID_PATTERN"])
    expect(backref.body.errors[0]).toMatch(/^namePattern: .*backreferences/)
  })

  it("cross-origin read: no answer carries a wildcard CORS header; a foreign Origin is refused, an allowed one gets its own origin back", async () => {
    const m = await master("sec-cors-read", { corsOrigins: ["https://dash.example.com"] })
    expect((await m.call("POST", "/jobs", { id: "web:v1", image: "busybox:latest", env: { SECRET: "x" } })).status).toBe(200)
    const plain = await m.call("GET", "/jobs")
    expect(plain.status).toBe(200)
    expect(plain.headers.get("access-control-allow-origin")).toBeNull()
    const foreign = await m.call("GET", "/jobs", undefined, { Origin: "https://evil.example" })
    expect([foreign.status, foreign.body.status]).toEqual([403, "FORBIDDEN_ORIGIN"])
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull()
    expect(JSON.stringify(foreign.body)).not.toContain("SECRET")
    const allowed = await m.call("GET", "/jobs", undefined, { Origin: "https://dash.example.com" })
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://dash.example.com")
    const preflight = await m.call("OPTIONS", "/jobs", undefined, { Origin: "https://dash.example.com", "Access-Control-Request-Method": "POST" })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST")
    const foreignPreflight = await m.call("OPTIONS", "/jobs", undefined, { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" })
    expect(foreignPreflight.status).toBe(403)
  })

  it("cross-origin write: a text/plain or form POST /jobs (a browser's simple request) is refused with 415 and nothing is written", async () => {
    const m = await master("sec-cors-write")
    const before = m.projection.position
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const r = await m.call("POST", "/jobs", JSON.stringify(rootMount), { "content-type": type, Origin: "https://evil.example" })
      expect([r.status, r.body.status], type).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"])
      expect(r.body.errors[0]).toMatch(/^Content-Type: /)
    }
    // Even without Origin (a browser that omits it), and a JSON write from a foreign page is refused too.
    expect((await m.call("POST", "/jobs", JSON.stringify(rootMount), { "content-type": "text/plain" })).status).toBe(415)
    const json = await m.call("POST", "/jobs", { id: "web:v1", image: "busybox:latest" }, { Origin: "https://evil.example" })
    expect([json.status, json.body.status]).toEqual([403, "FORBIDDEN_ORIGIN"])
    expect(m.projection.position).toBe(before)
    expect((await m.call("GET", "/jobs")).body).toEqual({})
    // A DELETE without a body needs no Content-Type; the CLI's JSON writes go through.
    const id = (await m.call("POST", "/jobs", { id: "web:v1", image: "busybox:latest" })).body.id
    expect((await rawRequest(`${m.url}/jobs/${id}`, "DELETE", {})).status).toBe(200)
  })

  it("DNS rebinding: a loopback-bound master refuses a Host that is not one of its names with 421, nothing written", async () => {
    const m = await master("sec-rebind", { allowedHosts: ["helios.internal"] })
    const port = new URL(m.url).port
    const before = m.projection.position
    const body = JSON.stringify({ id: "web:v1", image: "busybox:latest" })
    for (const host of [`evil.example:${port}`, "evil.example", `127.0.0.1.evil.example:${port}`]) {
      const read = await rawRequest(`${m.url}/jobs`, "GET", { host })
      expect([read.status, read.body.status], host).toEqual([421, "MISDIRECTED_HOST"])
      const write = await rawRequest(`${m.url}/jobs`, "POST", { host, "content-type": "application/json" }, body)
      expect(write.status, host).toBe(421)
    }
    expect(m.projection.position).toBe(before)
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", `helios.internal:${port}`, `[::1]:${port}`])
      expect((await rawRequest(`${m.url}/jobs`, "GET", { host })).status, host).toBe(200)
  })

  it("root bind mount, docker.sock, unconfined and host network: refused at creation with a 400 naming the field and the flag, nothing written", async () => {
    const m = await master("sec-policy")
    const before = m.projection.position
    const attacks: Array<[Record<string, unknown>, string, string]> = [
      [{ volumes: { "/host": "/" } }, "volumes./host", "--allow-docker-socket"],
      [{ volumes: { "/etc-copy": "/etc" } }, "volumes./etc-copy", "--allow-bind-mount /etc"],
      [{ volumes: { "/var/run/docker.sock": "/var/run/docker.sock" } }, "volumes./var/run/docker.sock", "--allow-docker-socket"],
      [{ securityOpt: ["seccomp=unconfined"] }, "securityOpt.0", "--allow-unconfined"],
      [{ securityOpt: ["no-new-privileges", "apparmor=unconfined"] }, "securityOpt.1", "--allow-unconfined"],
      [{ networkMode: "host" }, "networkMode", "--allow-host-network"],
      [{ networkMode: "container:abc" }, "networkMode", "--allow-host-network"],
      [{ runtime: "runsc-debug" }, "runtime", "--allow-runtime runsc-debug"],
      [{ addCapabilities: ["SYS_ADMIN"] }, "addCapabilities", "--whitelisted-capability SYS_ADMIN"],
    ]
    for (const [extra, field, flag] of attacks) {
      const r = await m.call("POST", "/jobs", { id: "evil:v1", image: "busybox:latest", ...extra })
      expect([r.status, r.body.status], JSON.stringify(extra)).toEqual([400, "INVALID_JOB_DEFINITION"])
      expect(r.body.fieldErrors.map((e: { field: string }) => e.field)).toEqual([field])
      expect(r.body.errors[0]).toContain(flag)
    }
    expect(m.projection.position).toBe(before)
    // What Docker does by default is still fine: anonymous and named volumes, bridge, runc.
    const plain = await m.call("POST", "/jobs", { id: "ok:v1", image: "busybox:latest", volumes: { "/scratch": "", "/cache": "cache" }, networkMode: "bridge", runtime: "runc" })
    expect(plain.status).toBe(200)

    // Each flag allows what it names.
    const open = await master("sec-policy-open", {
      containerPolicy: { allowedBindMounts: ["/srv"], allowDockerSocket: true, allowUnconfined: true, allowHostNetwork: true, allowedRuntimes: ["runsc"] },
      whitelistedCapabilities: ["NET_ADMIN"],
    })
    const allowed = await open.call("POST", "/jobs", {
      id: "allowed:v1",
      image: "busybox:latest",
      volumes: { "/data": "/srv/data", "/var/run/docker.sock": "/var/run/docker.sock" },
      securityOpt: ["seccomp=unconfined"],
      networkMode: "host",
      runtime: "runsc",
      addCapabilities: ["NET_ADMIN"],
    })
    expect([allowed.status, allowed.body.errors]).toEqual([200, []])
    expect((await open.call("POST", "/jobs", { id: "root:v1", image: "busybox:latest", volumes: { "/host": "/" } })).status).toBe(400)
  })

  it("a job created under a looser policy (another master's) is neither deployed by hand nor rolled out by a stricter master: 400 naming the field, nothing written", async () => {
    const root = uniqueRoot("sec-looser")
    const loose = await startTestMaster(root, "sec-looser-open", undefined, { containerPolicy: { ...DEFAULT_CONTAINER_POLICY, allowUnconfined: true } })
    masters.push(loose)
    const strict = await startTestMaster(root, "sec-looser-strict")
    masters.push(strict)
    const created = await loose.call("POST", "/jobs", { id: "loose:v1", image: "busybox:latest", securityOpt: ["seccomp=unconfined"] })
    expect(created.status).toBe(200)
    expect((await loose.call("POST", "/deployment-group", { name: "g-loose", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] })).status).toBe(200)
    await waitFor(() => (strict.projection.position >= loose.projection.position ? true : undefined), { what: "the strict master caught up" })
    const before = strict.projection.position
    const deployed = await strict.call("PUT", `/hosts/sec-looser-h1/jobs/${created.body.id}`, { goal: "START" })
    const rolled = await strict.call("POST", "/deployment-group/g-loose/rolling-update", { job: created.body.id })
    for (const r of [deployed, rolled]) {
      expect([r.status, r.body.status]).toEqual([400, "INVALID_JOB_DEFINITION"])
      expect(JSON.stringify(r.body)).toContain("securityOpt.0")
    }
    expect(strict.projection.position).toBe(before)
    expect((await loose.call("POST", "/deployment-group/g-loose/rolling-update", { job: created.body.id })).status).toBe(200)
  })

  it("per-job token: never returned by a read (jobs, job, statuses, host status, history, events, state, deployment groups)", async () => {
    const m = await master("sec-token-read")
    const secret = "s3cret-token-value"
    const h = hostName("sec-token-h1")
    expect((await m.call("PUT", `/hosts/${h}?id=agent-1`)).status).toBe(200)
    const created = await m.call("POST", "/jobs", { id: "guarded:v1", image: "busybox:latest", token: secret, rolloutOptions: { token: secret } })
    expect(created.status).toBe(200)
    const id = created.body.id
    expect((await m.call("PUT", `/hosts/${h}/jobs/${id}?token=${secret}`, { goal: "START" })).status).toBe(200)
    await m.log.append([envelope({ _tag: "TaskStateChanged", jobId: id, host: h, state: "RUNNING", goal: "START", throttled: "NO", containerId: "c1" })])
    await waitFor(async () => ((await m.call("GET", `/jobs/${id}/status`)).body.taskStatuses?.[h] ? true : undefined))
    // A deployment group rolled out with the token: its reads do not show it either.
    expect((await m.call("POST", "/deployment-group", { name: "g1", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] })).status).toBe(200)
    const rolled = await m.call("POST", "/deployment-group/g1/rolling-update", { job: id, rolloutOptions: { token: secret } })
    expect(rolled.status).toBe(200)
    const planned = await m.call("POST", "/deployment-group/g1/plan", { job: id, rolloutOptions: { token: secret } })
    expect(planned.status).toBe(200)
    const reads = [
      planned,
      await m.call("GET", "/deployment-group/g1"),
      await m.call("GET", "/deployment-group/g1/status"),
      await m.call("GET", "/deployment-group/g1/rollouts"),
      await m.call("GET", "/deployment-group/g1/rollouts/latest/replay"),
      await m.call("GET", "/jobs"),
      await m.call("GET", `/jobs/${id}`),
      await m.call("GET", `/jobs/${id}/status`),
      await m.call("POST", "/jobs/statuses", [id]),
      await m.call("GET", `/hosts/${h}/status`),
      await m.call("POST", "/hosts/statuses", [h]),
      await m.call("GET", `/history/jobs/${id}`),
      await m.call("GET", "/events"),
      await m.call("GET", "/state"),
    ]
    for (const r of reads) {
      expect(r.status).toBe(200)
      expect(typeof r.body === "string" ? r.body : JSON.stringify(r.body)).not.toContain(secret)
    }
    expect((await m.call("GET", `/jobs/${id}`)).body).toMatchObject({ id, image: "busybox:latest" })
    expect((await m.call("GET", `/jobs/${id}`)).body.token).toBeUndefined()
    // The token still guards writes.
    expect((await m.call("DELETE", `/hosts/${h}/jobs/${id}?token=wrong`)).status).toBe(403)
  })

  it("deregister bypass: DELETE /hosts/H is refused (403 naming the token) while H runs a token-protected job, nothing written", async () => {
    const m = await master("sec-deregister")
    const h = hostName("sec-dereg-h1")
    expect((await m.call("PUT", `/hosts/${h}?id=agent-1`)).status).toBe(200)
    const guarded = (await m.call("POST", "/jobs", { id: "guarded:v1", image: "busybox:latest", token: "t1" })).body.id
    const open = (await m.call("POST", "/jobs", { id: "open:v1", image: "busybox:latest" })).body.id
    expect((await m.call("PUT", `/hosts/${h}/jobs/${guarded}?token=t1`, { goal: "START" })).status).toBe(200)
    expect((await m.call("PUT", `/hosts/${h}/jobs/${open}`, { goal: "START" })).status).toBe(200)
    const before = m.projection.position
    for (const query of ["", "?token=wrong", "?token="]) {
      const r = await m.call("DELETE", `/hosts/${h}${query}`)
      expect([r.status, r.body.status], query).toEqual([403, "FORBIDDEN"])
      expect(r.body.errors[0]).toMatch(/^token: .*guarded:v1/)
    }
    expect(m.projection.position).toBe(before)
    expect((await m.call("GET", "/hosts")).body).toEqual([h])
    // With the token (and extra ones for other jobs), the host goes, undeploying both.
    const ok = await m.call("DELETE", `/hosts/${h}?token=other&token=t1`)
    expect([ok.status, ok.body.status]).toEqual([200, "OK"])
    expect((await m.call("GET", "/hosts")).body).toEqual([])
  })

  it("forged ?user=: with authentication on, the actor recorded is the authenticated principal, not ?user=", async () => {
    const m = await master("sec-user", { principals: principals([["alice", ["read", "jobs:write"]], ["proxy", ["read", "jobs:write", "users:name"]]]) })
    const forged = await m.call("POST", "/jobs?user=root", { id: "web:v1", image: "busybox:latest" }, bearer("alice"))
    expect(forged.status).toBe(200)
    const named = await m.call("POST", "/jobs?user=bob", { id: "web:v2", image: "busybox:latest" }, bearer("proxy"))
    expect(named.status).toBe(200)
    const actor = async (id: string) => (await m.call("GET", `/history/jobs/${id}`, undefined, bearer("alice"))).body.audit[0].actor
    expect(await actor(forged.body.id)).toBe("user:alice")
    expect(await actor(named.body.id)).toBe("user:bob@proxy")
    // A name that would be recorded is checked as without authentication: no control characters.
    const before = m.projection.position
    const bad = await m.call("POST", `/jobs?user=${encodeURIComponent("bob\nroot")}`, { id: "web:v3", image: "busybox:latest" }, bearer("proxy"))
    expect([bad.status, JSON.stringify(bad.body.errors)]).toEqual([400, expect.stringContaining("user")])
    expect(m.projection.position).toBe(before)
  })

  it("forged agent facts for another host: an agent's credential posts only its own host's facts (403, nothing written)", async () => {
    const m = await master("sec-agent-facts", { principals: principals([["agent-h1", ["agent:sec-h1"]]]) })
    const before = m.projection.position
    const forged = await m.call("POST", "/hosts/sec-h2/events", { events: [agentFact({ _tag: "HostRegistered", host: hostName("sec-h2"), agentId: "agent-1" as never })] }, bearer("agent-h1"))
    expect([forged.status, forged.body.status]).toEqual([403, "PERMISSION_DENIED"])
    expect(forged.body.message).toMatch(/agent:sec-h2/)
    const anonymous = await m.call("POST", "/hosts/sec-h1/events", { events: [agentFact({ _tag: "HostRegistered", host: hostName("sec-h1"), agentId: "agent-1" as never })] })
    expect([anonymous.status, anonymous.body.status]).toEqual([401, "UNAUTHORIZED"])
    expect(m.projection.position).toBe(before)
    const own = await m.call("POST", "/hosts/sec-h1/events", { events: [agentFact({ _tag: "HostRegistered", host: hostName("sec-h1"), agentId: "agent-1" as never })] }, bearer("agent-h1"))
    expect(own.status).toBe(200)
    // The agent's credential is no user's: it reads and commands nothing.
    expect((await m.call("GET", "/jobs", undefined, bearer("agent-h1"))).status).toBe(403)
  })

  it("with authentication on, a request without a valid token is refused on its headers: its body is never waited for (a stranger cannot hold the master reading 512 KiB bodies)", async () => {
    const m = await master("sec-body-after-auth", { principals: principals([["alice", ["read", "jobs:write"]]]) })
    // Headers announcing a body that never comes: answered at once, not after the body.
    const refused = (headers: Record<string, string>, method = "POST", length = 100_000) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${m.url}/jobs`, { method, headers: { "content-type": "application/json", "content-length": String(length), ...headers } }, (res) => {
          resolve(res.statusCode!)
          res.resume()
          req.destroy()
        })
        req.on("error", (e) => (req.destroyed ? undefined : reject(e)))
        req.setTimeout(10_000, () => reject(new Error("no answer in 10 s: the master waited for the body")))
        req.flushHeaders()
      })
    expect(await refused({})).toBe(401)
    expect(await refused({ Authorization: "Bearer not-a-token-0123456789" })).toBe(401)
    // Past the body limit (it used to be drained into memory, 16 MiB at a time, before asking who sent it).
    expect(await refused({}, "POST", 1_000_000)).toBe(401)
    // OPTIONS passes authentication (preflights carry no credentials), but its body is never read.
    expect(await refused({}, "OPTIONS")).toBeGreaterThanOrEqual(200)
    // Authenticated, the body is read as before.
    expect((await m.call("POST", "/jobs", { id: "web:v1", image: "busybox:latest" }, bearer("alice"))).status).toBe(200)
  })

  it("with authentication on, the API's description (/openapi.json, /docs) is public; the fleet's data is not", async () => {
    const m = await master("sec-docs", { principals: principals([["alice", ["read"]]]) })
    const description = await m.call("GET", "/openapi.json")
    expect(description.status).toBe(200)
    expect(description.body.openapi).toMatch(/^3\./)
    expect((await m.call("GET", "/docs")).status).toBe(200)
    expect((await m.call("GET", "/jobs")).status).toBe(401)
  })

  it("capability matrix: every endpoint × {no token, wrong token, each capability}: only the intended cells pass authorization, a refused one writes nothing", async () => {
    const caps = [["reader", ["read"]], ["writer", ["jobs:write"]], ["deployer", ["deploy"]], ["admin", ["hosts:admin"]], ["grouper", ["groups:write"]], ["agent", ["agent:mx-h1"]], ["root", ["*"]]] as const
    const m = await master("sec-matrix", { principals: principals(caps) })
    const root = bearer("root")
    expect((await m.call("PUT", "/hosts/mx-h1?id=agent-1", undefined, root)).status).toBe(200)
    const id = (await m.call("POST", "/jobs", { id: "web:v1", image: "busybox:latest" }, root)).body.id
    expect((await m.call("PUT", `/hosts/mx-h1/jobs/${id}`, { goal: "START" }, root)).status).toBe(200)
    const absent = `nope:v1:${"0".repeat(40)}`
    const fact = { events: [agentFact({ _tag: "HostWentUp", host: hostName("mx-h1"), agentId: "agent-1" as never })] }
    // [method, path, body, the capability that may (undefined: public, null: none)]
    const endpoints: ReadonlyArray<readonly [string, string, unknown, string | undefined | null]> = [
      ["GET", "/healthz", undefined, undefined],
      ["GET", "/version", undefined, undefined],
      ["GET", "/version/check?client=0.1.0", undefined, undefined],
      ["GET", "/jobs", undefined, "read"],
      ["POST", "/jobs", { id: "web:v1", image: "busybox:latest" }, "jobs:write"],
      ["POST", "/jobs/statuses", [id], "read"],
      ["GET", `/jobs/${id}`, undefined, "read"],
      ["DELETE", `/jobs/${id}`, undefined, "jobs:write"],
      ["GET", `/jobs/${id}/status`, undefined, "read"],
      ["GET", "/hosts", undefined, "read"],
      ["POST", "/hosts/statuses", ["mx-h1"], "read"],
      ["PUT", "/hosts/mx-h2?id=agent-2", undefined, "hosts:admin"],
      ["DELETE", "/hosts/mx-h3", undefined, "hosts:admin"],
      ["GET", "/hosts/mx-h1/status", undefined, "read"],
      ["POST", "/hosts/mx-h1/events", fact, "agent:mx-h1"],
      ["GET", `/hosts/mx-h1/jobs/${id}`, undefined, "read"],
      ["PUT", `/hosts/mx-h1/jobs/${id}`, { goal: "START" }, "deploy"],
      ["PATCH", `/hosts/mx-h1/jobs/${id}`, { goal: "START" }, "deploy"],
      ["DELETE", `/hosts/mx-h1/jobs/${absent}`, undefined, "deploy"],
      ["GET", `/history/jobs/${id}`, undefined, "read"],
      ["GET", "/state", undefined, "read"],
      ["GET", "/events", undefined, "read"],
      ["GET", "/masters", undefined, "read"],
      ["GET", "/projection/digest", undefined, "read"],
      ["GET", "/deployment-group", undefined, "read"],
      ["POST", "/deployment-group", { name: "g1", hostSelectors: [] }, "groups:write"],
      ["GET", "/deployment-group/g1", undefined, "read"],
      ["GET", "/deployment-group/g1/status", undefined, "read"],
      ["GET", "/deployment-group/g1/rollouts", undefined, "read"],
      ["GET", "/deployment-group/g1/rollouts/latest/replay", undefined, "read"],
      ["POST", "/deployment-group/g1/plan", { job: id }, "groups:write"],
      ["POST", "/deployment-group/g1/rolling-update", { job: absent }, "groups:write"],
      ["POST", "/deployment-group/g1/promote", undefined, "groups:write"],
      ["POST", "/deployment-group/g1/rollback", {}, "groups:write"],
      ["POST", "/deployment-group/g1/stop", undefined, "groups:write"],
      ["DELETE", "/deployment-group/g-none", undefined, "groups:write"],
      ["GET", "/ui", undefined, undefined],
      ["GET", "/ui/app.js", undefined, undefined],
      ["GET", "/metrics", undefined, "read"],
      ["GET", "/no-such-endpoint", undefined, null],
    ]
    const cells: string[] = []
    for (const [method, path, body, needed] of endpoints) {
      const who: ReadonlyArray<readonly [string, Record<string, string>, ReadonlyArray<string>]> = [
        ["no token", {}, []],
        ["wrong token", { Authorization: "Bearer not-a-token-of-anyone" }, []],
        ...caps.map(([name, c]) => [name, bearer(name), c] as const),
      ]
      for (const [name, headers, held] of who) {
        const before = m.projection.position
        const r = await m.call(method, path, body, headers)
        const passed = r.status !== 401 && r.status !== 403 || !["UNAUTHORIZED", "PERMISSION_DENIED"].includes(r.body?.status)
        const intended = needed === undefined || (needed !== null && (held.includes(needed) || held.includes("*")))
        cells.push(`${method} ${path} as ${name}: ${passed ? "passes" : "refused"}${passed === intended ? "" : `, intended ${intended ? "passes" : "refused"} (HTTP ${r.status})`}`)
        // A write that passed lands in the projection a moment after its answer: wait, so the next cell's "before" is settled.
        const written = Number(r.headers.get("helios-position"))
        if (passed && written > 0) await m.projection.waitFor(written, 10_000)
        if (!passed) {
          expect(r.status, `${method} ${path} as ${name}`).toBe(headers.Authorization === undefined || name === "wrong token" ? 401 : 403)
          // Nothing written by the request (the leader's own housekeeping may write meanwhile: actor master).
          const since = (await m.log.read(position(before), 100)).filter((e) => e.envelope.actor.kind !== "master")
          expect(since.map((e) => e.envelope.event._tag), `${method} ${path} as ${name} wrote`).toEqual([])
        }
      }
    }
    expect(cells.filter((c) => c.includes("intended"))).toEqual([])
    expect(cells.length).toBe(endpoints.length * (caps.length + 2))
  })

  it("deploy limited by job and host globs: deploy:web:*@eu-* deploys web jobs on eu hosts only", async () => {
    const m = await master("sec-deploy-globs", { principals: principals([["root", ["*"]], ["eu-web", ["deploy:web:*@eu-*"]]]) })
    const root = bearer("root")
    for (const h of ["eu-1", "us-1"]) expect((await m.call("PUT", `/hosts/${h}?id=agent-${h}`, undefined, root)).status).toBe(200)
    const web = (await m.call("POST", "/jobs", { id: "web:v1", image: "busybox:latest" }, root)).body.id
    const db = (await m.call("POST", "/jobs", { id: "db:v1", image: "busybox:latest" }, root)).body.id
    expect((await m.call("PUT", `/hosts/eu-1/jobs/${web}`, { goal: "START" }, bearer("eu-web"))).status).toBe(200)
    const us = await m.call("PUT", `/hosts/us-1/jobs/${web}`, { goal: "START" }, bearer("eu-web"))
    expect([us.status, us.body.status]).toEqual([403, "PERMISSION_DENIED"])
    expect(us.body.message).toMatch(/eu-web may not PUT .*needs deploy \(job web:v1:[0-9a-f]+ on host us-1\)/)
    expect((await m.call("PUT", `/hosts/eu-1/jobs/${db}`, { goal: "START" }, bearer("eu-web"))).status).toBe(403)
    expect((await m.call("DELETE", `/hosts/eu-1/jobs/${web}`, undefined, bearer("eu-web"))).status).toBe(200)
  })

  it("unauthenticated ZooKeeper read and write: with ZooKeeper ACLs an unauthenticated client gets NoAuth for every read and write; an agent's identity reads but appends nothing", async () => {
    const masterAuth = { user: "helios-master", password: "master-password-0123456789" }
    const agentAuth = { user: "helios-agent", password: "agent-password-0123456789" }
    const ids = { masters: zkDigest(masterAuth.user, masterAuth.password), agents: zkDigest(agentAuth.user, agentAuth.password) }
    const root = freshRoot("sec-zk-acl")
    const m = await startTestMaster(root, "sec-zk-acl", undefined, { zkOptions: { auth: masterAuth, aclFor: aclPolicy(root, ids) }, snapshotEveryEvents: 1, packIntervalMs: 100 })
    masters.push(m)
    const h = hostName("sec-zk-h1")
    expect((await m.call("PUT", `/hosts/${h}?id=agent-1`)).status).toBe(200)
    const id = (await m.call("POST", "/jobs", { id: "web:v1", image: "busybox:latest", env: { SECRET: "x" }, token: "job-token" })).body.id
    expect((await m.call("PUT", `/hosts/${h}/jobs/${id}?token=job-token`, { goal: "START" })).status).toBe(200)
    const before = m.projection.position
    const paths = zkPaths(root)
    const segment = paths.log.segment(0)
    const entry = `${segment}/${(await m.zk.getChildren(segment)).sort()[0]}`
    const next = paths.log.entry(0, before + 1)
    const stream = paths.stream(`job:${id}`)

    const refusal = async (what: string, op: () => Promise<unknown>) => {
      const code = await op().then(() => "allowed", (e: unknown) => zkCode(e))
      return `${what}: ${code === ZK.Exception.NO_AUTH ? "NoAuth" : code}`
    }
    const anonymous = await ZkClient.connect(zkConnect())
    cleanups.push(() => anonymous.close())
    const anonymousOps: Array<[string, () => Promise<unknown>]> = [
      ["list the root", () => anonymous.getChildren(root)],
      ["list the log", () => anonymous.getChildren(paths.log.base)],
      ["read an event", () => anonymous.getData(entry)],
      ["read a stream version", () => anonymous.getData(stream)],
      ["read the host stream", () => anonymous.getChildren(paths.hostStream(h).base)],
      ["list the masters", () => anonymous.getChildren(paths.masters)],
      ["append at the next position", () => anonymous.create(next, Buffer.from("forged"))],
      ["bump a stream version", () => anonymous.setData(stream, Buffer.alloc(0))],
      ["overwrite an event", () => anonymous.setData(entry, Buffer.from("forged"))],
      ["create a node at the root", () => anonymous.create(`${root}/forged`)],
      ["announce a master", () => anonymous.create(paths.master("evil"), Buffer.from("http://evil.example"))],
      ["claim a host up", () => anonymous.create(paths.hostUp(h), Buffer.from("{}"))],
    ]
    const outcomes: string[] = []
    for (const [what, op] of anonymousOps) outcomes.push(await refusal(what, op))
    expect(outcomes).toEqual(anonymousOps.map(([what]) => `${what}: NoAuth`))

    // The agents' identity: reads the log and its host's stream, writes its host's facts, appends nothing.
    const agent = await ZkClient.connect(zkConnect(), { auth: agentAuth, aclFor: aclPolicy(root, ids) })
    cleanups.push(() => agent.close())
    expect((await agent.getData(entry)).data.length).toBeGreaterThan(0)
    expect((await agent.getChildren(paths.hostStream(h).base)).length).toBeGreaterThan(0)
    await agent.ensurePath(paths.hostInfo(h))
    await agent.setData(paths.hostInfo(h), Buffer.from("{}"))
    expect(await refusal("append", () => agent.create(next, Buffer.from("forged")))).toBe("append: NoAuth")
    expect(await refusal("bump", () => agent.setData(stream, Buffer.alloc(0)))).toBe("bump: NoAuth")
    expect(m.projection.position).toBe(before)
    // The masters' shared snapshot (jobs' env and tokens are in it) is theirs alone.
    await waitFor(async () => ((await m.log.sharedSnapshots.position()) ?? 0) >= before || undefined, { what: "the leader's shared snapshot" })
    const chunk = `${paths.sharedSnapshotChunks}/${(await m.zk.getChildren(paths.sharedSnapshotChunks))[0]}`
    const snapshotOps: Array<[string, () => Promise<unknown>]> = [
      ["read the shared snapshot", () => agent.getData(paths.sharedSnapshot)],
      ["read its chunk", () => agent.getData(chunk)],
      ["replace it", () => agent.setData(paths.sharedSnapshot, Buffer.from("{}"))],
      ["anonymously read its chunk", () => anonymous.getData(chunk)],
    ]
    const snapshotOutcomes: string[] = []
    for (const [what, op] of snapshotOps) snapshotOutcomes.push(await refusal(what, op))
    expect(snapshotOutcomes).toEqual(snapshotOps.map(([what]) => `${what}: NoAuth`))
    // What an archive run writes (helios-master archive, with the masters' identity): the archive
    // mark and a host stream's base. Agents read them (an agent starts from its base), write neither.
    await m.zk.create(paths.hostStreamBase(h), Buffer.from("{}"))
    await m.zk.create(paths.log.archived, Buffer.from("{}"))
    expect((await agent.getData(paths.hostStreamBase(h))).data.toString()).toBe("{}")
    expect((await agent.getData(paths.log.archived)).data.toString()).toBe("{}")
    const archiveOps: Array<[string, () => Promise<unknown>]> = [
      ["forge a host stream's base", () => agent.setData(paths.hostStreamBase(h), Buffer.from("forged"))],
      ["move the archive mark", () => agent.setData(paths.log.archived, Buffer.from("forged"))],
      ["anonymously read a base", () => anonymous.getData(paths.hostStreamBase(h))],
      ["anonymously read the archive mark", () => anonymous.getData(paths.log.archived)],
    ]
    const archiveOutcomes: string[] = []
    for (const [what, op] of archiveOps) archiveOutcomes.push(await refusal(what, op))
    expect(archiveOutcomes).toEqual(archiveOps.map(([what]) => `${what}: NoAuth`))
    // The master goes on writing.
    expect((await m.call("DELETE", `/hosts/${h}/jobs/${id}?token=job-token`)).status).toBe(200)
  })
})
