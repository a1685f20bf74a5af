/**
 * The API clients of bench/fleet.ts, each in its own process (so the figures are the master's, not
 * those of the busy process that simulates the agents). Forked with a role:
 *
 *   deploy   { type: "deploy", url, hosts, jobIds, concurrency }
 *            PUT /hosts/{h}/jobs/{id} {goal: START} for every (host, job), `concurrency` in flight,
 *            in an order where consecutive requests name different jobs AND different hosts (the
 *            master runs commands on the same job or host stream one at a time). 409
 *            CONCURRENT_CHANGE and 5xx are retried (at most 10 times, 50 ms apart), as a client would.
 *            → { type: "deployed", startedAt, firstAckAt, lastAckAt, latencies, retries, failures }
 *   replace  { type: "replace", url, hosts, undeployJob?, deployJob, waitRunning }
 *            one host at a time, as a script would: DELETE /hosts/{h}/jobs/{undeployJob} (if given),
 *            PUT /hosts/{h}/jobs/{deployJob} {goal: START}, and with waitRunning poll
 *            GET /hosts/{h}/status every 5 ms until the new task is RUNNING, before the next host
 *            → { type: "replaced", startedAt, lastAckAt, perHostMs, polls, failures, failureCount }
 *   sample   { type: "sample", url, jobIds, endpoints: [{ name, method, path, body?, periodMs, gzip? }] }
 *            one request at a time per endpoint, every periodMs, until { type: "stop" }; a latency
 *            is until the answer is read whole (and decoded, for gzip); receivedMs until its last byte
 *            arrived (before decoding)
 *            → { type: "samples", byEndpoint: { name: { latencies, receivedMs, bytes, wireBytes, errors, at } } }
 */
import http from "node:http"
import zlib from "node:zlib"
import { GUNZIP_CHUNK_BYTES } from "../cli/http.ts"

const send = (m: unknown) => process.send?.(m)
const now = () => performance.now()
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })

/** One request; with `gzip`, it asks for gzip as fetch and browsers do, and decodes the answer as the helios CLI does (on zlib's thread pool, into 1 MiB buffers). */
const request = (url: string, method: string, body?: string, gzip = false): Promise<{ status: number; text: string; wireBytes: number; receivedAt: number }> =>
  new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    if (gzip) headers["accept-encoding"] = "gzip"
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => {
        const receivedAt = now()
        const wire = Buffer.concat(chunks)
        const done = (bytes: Buffer) => resolve({ status: res.statusCode ?? 0, text: bytes.toString("utf8"), wireBytes: wire.length, receivedAt })
        if (res.headers["content-encoding"] !== "gzip") done(wire)
        else zlib.gunzip(wire, { chunkSize: GUNZIP_CHUNK_BYTES }, (err, plain) => (err ? reject(err) : done(plain)))
      })
      res.on("error", reject)
    })
    req.on("error", reject)
    req.setTimeout(120_000, () => req.destroy(new Error("timeout")))
    if (body !== undefined) req.write(body)
    req.end()
  })

interface DeployMsg {
  type: "deploy"
  url: string
  hosts: string[]
  jobIds: string[]
  concurrency: number
}

const deploy = async (m: DeployMsg) => {
  const H = m.hosts.length
  const J = m.jobIds.length
  const stride = Math.max(1, Math.floor(H / J))
  const total = H * J
  const latencies = new Array<number>(total)
  const failures: Array<{ host: string; job: string; status: number; body: string }> = []
  let retries = 0
  let next = 0
  let firstAckAt: number | undefined
  let lastAckAt = 0
  const startedAt = Date.now()
  const worker = async () => {
    while (next < total) {
      const k = next++
      const r = Math.floor(k / J)
      const j = k % J
      const host = m.hosts[(r + j * stride) % H]!
      const job = m.jobIds[j]!
      const body = JSON.stringify({ jobId: job, goal: "START" })
      const t0 = now()
      for (let attempt = 0; ; attempt++) {
        let res: { status: number; text: string }
        try {
          res = await request(`${m.url}/hosts/${host}/jobs/${encodeURIComponent(job)}`, "PUT", body)
        } catch (e) {
          res = { status: 0, text: String(e) }
        }
        if (res.status === 200) break
        const retryable = res.status === 0 || res.status >= 500 || (res.status === 409 && res.text.includes("CONCURRENT_CHANGE"))
        if (!retryable || attempt >= 10) {
          failures.push({ host, job, status: res.status, body: res.text.slice(0, 300) })
          break
        }
        retries++
        await sleep(50)
      }
      latencies[k] = now() - t0
      const at = Date.now()
      firstAckAt ??= at
      lastAckAt = at
    }
  }
  await Promise.all(Array.from({ length: m.concurrency }, worker))
  send({ type: "deployed", startedAt, firstAckAt, lastAckAt, latencies, retries, failures: failures.slice(0, 20), failureCount: failures.length })
}

