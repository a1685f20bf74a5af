/**
 * A master that answers valid JSON of the wrong shape: the CLI refuses it with one line naming
 * the endpoint and what was wrong, and exits 1, instead of crashing ("internal error") or
 * printing garbage with exit 0.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { removeTempDirs, runInProcess, tempDir } from "../test/cli-helpers.ts"

/** What the fake master answers, by `METHOD /path`: a JSON value, or NDJSON lines for a stream. */
let answers: Record<string, unknown> = {}
let server: Server
let env: Record<string, string>

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume()
    const key = `${req.method} ${new URL(req.url ?? "/", "http://x").pathname}`
    if (!(key in answers)) {
      res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ status: "NOT_FOUND" }))
      return
    }
    const answer = answers[key]
    if (key === "GET /events") {
      // A stream: the lines, then held open (as with --follow) until the client goes away.
      res.writeHead(200, { "Content-Type": "application/x-ndjson" })
      res.write((answer as string[]).join("\n") + "\n")
      return
    }
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(answer))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  env = { HOME: tempDir("bad-answers"), HELIOS_MASTER: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  removeTempDirs()
})

/** Runs `helios args` against answers; expects exit 1 and one clear line naming `endpoint`. */
const refused = async (args: string[], given: Record<string, unknown>, endpoint: string, what: string) => {
  answers = given
  const r = await runInProcess(args, { env })
  expect(r.stderr).not.toContain("internal error")
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1)
  expect(r.stderr).toContain(`answered ${endpoint} with something this helios cannot read`)
  expect(r.stderr).toContain(what)
  expect(r.code).toBe(1)
  return r
}

const job = { id: "web:1:abc1234", image: "nginx" }
const event = { position: 1, timestamp: 1, actor: "user:x", commandId: null, type: "JobCreated", event: { _tag: "JobCreated", job } }

describe("a master answering the wrong shape", () => {
  it("masters: a string instead of a list of names", async () => {
    const r = await refused(["masters"], { "GET /masters": "hello" }, "GET /masters", "(root): Expected array")
    expect(r.stdout).toBe("")
  })

  it("version: an object instead of a version string", async () => {
    const r = await refused(["version"], { "GET /version": { a: 1 } }, "GET /version", "(root)")
    expect(r.stdout).not.toContain("[object Object]")
  })

  it("list-deployment-groups: a string instead of a list of names", async () => {
    await refused(["list-deployment-groups"], { "GET /deployment-group": "groups" }, "GET /deployment-group", "(root)")
  })

  it("jobs: jobs that are not objects", async () => {
    await refused(["jobs"], { "GET /jobs": { a: 1 } }, "GET /jobs", "a:")
  })

  it("jobs: null statuses", async () => {
    await refused(["jobs"], { "GET /jobs": { [job.id]: job }, "POST /jobs/statuses": null }, "POST /jobs/statuses", "(root)")
  })

  it("status: a status without its job", async () => {
    await refused(
      ["status"],
      { "GET /jobs": { [job.id]: job }, "POST /jobs/statuses": { [job.id]: { deployments: {}, taskStatuses: {} } } },
      "POST /jobs/statuses",
      `${job.id}.job`,
    )
  })

  it("events --follow: an HTML line in the stream", async () => {
    const r = await refused(["events", "--follow"], { "GET /events": [JSON.stringify(event), "<html>"] }, "GET /events", "not JSON")
    expect(r.stdout).toContain("#1")
  })

  it("events --follow: a line without its event", async () => {
    await refused(["events", "--follow"], { "GET /events": [JSON.stringify({ ...event, event: undefined })] }, "GET /events", "event")
  })
})
