/**
 * Solo mode on a failing disk, for real: the SQLite log on its own small tmpfs, filled up, or
 * remounted read-only; a real master on it answers 503 naming the reason and writes nothing.
 * Needs root (mount); skipped where tmpfs cannot be mounted.
 */
import { spawnSync } from "node:child_process"
import { rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { startMaster, type RunningMaster } from "../master/master.ts"
import { canMountTmpfs, fillDisk, mountSmallDisk, remountReadOnly } from "../test/tmpfs.ts"
import { SqliteEventLog } from "./sqlite-log.ts"

const repo = fileURLToPath(new URL("..", import.meta.url))

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c()
    } catch (e) {
      console.error("cleanup failed:", e)
    }
  }
})

/** A fresh tmpfs of `size`; unmounted and removed after the test, even on failure. */
const smallDisk = (size: string): string => {
  const disk = mountSmallDisk(size)
  cleanups.push(() => disk.remove())
  return disk.dir
}

const masterOn = async (log: SqliteEventLog): Promise<RunningMaster & { call: (m: string, p: string, b?: unknown) => Promise<{ status: number; body: any }> }> => {
  const master = await startMaster({ log, port: 0, bindAddress: "127.0.0.1", name: "solo" })
  cleanups.push(() => master.stop())
  return {
    ...master,
    call: async (method, path, body) => {
      const res = await fetch(master.url + path, {
        method,
        ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      })
      return { status: res.status, body: await res.json() }
    },
  }
}

const job = (id: string) => ({ id, image: "helios-test/web:latest", env: { PAD: "x".repeat(4000) } })

describe.skipIf(!canMountTmpfs)("SQLite log on a failing disk", () => {
  it("disk full: POST /jobs answers 503 naming it, writes nothing, and works again once space is freed", async () => {
    const dir = smallDisk("1m")
    const log = new SqliteEventLog(join(dir, "events.db"))
    cleanups.push(() => log.close())
    const m = await masterOn(log)
    expect((await m.call("POST", "/jobs", job("before:v1"))).status).toBe(200)
    const head = await log.head()

    const fillers = fillDisk(dir)
    const refused = await m.call("POST", "/jobs", job("full:v1"))
    expect(refused.status).toBe(503)
    expect(refused.body).toMatchObject({ status: "LOG_UNAVAILABLE", reason: "disk full", code: "SQLITE_FULL" })
    expect(await log.head()).toBe(head)
    expect(Object.keys((await m.call("GET", "/jobs")).body)).toEqual([expect.stringMatching(/^before:v1:/)])

    for (const f of fillers) rmSync(f)
    expect((await m.call("POST", "/jobs", job("after:v1"))).status).toBe(200)
    expect(await log.head()).toBe(head + 1)
  })

  it("read-only file system: a master restarted on it serves reads, and POST /jobs answers 503 naming it", async () => {
    const dir = smallDisk("4m")
    const file = join(dir, "events.db")
    // A master that crashed (kill -9) after one write: the WAL and its index stay beside the file.
    const crashed = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `import { SqliteEventLog } from "./log/sqlite-log.ts"
         import { startMaster } from "./master/master.ts"
         const m = await startMaster({ log: new SqliteEventLog(${JSON.stringify(file)}), port: 0, bindAddress: "127.0.0.1" })
         const r = await fetch(m.url + "/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: ${JSON.stringify(JSON.stringify(job("before:v1")))} })
         if (r.status !== 200) throw new Error("create failed: " + r.status)
         process.kill(process.pid, "SIGKILL")`,
      ],
      { cwd: repo, encoding: "utf8" },
    )
    expect(crashed.signal, crashed.stderr).toBe("SIGKILL")
    // The kernel would refuse this remount while a process has a file open for writing there (EBUSY).
    remountReadOnly(dir)

    const log = new SqliteEventLog(file)
    cleanups.push(() => log.close())
    const m = await masterOn(log)
    expect(Object.keys((await m.call("GET", "/jobs")).body)).toEqual([expect.stringMatching(/^before:v1:/)])
    const refused = await m.call("POST", "/jobs", job("ro:v1"))
    expect(refused.status).toBe(503)
    expect(refused.body).toMatchObject({ status: "LOG_UNAVAILABLE", reason: "read-only file system" })
    expect(await log.head()).toBe(1)
  })
})
