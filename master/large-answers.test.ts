/**
 * Large answers streamed (POST /jobs/statuses, POST /hosts/statuses, GET /events): captured at
 * once, written in pieces with turns of the event loop between them. Over HTTP they are the same
 * JSON as the whole answer built in one go (properties/status-json.test.ts checks the pieces on
 * generated histories), and the master answers other requests while one is being written.
 */
import http from "node:http"
import { gunzipSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { generateWorkload, type WorkloadOptions } from "../bench/workload.ts"
import type { HostName } from "../core/ids.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { startMaster, type RunningMaster } from "./master.ts"
import { hostStatusJson, jobStatusJson } from "./responses.ts"
import { acceptsGzip, COMPRESS_FROM_BYTES } from "./large-answer.ts"
import { httpRequest } from "../cli/http.ts"
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { chromium } from "playwright-core"
import { envelopeOf } from "../core/envelope.ts"
import type { DomainEvent } from "../core/events.ts"
import { aJob } from "../test/fixtures.ts"

const CHROMIUM = process.env["HELIOS_CHROMIUM"] ?? "/usr/bin/chromium"

/** One request with exactly these headers (fetch would add Accept-Encoding and decode the answer itself). */
const raw = (url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; bytes: Buffer }> =>
  new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: body === undefined ? headers : { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: Buffer.concat(chunks) }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(body)
  })

/** A master over `log`; stopped (with its log) after `use`, even when it throws. */
const withMasterOver = async (log: SqliteEventLog, name: string, use: (m: RunningMaster) => Promise<void>, compressFromBytes?: number): Promise<void> => {
  const m = await startMaster({ log, name, port: 0, bindAddress: "127.0.0.1", housekeepingIntervalMs: 60_000, ...(compressFromBytes !== undefined ? { compressFromBytes } : {}) })
  try {
    await use(m)
  } finally {
    await m.stop()
    await log.close()
  }
}

/** A master over an in-memory log holding a generated workload. */
const withMaster = async (name: string, events: number, options: WorkloadOptions, use: (m: RunningMaster) => Promise<void>, compressFromBytes?: number): Promise<void> => {
  const log = new SqliteEventLog(":memory:")
  const w = generateWorkload(events, options)
  for (const [first, count] of w.batches) await log.append(w.events.slice(first - 1, first - 1 + count).map((e) => e.envelope))
  await withMasterOver(log, name, use, compressFromBytes)
}

