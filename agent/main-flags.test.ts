/**
 * helios-agent's own flags: a bad value is refused with a line naming it and exit 2, before the
 * agent waits for ZooKeeper (here an address nothing listens on: it would wait for ever).
 */
import { execFile } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", "agent/main.ts", ...args], { cwd: join(import.meta.dirname, ".."), timeout: 30_000, env: { ...process.env, ...env } }).then(
    () => ({ code: 0, stderr: "" }),
    (e: { code?: number; stderr?: string; killed?: boolean }) => ({ code: e.killed ? "timed out" : e.code, stderr: e.stderr ?? "" }),
  )

describe("helios-agent's flags", () => {
  it.each([
    [["--zk="], 'bad --zk ""'],
    [["--zk", "127.0.0.1:1", "--reconcile-interval-ms", "1e30"], "bad reconcile interval"],
    [["--zk", "127.0.0.1:1", "--zk-session-timeout-ms", "0x10"], "bad session timeout"],
    [["--zk", "127.0.0.1:1", "--name", "bad/name"], "bad --name"],
    [["--zk", "127.0.0.1:1", "--port-range", "5:1"], "bad --port-range"],
    [["--zk", "127.0.0.1:1", "--bind-address", "notanip"], "bad --bind-address"],
    [["--zk", "127.0.0.1:1", "--label", "novalue"], 'bad label "novalue"'],
  ])("refuses %j (%s) before it waits for ZooKeeper", async (args, message) => {
    const r = await run(args)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(message)
  }, 60_000)

  it("refuses a yes/no environment variable that is neither (HELIOS_ALLOW_UNCONFINED=yes was taken as no)", async () => {
    const r = await run(["--zk", "127.0.0.1:1"], { HELIOS_ALLOW_UNCONFINED: "yes" })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('bad HELIOS_ALLOW_UNCONFINED "yes"')
  }, 60_000)
})
