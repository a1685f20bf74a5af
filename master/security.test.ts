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
})
