/**
 * A flag given twice: a repeatable one (`--env`, `-p`, `--volume`, `--label`, `-z`...) collects
 * every value; any other string flag is refused before anything is sent, naming the flag and both
 * values, instead of silently keeping the last (as Helios's argparse4j did).
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { lines, removeTempDirs, runInProcess, tempDir } from "../test/cli-helpers.ts"

/** Every request the fake master got: `METHOD /path?query` and its JSON body. */
let received: Array<{ request: string; body: unknown }> = []
let server: Server
let env: Record<string, string>

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = ""
    req.on("data", (chunk: Buffer) => (text += chunk.toString()))
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x")
      url.searchParams.delete("user")
      received.push({ request: `${req.method} ${url.pathname}${url.search}`, body: text === "" ? undefined : JSON.parse(text) })
      const json = (value: unknown) => res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(value))
      if (req.method === "POST" && url.pathname === "/jobs") json({ status: "OK", id: "web:v1:0123456789abcdef", errors: [] })
      else if (url.pathname === "/hosts") json(["h1"])
      else if (url.pathname === "/hosts/statuses") json({ h1: { status: "UP", statusSince: 0, jobs: {}, statuses: {}, labels: {} } })
      else res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ status: "NOT_FOUND" }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  env = { HOME: tempDir("repeated-flags"), HELIOS_MASTER: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
})
beforeEach(() => {
  received = []
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  removeTempDirs()
})

const helios = (args: string[]) => runInProcess(args, { env })

/** Refused as a usage error: exit 1, the one line on stderr, USAGE_ERROR with --json, and no request sent. */
const refused = async (args: string[], line: string) => {
  const r = await helios(args)
  expect({ code: r.code, stderr: r.stderr, sent: received }).toEqual({ code: 1, stderr: line + "\n", sent: [] })
  const json = await helios(["--json", ...args])
  expect({ code: json.code, stdout: JSON.parse(json.stdout), sent: received }).toEqual({ code: 1, stdout: { status: "USAGE_ERROR", error: line }, sent: [] })
}

describe("a flag given twice", () => {
  it("create: repeatable flags send every value; a single-valued flag repeated is refused and nothing is created", async () => {
    const repeated = ["--env", "A=1", "--env", "B=2", "-p", "http=80", "-p", "dns=53/udp", "--volume", "/data", "--volume", "/cache:ro", "--label", "team=a", "--label", "tier=web"]
    // Boolean flags given twice (-q -q, --json --json) mean what they mean once.
    const r = await helios(["create", "web:v1", "nginx", ...repeated, "-q", "-q", "--json", "--json"])
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" })
    expect(received.map((x) => x.request)).toEqual(["POST /jobs"])
    expect(received[0]!.body).toMatchObject({
      env: { A: "1", B: "2" },
      ports: { http: { internalPort: 80 }, dns: { internalPort: 53, protocol: "udp" } },
      volumes: { "/data": "", "/cache:ro": "" },
      labels: { team: "a", tier: "web" },
    })

    received = []
    await refused(
      ["create", "web:v1", "nginx", ...repeated, "--runtime", "runc", "--runtime=kata"],
      "helios create: option --runtime given twice ('runc', 'kata'): give it once (see 'helios create --help')",
    )
  })

  it("rolling-update -t 10 -t 99, deploy --token a --token b: refused, naming the flag and every value", async () => {
    await refused(
      ["rolling-update", "web:v1", "web", "-t", "10", "-t", "99"],
      "helios rolling-update: option -t/--timeout given twice ('10', '99'): give it once (see 'helios rolling-update --help')",
    )
    await refused(
      ["rolling-update", "web:v1", "web", "-p", "1", "--par=2", "-p3"],
      "helios rolling-update: option -p/--par given 3 times ('1', '2', '3'): give it once (see 'helios rolling-update --help')",
    )
    await refused(["deploy", "web:v1", "h1", "--token", "a", "--token", "b"], "helios deploy: option --token given twice ('a', 'b'): give it once (see 'helios deploy --help')")
  })

  it("a global flag, before and after the verb: -u refused; -z and hosts -s repeat", async () => {
    await refused(["-u", "alice", "hosts", "-u", "bob"], "helios hosts: option -u/--username given twice ('alice', 'bob'): give it once (see 'helios hosts --help')")
    const dead = "http://127.0.0.1:1"
    const r = await helios(["-z", dead, "hosts", "-q", "-z", env["HELIOS_MASTER"]!, "-s", "role=web", "-s", "zone!=b"])
    expect({ code: r.code, stdout: lines(r.stdout) }).toEqual({ code: 0, stdout: ["h1"] })
    expect(received.map((x) => x.request)).toEqual(["GET /hosts?selector=role%3Dweb&selector=zone%21%3Db", "POST /hosts/statuses"])
  })
})
