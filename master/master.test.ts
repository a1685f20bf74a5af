import { afterAll, describe, expect, it } from "vitest"
import { position } from "../core/ids.ts"
import { foldReadModel } from "../projections/read-model.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot } from "../test/services.ts"

const masters: TestMaster[] = []
afterAll(async () => {
  for (const m of masters) await m.stop()
})
const master = async (root: string, name: string) => {
  const m = await startTestMaster(root, name)
  masters.push(m)
  return m
}

const webJob = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  image: "helios-test/web:latest",
  ports: { http: { internalPort: 80, externalPort: 8080 } },
  ...extra,
})

describe("master HTTP API on real ZooKeeper", () => {
  it("create → deploy → set goal → undeploy → remove, with each Helios error case", async () => {
    const m = await master(uniqueRoot("flow"), "m-flow")
    const created = await m.call("POST", "/jobs?user=alice", webJob("web:v1"))
    expect(created.status).toBe(200)
    expect(created.body.status).toBe("OK")
    const id: string = created.body.id
    expect(id).toMatch(/^web:v1:[0-9a-f]{40}$/)
    expect(created.body.position).toBeGreaterThan(0)

    expect((await m.call("POST", "/jobs", webJob("web:v1"))).body.status).toBe("JOB_ALREADY_EXISTS")
    const wrongHash = await m.call("POST", "/jobs", webJob(`web:v1:${"a".repeat(40)}`))
    expect([wrongHash.status, wrongHash.body.status]).toEqual([400, "INVALID_JOB_DEFINITION"])
    const expired = await m.call("POST", "/jobs", webJob("web:v2", { expires: "2001-01-01T00:00:00.000Z" }))
    expect([expired.status, expired.body.status]).toEqual([400, "INVALID_JOB_DEFINITION"])
    expect(expired.body.errors.join(" ")).toMatch(/expires/)

    const noHost = await m.call("PUT", `/hosts/h1/jobs/${id}?user=alice`, { goal: "START" })
    expect([noHost.status, noHost.body.status]).toEqual([404, "HOST_NOT_FOUND"])
    expect((await m.call("PUT", "/hosts/h1?id=agent-1")).status).toBe(200)
    const noJob = await m.call("PUT", `/hosts/h1/jobs/nope:v1:${"0".repeat(40)}`, { goal: "START" })
    expect([noJob.status, noJob.body.status]).toEqual([404, "JOB_NOT_FOUND"])

    const deployed = await m.call("PUT", `/hosts/h1/jobs/${id}?user=alice`, { job: id, goal: "START" })
    expect([deployed.status, deployed.body.status]).toEqual([200, "OK"])
    const again = await m.call("PUT", `/hosts/h1/jobs/${id}`, { goal: "START" })
    expect([again.status, again.body.status]).toEqual([409, "JOB_ALREADY_DEPLOYED"])

    // Same static port on the same host: a conflict for tcp, not for udp (conflicts are per protocol).
    const other = (await m.call("POST", "/jobs", webJob("other:v1"))).body.id
    const clash = await m.call("PUT", `/hosts/h1/jobs/${other}`, { goal: "START" })
    expect([clash.status, clash.body.status]).toEqual([409, "PORT_CONFLICT"])
    const udp = (await m.call("POST", "/jobs", webJob("dns:v1", { ports: { dns: { internalPort: 53, externalPort: 8080, protocol: "udp" } } }))).body.id
    expect((await m.call("PUT", `/hosts/h1/jobs/${udp}`, { goal: "START" })).status).toBe(200)

    const guarded = (await m.call("POST", "/jobs", webJob("secret:v1", { token: "s3cret", ports: {} }))).body.id
    expect((await m.call("PUT", `/hosts/h1/jobs/${guarded}`, { goal: "START" })).status).toBe(403)
    expect((await m.call("PUT", `/hosts/h1/jobs/${guarded}?token=s3cret`, { goal: "START" })).status).toBe(200)
    expect((await m.call("DELETE", `/hosts/h1/jobs/${guarded}?token=wrong`)).body.status).toBe("FORBIDDEN")

    expect((await m.call("GET", `/hosts/h1/jobs/${id}`)).body.goal).toBe("START")
    const stopped = await m.call("PATCH", `/hosts/h1/jobs/${id}?user=bob`, { job: id, goal: "STOP" })
    expect(stopped.body.status).toBe("OK")
    expect((await m.call("GET", `/hosts/h1/jobs/${id}`)).body.goal).toBe("STOP")
    const mismatch = await m.call("PATCH", `/hosts/h1/jobs/${id}`, { job: other, goal: "START" })
    expect([mismatch.status, mismatch.body.status]).toEqual([400, "ID_MISMATCH"])

    const inUse = await m.call("DELETE", `/jobs/${id}`)
    expect([inUse.status, inUse.body.status]).toEqual([409, "STILL_IN_USE"])
    const status = await m.call("GET", `/jobs/${id}/status`)
    expect(Object.keys(status.body.deployments)).toEqual(["h1"])
    expect((await m.call("GET", "/jobs?q=web")).body[id].image).toBe("helios-test/web:latest")

    expect((await m.call("DELETE", `/hosts/h1/jobs/${id}?user=carol`)).body.status).toBe("OK")
    const twice = await m.call("DELETE", `/hosts/h1/jobs/${id}`)
    expect([twice.status, twice.body.status]).toEqual([404, "JOB_NOT_FOUND"]) // Helios's JobUndeployResponse name
    expect((await m.call("DELETE", `/jobs/${id}?user=carol`)).body.status).toBe("OK")
    expect((await m.call("GET", `/jobs/${id}`)).status).toBe(404)
    expect((await m.call("DELETE", `/jobs/${id}`)).status).toBe(404)

    const history = await m.call("GET", `/history/jobs/${id}`)
    expect(history.body.audit.map((e: any) => [e.type, e.actor])).toEqual([
      ["JobCreated", "user:alice"],
      ["JobDeployed", "user:alice"],
      ["DeploymentGoalChanged", "user:bob"],
      ["JobUndeployed", "user:carol"],
      ["JobRemoved", "user:carol"],
    ])
    const positions = history.body.audit.map((e: any) => e.position)
    expect(positions).toEqual([...positions].sort((a: number, b: number) => a - b))
  })

  it("two masters hammered with conflicting commands: every outcome is one a single master could give", async () => {
    const root = uniqueRoot("hammer")
    const a = await master(root, "m-a")
    const b = await master(root, "m-b")
    for (const h of ["h1", "h2"]) expect((await a.call("PUT", `/hosts/${h}?id=agent-${h}`)).status).toBe(200)
    for (let round = 0; round < 8; round++) {
      const j = (await a.call("POST", "/jobs", webJob(`race${round}:v1`, { ports: {} }))).body.id
      const p1 = (await a.call("POST", "/jobs", webJob(`porta${round}:v1`, { ports: { p: { internalPort: 80, externalPort: 9000 + round } } }))).body.id
      const p2 = (await a.call("POST", "/jobs", webJob(`portb${round}:v1`, { ports: { p: { internalPort: 81, externalPort: 9000 + round } } }))).body.id
      const pos = (await a.call("GET", "/healthz")).body.position
      const [deploy, remove, d1, d2] = await Promise.all([
        a.call("PUT", `/hosts/h1/jobs/${j}?after=${pos}`, { goal: "START" }),
        b.call("DELETE", `/jobs/${j}?after=${pos}`),
        a.call("PUT", `/hosts/h2/jobs/${p1}`, { goal: "START" }),
        b.call("PUT", `/hosts/h2/jobs/${p2}?after=${pos}`, { goal: "START" }),
      ])
      // deploy-then-remove: remove is STILL_IN_USE; remove-then-deploy: deploy is JOB_NOT_FOUND.
      const outcome = [deploy.body.status, remove.body.status]
      expect([["OK", "STILL_IN_USE"], ["JOB_NOT_FOUND", "OK"]]).toContainEqual(outcome)
      const ports = [d1.body.status, d2.body.status].sort()
      expect(ports).toEqual(["OK", "PORT_CONFLICT"])
    }
    const head = await a.log.head()
    for (const m of [a, b]) expect(await m.projection.waitFor(head, 10_000)).toBe(true)
    const all = await a.log.read(position(0), 100_000)
    const replay = foldReadModel(all).state
    for (const m of [a, b]) {
      const s = m.projection.model.state
      expect([...s.jobs.keys()].sort()).toEqual([...replay.jobs.keys()].sort())
      expect(JSON.stringify([...s.deployments].map(([h, d]) => [h, [...d].sort()]).sort())).toBe(
        JSON.stringify([...replay.deployments].map(([h, d]) => [h, [...d].sort()]).sort()),
      )
      expect([...s.versions].sort()).toEqual([...replay.versions].sort())
    }
    // State-machine invariants on the replay: no deployment of a missing job, no shared static port.
    for (const [, byJob] of replay.deployments) {
      const ports = new Set<string>()
      for (const jobId of byJob.keys()) {
        const job = replay.jobs.get(jobId)
        expect(job).toBeDefined()
        for (const p of Object.values(job!.ports ?? {})) {
          if (p.externalPort === undefined) continue
          const key = `${p.externalPort}/${p.protocol ?? "tcp"}`
          expect(ports.has(key)).toBe(false)
          ports.add(key)
        }
      }
    }
  })

  it("a write on master A is seen by a read on master B that names its position", async () => {
    const root = uniqueRoot("ryw")
    const a = await master(root, "m-ryw-a")
    const b = await master(root, "m-ryw-b")
    for (let i = 0; i < 5; i++) {
      const created = await a.call("POST", "/jobs", webJob(`ryw${i}:v1`))
      const read = await b.call("GET", `/jobs/${created.body.id}?after=${created.body.position}`)
      expect(read.status).toBe(200)
      expect(read.body.id).toBe(created.body.id)
    }
    expect((await b.call("GET", "/masters")).body).toEqual(["m-ryw-a", "m-ryw-b"])
  })

  it("bad input gets a 4xx naming the field, and nothing is appended", async () => {
    const m = await master(uniqueRoot("bad"), "m-bad")
    await m.call("PUT", "/hosts/h1?id=agent-1")
    const id = (await m.call("POST", "/jobs", webJob("good:v1"))).body.id
    const head = await m.log.head()
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ["POST", "/jobs", "{not json", 400, /body/],
      ["POST", "/jobs", [], 400, /root|id|image/],
      ["POST", "/jobs", { id: 5, image: "helios-test/web:latest" }, 400, /^id/],
      ["POST", "/jobs", { id: "web:v9", image: "helios-test/web:latest", imgae: "x" }, 400, /imgae/],
      ["POST", "/jobs", { id: "web:v9", image: "Not A/Valid:Image" }, 400, /image/],
      ["POST", "/jobs", { id: "bad id!:v1", image: "busybox" }, 400, /^id/],
      ["POST", "/jobs", webJob("web:v9", { ports: { http: { internalPort: 70000 } } }), 400, /ports\.http\.internalPort/],
      ["POST", "/jobs", webJob("web:v9", { env: { A: 1 } }), 400, /env\.A/],
      ["POST", "/jobs", webJob("web:v9", { env: { big: "x".repeat(600_000) } }), 413, /body/],
      ["POST", "/jobs", webJob("web:v9", { addCapabilities: ["SYS_ADMIN"] }), 400, /addCapabilities/],
      ["PUT", `/hosts/h1/jobs/${id}`, { goal: "RUN" }, 400, /goal/],
      ["PUT", `/hosts/h1/jobs/${id}`, { goal: "START", extra: 1 }, 400, /extra/],
      ["PUT", "/hosts/bad%20host?id=x", undefined, 400, /host/],
      ["PUT", "/hosts/h2", undefined, 400, /id/],
      ["GET", "/jobs/good", undefined, 400, /id/],
      ["GET", "/jobs?hostPattern=(", undefined, 400, /hostPattern/],
      ["GET", "/hosts?selector=a%20like%20b", undefined, 400, /selector/],
      ["GET", "/state?at=yesterday", undefined, 400, /at/],
      ["POST", "/jobs/statuses", { not: "an array" }, 400, /body/],
    ]
    for (const [method, path, body, status, field] of cases) {
      const res = await m.call(method, path, body)
      expect({ method, path, status: res.status }).toEqual({ method, path, status })
      expect(res.body.errors.join("; ")).toMatch(field)
    }
    // A body sent in chunks, with no length declared up front, is held to the same limit.
    const big = JSON.stringify(webJob("web:v9", { env: { big: "x".repeat(600_000) } }))
    const chunked = await fetch(`${m.url}/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({ start: (ctl) => { for (let i = 0; i < big.length; i += 65_536) ctl.enqueue(new TextEncoder().encode(big.slice(i, i + 65_536))); ctl.close() } }),
      duplex: "half",
    } as RequestInit)
    expect(chunked.status).toBe(413)
    expect((await chunked.json()).status).toBe("BODY_TOO_LARGE")
    expect(await m.log.head()).toBe(head)
  })

  it("answers a fast 503 when ZooKeeper is unreachable", async () => {
    const { startZooKeeper } = await import("../test/zookeeper.ts")
    const server = await startZooKeeper()
    try {
      const m = await startTestMaster("/helios", "m-outage", server.connectString)
      masters.push(m)
      await m.call("PUT", "/hosts/h1?id=agent-1")
      await server.kill()
      const started = Date.now()
      const res = await m.call("POST", "/jobs", webJob("down:v1"))
      expect(res.status).toBe(503)
      expect(res.body.message).toMatch(/unavailable|unreachable/i)
      expect(Date.now() - started).toBeLessThan(5000)
      // Reads are served from memory meanwhile.
      expect((await m.call("GET", "/hosts")).body).toEqual(["h1"])
    } finally {
      await server.destroy()
    }
  })

  it("serves the state as of a position or a time, and streams events as NDJSON, following live ones", async () => {
    const m = await master(uniqueRoot("asof"), "m-asof")
    await m.call("PUT", "/hosts/h1?id=agent-1")
    const a = await m.call("POST", "/jobs", webJob("asof-a:v1", { ports: {} }))
    const b = await m.call("POST", "/jobs", webJob("asof-b:v1", { ports: {} }))
    await m.call("PUT", `/hosts/h1/jobs/${a.body.id}`, { goal: "START" })
    const then = await m.call("GET", `/state?at=${a.body.position}`)
    expect(Object.keys(then.body.jobs)).toEqual([a.body.id])
    expect(then.body.position).toBe(a.body.position)
    const now = await m.call("GET", "/state")
    expect(Object.keys(now.body.jobs).sort()).toEqual([a.body.id, b.body.id].sort())
    expect(Object.keys(now.body.jobs[a.body.id].deployments)).toEqual(["h1"])
    const past = await m.call("GET", `/state?at=${encodeURIComponent("2000-01-01T00:00:00Z")}`)
    expect(past.body.jobs).toEqual({})

    const res = await fetch(`${m.url}/events?after=0&follow=true&job=asof-a`)
    const reader = res.body!.getReader()
    const lines: any[] = []
    let buffered = ""
    const readUntil = async (n: number) => {
      while (lines.length < n) {
        const { value, done } = await reader.read()
        if (done) break
        buffered += new TextDecoder().decode(value)
        const parts = buffered.split("\n")
        buffered = parts.pop()!
        lines.push(...parts.filter((l) => l.length > 0).map((l) => JSON.parse(l)))
      }
    }
    await readUntil(2)
    expect(lines.map((l) => l.type)).toEqual(["JobCreated", "JobDeployed"])
    await m.call("PATCH", `/hosts/h1/jobs/${a.body.id}?user=dave`, { goal: "STOP" })
    await readUntil(3)
    expect(lines[2]).toMatchObject({ type: "DeploymentGoalChanged", actor: "user:dave" })
    await reader.cancel()
  })

  it("a retried write with the same Helios-Command-Id is answered once, not applied twice", async () => {
    const m = await master(uniqueRoot("idem"), "m-idem")
    await m.call("PUT", "/hosts/h1?id=agent-1")
    const id = (await m.call("POST", "/jobs", webJob("idem:v1", { ports: {} }))).body.id
    const send = () =>
      fetch(`${m.url}/hosts/h1/jobs/${id}`, {
        method: "PUT",
        headers: { "content-type": "application/json", "Helios-Command-Id": "deploy-once-1" },
        body: JSON.stringify({ goal: "START" }),
      }).then((r) => r.json() as Promise<any>)
    const first = await send()
    const retry = await send()
    expect(first.status).toBe("OK")
    expect(retry).toMatchObject({ status: "OK", position: first.position })
    const history = await m.call("GET", `/history/jobs/${id}`)
    expect(history.body.audit.filter((e: any) => e.type === "JobDeployed")).toHaveLength(1)
  })

  it("one job deployed to 40 hosts at once through one master: every deploy succeeds, none races another", async () => {
    const m = await master(uniqueRoot("fanout"), "m-fanout")
    const hosts = Array.from({ length: 40 }, (_, i) => `fan${i}`)
    await Promise.all(hosts.map((h) => m.call("PUT", `/hosts/${h}?id=agent-${h}`)))
    const id = (await m.call("POST", "/jobs", webJob("fan:v1", { ports: {} }))).body.id
    const results = await Promise.all(hosts.map((h) => m.call("PUT", `/hosts/${h}/jobs/${id}`, { goal: "START" })))
    expect(results.map((r) => r.body.status)).toEqual(hosts.map(() => "OK"))
    expect(Object.keys((await m.call("GET", `/jobs/${id}/status`)).body.deployments).sort()).toEqual([...hosts].sort())
  })
})