describe("large answers", () => {
  it("POST /jobs/statuses and /hosts/statuses for a 400-host fleet are the answers built in one go; GET /events streams the whole log; /healthz is answered meanwhile", async () => {
    await withMaster("large", 30_000, { hosts: 400, deploymentsPerHost: 3, seed: 9 }, async (m) => {
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
    })
  })

  it("a large answer is gzip-compressed for a client that accepts gzip, and the same bytes as before for one that does not; a small one is sent whole", async () => {
    await withMaster("gzip", 10_000, { hosts: 200, deploymentsPerHost: 3, seed: 4 }, async (m) => {
      const state = m.projection.model.state
      const jobs = [...state.jobHosts.keys()]
      const expected = JSON.stringify(Object.fromEntries(jobs.map((id) => [id, jobStatusJson(state, id)])))
      expect(Buffer.byteLength(expected)).toBeGreaterThan(COMPRESS_FROM_BYTES)
      const body = JSON.stringify(jobs)

      const gzipped = await raw(`${m.url}/jobs/statuses`, "POST", { "accept-encoding": "br;q=1, gzip;q=0.8" }, body)
      expect(gzipped.status).toBe(200)
      expect(gzipped.headers["content-encoding"]).toBe("gzip")
      expect(gzipped.headers["vary"]).toBe("Accept-Encoding")
      expect(gunzipSync(gzipped.bytes).toString("utf8")).toBe(expected)
      expect(gzipped.bytes.length).toBeLessThan(Buffer.byteLength(expected) / 5)

      for (const headers of [{}, { "accept-encoding": "gzip;q=0, identity" }]) {
        const plain = await raw(`${m.url}/jobs/statuses`, "POST", headers, body)
        expect(plain.headers["content-encoding"]).toBeUndefined()
        expect(plain.bytes.toString("utf8")).toBe(expected)
      }

      // The helios CLI asks for gzip and reads the answer as its plain JSON.
      const viaCli = await httpRequest(`${m.url}/jobs/statuses`, { method: "POST", headers: { "Content-Type": "application/json" }, body })
      expect(viaCli.headers.get("content-encoding")).toBe("gzip")
      expect(await viaCli.text()).toBe(expected)

      const small = await raw(`${m.url}/jobs/statuses`, "POST", { "accept-encoding": "gzip" }, JSON.stringify(jobs.slice(0, 1)))
      expect(small.headers["content-encoding"]).toBeUndefined()
      expect(small.headers["content-length"]).toBe(String(small.bytes.length))
      expect(JSON.parse(small.bytes.toString("utf8"))).toEqual({ [jobs[0]!]: jobStatusJson(state, jobs[0]!) })

      // A client that goes away in the middle of a compressed answer leaves the master answering.
      await new Promise<void>((resolve) => {
        const req = http.request(`${m.url}/jobs/statuses`, { method: "POST", headers: { "accept-encoding": "gzip", "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) } }, (res) => {
          res.once("data", () => {
            req.destroy()
            resolve()
          })
        })
        req.on("error", () => resolve())
        req.end(body)
      })
      expect((await fetch(`${m.url}/healthz`)).status).toBe(200)
    })
  })
})

/** A master over an in-memory log where one job runs on `hosts` hosts, reported RUNNING by their agents. */
const withJobOnManyHosts = async (hosts: number, use: (m: RunningMaster, jobId: string) => Promise<void>): Promise<void> => {
  const log = new SqliteEventLog(":memory:")
  const job = aJob({ id: "wide:v1" })
  const names = Array.from({ length: hosts }, (_, i) => `wide-host-${i}` as HostName)
  const agent = { kind: "agent", name: "test" } as const
  const events: DomainEvent[] = [
    ...names.map((host): DomainEvent => ({ _tag: "HostRegistered", host, agentId: `agent-${host}` as never })),
    { _tag: "JobCreated", job },
    ...names.map((host): DomainEvent => ({ _tag: "JobDeployed", job, host, goal: "START" })),
    ...names.map((host, i): DomainEvent => ({ _tag: "TaskStateChanged", jobId: job.id, host, state: "RUNNING", goal: "START", throttled: "NO", containerId: `${i}`.padStart(64, "c") })),
  ]
  await log.append(events.map((e, i) => envelopeOf(e, { at: 1_700_000_000_000 + i, actor: agent })))
  await withMasterOver(log, "wide", (m) => use(m, job.id))
}

describe("gzip answers built from kept segments", () => {
  it("a job's status polled again after a change decodes to the answer of now, with zlib and in Chromium", async () => {
    await withJobOnManyHosts(400, async (m, jobId) => {
      const path = `/jobs/${encodeURIComponent(jobId)}/status`
      const expectedNow = () => JSON.stringify(jobStatusJson(m.projection.model.state, jobId))
      const gzipAnswer = async () => {
        const res = await raw(`${m.url}${path}`, "GET", { "accept-encoding": "gzip" })
        expect([res.status, res.headers["content-encoding"]]).toEqual([200, "gzip"])
        return gunzipSync(res.bytes).toString("utf8")
      }
      const before = expectedNow()
      expect(Buffer.byteLength(before)).toBeGreaterThan(100_000)
      expect(await gzipAnswer()).toBe(before)

      // One host's deployment changes: its runs are made again, the others are the last answer's.
      const undeploy = await fetch(`${m.url}/hosts/wide-host-37/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" })
      expect(undeploy.status).toBe(200)
      const after = expectedNow()
      expect(after).not.toBe(before)
      expect(await gzipAnswer()).toBe(after)
      expect((await raw(`${m.url}${path}`, "GET", {})).bytes.toString("utf8")).toBe(after)

      // A browser decodes the joined deflate stream whole (it would stop after a first gzip member).
      if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (scripts/setup.sh does), or set HELIOS_CHROMIUM`)
      const browser = await chromium.launch({ executablePath: CHROMIUM })
      try {
        const page = await browser.newPage()
        await page.goto(`${m.url}/healthz`)
        const inPage = await page.evaluate(async (p) => {
          const res = await fetch(p)
          return { encoding: res.headers.get("content-encoding"), text: await res.text() }
        }, path)
        expect([inPage.encoding, inPage.text]).toEqual(["gzip", after])
      } finally {
        await browser.close()
      }
    })
  }, 60_000)
})

describe("--compress-from", () => {
  it("off: a large answer is plain for a client that asks for gzip; 1024: an answer of a few KiB is compressed", async () => {
    const statuses = async (m: RunningMaster, jobs: ReadonlyArray<string>) => {
      const res = await raw(`${m.url}/jobs/statuses`, "POST", { "accept-encoding": "gzip" }, JSON.stringify(jobs))
      const text = res.headers["content-encoding"] === "gzip" ? gunzipSync(res.bytes).toString("utf8") : res.bytes.toString("utf8")
      const state = m.projection.model.state
      expect(text).toBe(JSON.stringify(Object.fromEntries(jobs.map((id) => [id, jobStatusJson(state, id)]))))
      return { encoding: res.headers["content-encoding"], size: Buffer.byteLength(text) }
    }
    await withMaster(
      "compress-off",
      10_000,
      { hosts: 200, deploymentsPerHost: 3, seed: 4 },
      async (m) => {
        const answer = await statuses(m, [...m.projection.model.state.jobHosts.keys()])
        expect(answer.size).toBeGreaterThan(COMPRESS_FROM_BYTES)
        expect(answer.encoding).toBeUndefined()
      },
      Number.POSITIVE_INFINITY,
    )
    await withMaster(
      "compress-1k",
      10_000,
      { hosts: 200, deploymentsPerHost: 3, seed: 4 },
      async (m) => {
        const jobs = [...m.projection.model.state.jobHosts.keys()]
        const few = jobs.slice(0, jobs.findIndex((_, i) => Buffer.byteLength(JSON.stringify(jobs.slice(0, i + 1).map((id) => jobStatusJson(m.projection.model.state, id)))) > 2048) + 1)
        const answer = await statuses(m, few)
        expect(answer.size).toBeGreaterThan(1024)
        expect(answer.size).toBeLessThan(COMPRESS_FROM_BYTES)
        expect(answer.encoding).toBe("gzip")
      },
      1024,
    )
  })

  it("helios-master refuses a --compress-from that is neither a number of bytes nor off, naming the flag, before it connects anywhere", async () => {
    const run = (value: string) =>
      promisify(execFile)("npx", ["tsx", "master/main.ts", "--zk", "127.0.0.1:1", `--compress-from=${value}`], { cwd: join(import.meta.dirname, ".."), timeout: 60_000 }).then(
        () => ({ code: 0, stderr: "" }),
        (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? "" }),
      )
    for (const bad of ["abc", "-1", "1.5", "64k"]) {
      const r = await run(bad)
      expect(r.code, bad).toBe(1)
      expect(r.stderr, bad).toContain(`--compress-from: expected a number of bytes (0 or more) or "off", got ${bad}`)
    }
  }, 120_000)
})

describe("Accept-Encoding", () => {
  it("accepts gzip when it is listed (or *) with a q above 0, and not otherwise", () => {
    expect(acceptsGzip("gzip, deflate, br")).toBe(true)
    expect(acceptsGzip("GZIP")).toBe(true)
    expect(acceptsGzip("x-gzip")).toBe(true)
    expect(acceptsGzip("*")).toBe(true)
    expect(acceptsGzip("br;q=1.0, gzip;q=0.5")).toBe(true)
    expect(acceptsGzip(undefined)).toBe(false)
    expect(acceptsGzip("")).toBe(false)
    expect(acceptsGzip("identity")).toBe(false)
    expect(acceptsGzip("gzip;q=0")).toBe(false)
    expect(acceptsGzip("*;q=0")).toBe(false)
    expect(acceptsGzip("gzip;q=0, *")).toBe(false)
    expect(acceptsGzip("deflate, br")).toBe(false)
  })
})
