import { request } from "node:http"
import { afterAll, describe, expect, it } from "vitest"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot } from "../test/services.ts"

/*
 * Issue 13's attacks, one named test each, against a real master on the run's real ZooKeeper.
 * Each failed on the main branch before the fix it names.
 */

const masters: TestMaster[] = []
afterAll(async () => {
  for (const m of masters) await m.stop()
})
const master = async (name: string, options: Parameters<typeof startTestMaster>[3] = {}) => {
  const m = await startTestMaster(uniqueRoot(name), name, undefined, options)
  masters.push(m)
  return m
}

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
})