interface ReplaceMsg {
  type: "replace"
  url: string
  hosts: string[]
  undeployJob?: string
  deployJob: string
  waitRunning: boolean
}

/** One request, retried on 409 CONCURRENT_CHANGE, 5xx and connection errors (at most 10 times, 50 ms apart); the last answer. */
const withRetries = async (url: string, method: string, body?: string): Promise<{ status: number; text: string }> => {
  for (let attempt = 0; ; attempt++) {
    let res: { status: number; text: string }
    try {
      res = await request(url, method, body)
    } catch (e) {
      res = { status: 0, text: String(e) }
    }
    const retryable = res.status === 0 || res.status >= 500 || (res.status === 409 && res.text.includes("CONCURRENT_CHANGE"))
    if (!retryable || attempt >= 10) return res
    await sleep(50)
  }
}

const replace = async (m: ReplaceMsg) => {
  const perHostMs: number[] = []
  const failures: Array<{ host: string; step: string; status: number; body: string }> = []
  let polls = 0
  const startedAt = Date.now()
  let lastAckAt = startedAt
  for (const host of m.hosts) {
    const t0 = now()
    if (m.undeployJob !== undefined) {
      const r = await withRetries(`${m.url}/hosts/${host}/jobs/${encodeURIComponent(m.undeployJob)}`, "DELETE")
      if (r.status !== 200) failures.push({ host, step: "undeploy", status: r.status, body: r.text.slice(0, 300) })
    }
    const r = await withRetries(`${m.url}/hosts/${host}/jobs/${encodeURIComponent(m.deployJob)}`, "PUT", JSON.stringify({ jobId: m.deployJob, goal: "START" }))
    if (r.status !== 200) failures.push({ host, step: "deploy", status: r.status, body: r.text.slice(0, 300) })
    else if (m.waitRunning)
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
        polls++
        const s = await request(`${m.url}/hosts/${host}/status`, "GET").catch(() => ({ status: 0, text: "" }))
        if (s.status === 200 && (JSON.parse(s.text) as { statuses?: Record<string, { state?: string }> }).statuses?.[m.deployJob]?.state === "RUNNING") break
        await sleep(5)
      }
    perHostMs.push(now() - t0)
    lastAckAt = Date.now()
  }
  send({ type: "replaced", startedAt, lastAckAt, perHostMs, polls, failures: failures.slice(0, 20), failureCount: failures.length })
}

interface Endpoint {
  name: string
  method: string
  path: string
  body?: string
  periodMs: number
  /** Asks for gzip (as fetch, browsers and the helios CLI do). */
  gzip?: boolean
}

let sampling = true
const sample = async (m: { url: string; endpoints: Endpoint[] }) => {
  const byEndpoint: Record<string, { latencies: number[]; receivedMs: number[]; bytes: number[]; wireBytes: number[]; at: number[]; errors: number; lastError?: string }> = {}
  await Promise.all(
    m.endpoints.map(async (e) => {
      const out = (byEndpoint[e.name] = { latencies: [] as number[], receivedMs: [] as number[], bytes: [] as number[], wireBytes: [] as number[], at: [] as number[], errors: 0 } as (typeof byEndpoint)[string])
      while (sampling) {
        const t0 = now()
        try {
          const res = await request(`${m.url}${e.path}`, e.method, e.body, e.gzip === true)
          const ms = now() - t0
          if (res.status !== 200) {
            out.errors++
            out.lastError = `${res.status} ${res.text.slice(0, 200)}`
          } else {
            out.latencies.push(ms)
            out.receivedMs.push(res.receivedAt - t0)
            out.bytes.push(Buffer.byteLength(res.text))
            out.wireBytes.push(res.wireBytes)
            out.at.push(Date.now())
          }
        } catch (err) {
          out.errors++
          out.lastError = String(err)
        }
        const left = e.periodMs - (now() - t0)
        if (left > 0) await sleep(left)
      }
    }),
  )
  send({ type: "samples", byEndpoint })
}

process.on("message", (m: { type: string } & Record<string, unknown>) => {
  if (m.type === "deploy") void deploy(m as unknown as DeployMsg)
  else if (m.type === "replace") void replace(m as unknown as ReplaceMsg)
  else if (m.type === "sample") void sample(m as unknown as { url: string; endpoints: Endpoint[] })
  else if (m.type === "stop") sampling = false
  else if (m.type === "exit") process.exit(0)
})
process.on("disconnect", () => process.exit(0))
send({ type: "ready" })
