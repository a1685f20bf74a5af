/**
 * A master serving HTTPS (`--tls-cert/--tls-key`) and the CLI trusting its CA with `--ca-file` (or
 * HELIOS_CA_FILE); without the CA the CLI refuses the certificate in one line.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { runInProcess, tempDir, removeTempDirs } from "../test/cli-helpers.ts"

const CERT = join(import.meta.dirname, "..", "test", "tls", "localhost-cert.pem")
const KEY = join(import.meta.dirname, "..", "test", "tls", "localhost-key.pem")
let master: RunningMaster
let log: SqliteEventLog
let home: string

beforeAll(async () => {
  const dir = tempDir("cli-tls")
  home = dir
  log = new SqliteEventLog(join(dir, "events.db"))
  master = await startMaster({ log, port: 0, bindAddress: "127.0.0.1", name: "m-cli-tls", tls: { cert: readFileSync(CERT), key: readFileSync(KEY) } })
})
afterAll(async () => {
  await master?.stop()
  await log?.close()
  removeTempDirs()
})

describe("TLS between the CLI and a master", () => {
  it("serves https:// and the CLI trusts it with --ca-file or HELIOS_CA_FILE, streams included", async () => {
    expect(master.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const env = { HOME: home, HELIOS_MASTER: master.url }
    const created = await runInProcess(["create", "web:v1", "busybox:latest", "--ca-file", CERT], { env })
    expect([created.code, created.stderr]).toEqual([0, ""])
    const jobs = await runInProcess(["jobs", "-q"], { env: { ...env, HELIOS_CA_FILE: CERT } })
    expect(jobs.stdout).toMatch(/^web:v1:/)
    const events = await runInProcess(["events", "--json", "--ca-file", CERT], { env })
    expect([events.code, events.stdout]).toEqual([0, expect.stringContaining("JobCreated")])
    const localhost = await runInProcess(["jobs", "-q", "--ca-file", CERT, "-z", master.url.replace("127.0.0.1", "localhost")], { env: { HOME: home } })
    expect(localhost.code).toBe(0)
  })

  it("without the CA: one line saying the certificate is not trusted; a missing CA file is named", async () => {
    const r = await runInProcess(["jobs"], { env: { HOME: home, HELIOS_MASTER: master.url } })
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toMatch(/cannot reach master at https:\/\/127\.0\.0\.1:\d+: .*certificate/i)
    const missing = await runInProcess(["jobs", "--ca-file", "/nonexistent/ca.pem"], { env: { HOME: home, HELIOS_MASTER: master.url } })
    expect(missing.stderr).toMatch(/--ca-file: cannot read \/nonexistent\/ca.pem/)
  })
})
