/**
 * Large answers streamed (POST /jobs/statuses, POST /hosts/statuses, GET /events): captured at
 * once, written in pieces with turns of the event loop between them. Over HTTP they are the same
 * JSON as the whole answer built in one go (properties/status-json.test.ts checks the pieces on
 * generated histories), and the master answers other requests while one is being written.
 */
import { describe, expect, it } from "vitest"
import { generateWorkload } from "../bench/workload.ts"
import type { HostName } from "../core/ids.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { startMaster } from "./master.ts"
import { hostStatusJson, jobStatusJson } from "./responses.ts"

describe("large answers", () => {
  it("POST /jobs/statuses and /hosts/statuses for a 400-host fleet are the answers built in one go; GET /events streams the whole log; /healthz is answered meanwhile", async () => {
    const log = new SqliteEventLog(":memory:")
    const w = generateWorkload(30_000, { hosts: 400, deploymentsPerHost: 3, seed: 9 })
    for (const [first, count] of w.batches) await log.append(w.events.slice(first - 1, first - 1 + count).map((e) => e.envelope))
    const m = await startMaster({ log, name: "large", port: 0, bindAddress: "127.0.0.1", housekeepingIntervalMs: 60_000 })
    try {
      const state = m.projection.model.state
      const jobs = [...state.jobHosts.keys()]
      const hosts = [...state.hosts.keys()]
      expect(jobs.length).toBeGreaterThan(100)

      const pending = [
        fetch(`${m.url}/jobs/statuses`, { method: "POST", body: JSON.stringify([...jobs, "nope:v1:" + "0".repeat(40)]), headers: { "content-type": "application/json" } }),
        fetch(`${m.url}/hosts/statuses`, { method: "POST", body: JSON.stringify([...hosts, "unknown-host", hosts[0]]), headers: { "content-type": "application/json" } }),
        fetch(`${m.url}/events?after=0`),
      ]
      expect((await fetch(`${m.url}/healthz`)).status).toBe(200)
      const [jobsRes, hostsRes, eventsRes] = await Promise.all(pending)
      expect(jobsRes!.headers.get("content-type")).toContain("application/json")
      expect(await jobsRes!.text()).toBe(JSON.stringify(Object.fromEntries(jobs.map((id) => [id, jobStatusJson(state, id)]))))
      expect(hostsRes!.headers.get("content-type")).toContain("application/json")
      expect(await hostsRes!.text()).toBe(JSON.stringify(Object.fromEntries(hosts.map((h) => [h, hostStatusJson(state, h as HostName, undefined)]))))
      const lines = (await eventsRes!.text()).trim().split("\n")
      expect(lines.length).toBe(30_000)
      expect(JSON.parse(lines.at(-1)!).position).toBe(30_000)
      const down = await fetch(`${m.url}/hosts/statuses?status=DOWN`, { method: "POST", body: JSON.stringify(hosts), headers: { "content-type": "application/json" } })
      expect(Object.keys(await down.json()).sort()).toEqual(hosts.filter((h) => !state.hosts.get(h)!.up).sort())
    } finally {
      await m.stop()
      await log.close()
    }
  })
})
