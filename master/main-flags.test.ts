/**
 * helios-master's own flags: a bad value is refused with one line naming the flag and exit 1, before
 * it connects anywhere (ZooKeeper here is an address nothing listens on); one the master can only
 * find bad when it starts (an address not this machine's) gives one line, not a stack trace.
 */
import { execFile } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import { uniqueRoot, zkConnect } from "../test/services.ts"

const run = (args: ReadonlyArray<string>) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", "master/main.ts", ...args], { cwd: join(import.meta.dirname, ".."), timeout: 60_000 }).then(
    () => ({ code: 0, stderr: "" }),
    (e: { code?: number; stderr?: string }) => ({ code: e.code, stderr: e.stderr ?? "" }),
  )

describe("helios-master's flags", () => {
  it.each([
    [["--port", "0x10"], "--port"],
    [["--port="], "--port"],
    [["--pack-interval", "1e-9"], "--pack-interval"],
    [["--checkpoint-every", "1e3"], "--checkpoint-every"],
    [["--agent-reaping-timeout", "0x10"], "--agent-reaping-timeout"],
    [["--zk-root", "noslash"], "--zk-root"],
    [["--zk-root", "/a//b"], "--zk-root"],
    [["--name", "bad/name"], "--name"],
    [["--advertised-url", "notaurl"], "--advertised-url"],
  ])("refuses %j naming %s, before connecting", async (args, flag) => {
    const r = await run(["--zk", "127.0.0.1:1", ...args])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`helios-master: ${flag}`)
    expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace
  }, 60_000)

  it("an address it cannot listen on: one line naming it, exit 1, no stack trace", async () => {
    const r = await run(["--zk", zkConnect(), "--zk-root", uniqueRoot("flags-bind"), "--bind", "192.0.2.1", "--port", "0"])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("helios-master: cannot start: cannot listen on 192.0.2.1:0")
    expect(r.stderr).not.toMatch(/\n\s+at /)
  }, 60_000)
})
