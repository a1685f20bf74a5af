/**
 * `helios hosts` on a fleet whose names together pass the master's 512 KiB body limit (~11,000
 * hosts): the statuses are asked for 1,000 names at a time and merged (one request was a 413).
 * Against a fake master that checks each body's size as the real one does.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { lines, removeTempDirs, runInProcess, tempDir } from "../test/cli-helpers.ts"

const MAX_BODY_BYTES = 512 * 1024
const HOSTS = Array.from({ length: 12_000 }, (_, i) => `web-frontend-${String(i).padStart(5, "0")}.ash2.services.example.net`)
const bodies: number[] = []
let server: Server
let env: Record<string, string>

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://x").pathname
      const json = (status: number, body: unknown) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body))
      if (req.method === "GET" && path === "/hosts") return json(200, HOSTS)
      if (req.method === "POST" && path === "/hosts/statuses") {
        const body = Buffer.concat(chunks)
        bodies.push(body.length)
        if (body.length > MAX_BODY_BYTES) return json(413, { status: "BODY_TOO_LARGE", errors: [`(body): larger than ${MAX_BODY_BYTES} bytes`] })
        const names = JSON.parse(body.toString()) as string[]
        return json(200, Object.fromEntries(names.map((h) => [h, { status: "UP", statusSince: 0, jobs: {}, statuses: {}, labels: {} }])))
      }
      json(404, { status: "NOT_FOUND" })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  env = { HOME: tempDir("statuses-pieces"), HELIOS_MASTER: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  removeTempDirs()
})

describe("statuses of a large fleet", () => {
  it("helios hosts lists 12,000 hosts, asking for their statuses in bodies under the master's limit", async () => {
    expect(Buffer.byteLength(JSON.stringify(HOSTS))).toBeGreaterThan(MAX_BODY_BYTES)
    const r = await runInProcess(["hosts", "-q"], { env })
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" })
    expect(lines(r.stdout)).toHaveLength(HOSTS.length)
    expect(bodies.length).toBeGreaterThan(1)
    expect(Math.max(...bodies)).toBeLessThanOrEqual(MAX_BODY_BYTES)
  })
})
