/**
 * The CLI against a master with authentication on: the token comes from --auth-token, HELIOS_TOKEN,
 * "token" in ~/.helios/config, or — for a master on this machine — the local token of the solo
 * serving that port; without one the master's refusal is one clear line.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { Principals } from "../master/auth.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { runInProcess, tempDir, removeTempDirs } from "../test/cli-helpers.ts"
import { noteSoloEndpoint } from "./config.ts"

const TOKEN = "cli-auth-test-token-0123456789abcdef"
let master: RunningMaster
let log: SqliteEventLog
let dir: string

beforeAll(async () => {
  dir = tempDir("cli-auth")
  log = new SqliteEventLog(join(dir, "events.db"))
  const principals = Principals.of([{ name: "carol", token: TOKEN, capabilities: ["*"] }])
  if (principals instanceof Error) throw principals
  master = await startMaster({ log, port: 0, bindAddress: "127.0.0.1", name: "m-cli-auth", principals })
})
afterAll(async () => {
  await master?.stop()
  await log?.close()
  removeTempDirs()
})

const homeDir = (name: string) => {
  const home = join(dir, name)
  mkdirSync(join(home, ".helios"), { recursive: true })
  return home
}

describe("the CLI and a master with authentication", () => {
  it("without a token: exit 1, one line naming UNAUTHORIZED and how to give a token", async () => {
    const r = await runInProcess(["jobs"], { env: { HOME: homeDir("none"), HELIOS_MASTER: master.url } })
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toMatch(/UNAUTHORIZED \(HTTP 401\).*--auth-token, HELIOS_TOKEN/)
  })

  it("takes the token from --auth-token, HELIOS_TOKEN or ~/.helios/config; the principal is the actor", async () => {
    const home = homeDir("given")
    const env = { HOME: home, HELIOS_MASTER: master.url }
    expect((await runInProcess(["create", "web:v1", "busybox:latest", "--auth-token", TOKEN, "-u", "carol"], { env })).code).toBe(0)
    // A principal that may name users (here "*") records who it names: USER@PRINCIPAL.
    expect((await runInProcess(["create", "web:v2", "busybox:latest", "--auth-token", TOKEN, "-u", "dave"], { env })).code).toBe(0)
    expect((await runInProcess(["jobs", "-q"], { env: { ...env, HELIOS_TOKEN: TOKEN } })).stdout).toMatch(/^web:v1:.*\nweb:v2:/)
    writeFileSync(join(home, ".helios", "config"), JSON.stringify({ token: TOKEN }))
    const history = await runInProcess(["history", "web:v1", "--json", "-u", "carol"], { env })
    expect(history.code).toBe(0)
    expect(history.stdout).toContain('"actor": "user:carol"')
    expect((await runInProcess(["history", "web:v2", "--json"], { env })).stdout).toContain('"actor": "user:dave@carol"')
    expect((await runInProcess(["jobs", "--auth-token", "wrong-token"], { env })).stderr).toMatch(/unknown token/)
  })

  it("finds the local token of the solo serving a loopback port (as `helios solo` notes it)", async () => {
    const home = homeDir("solo")
    const tokenFile = join(dir, "solo-token")
    writeFileSync(tokenFile, TOKEN + "\n", { mode: 0o600 })
    noteSoloEndpoint({ HOME: home }, master.url, tokenFile)
    const r = await runInProcess(["jobs", "-q"], { env: { HOME: home, HELIOS_MASTER: master.url } })
    expect([r.code, r.stderr]).toEqual([0, ""])
    // localhost names the same loopback port.
    const viaLocalhost = await runInProcess(["jobs", "-q"], { env: { HOME: home, HELIOS_MASTER: master.url.replace("127.0.0.1", "localhost") } })
    expect(viaLocalhost.code).toBe(0)
  })
})
