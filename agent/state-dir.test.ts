import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { acquireLock, appendJsonLine, openStateDir, readJsonLines, StateDirLocked, writeJsonAtomic, readJson } from "./state-dir.ts"

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "helios-state-"))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** The pid of a process that has exited. */
const deadPid = (): number => Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString())

describe("state dir", () => {
  it("creates a 40-hex agent id once and keeps it", () => {
    const dir = tmp()
    const a = openStateDir(dir)
    expect(a.agentId).toMatch(/^[0-9a-f]{40}$/)
    a.release()
    const b = openStateDir(dir)
    expect(b.agentId).toBe(a.agentId)
    b.release()
  })

  it("refuses a second holder of the lock, in this process or another live one", () => {
    const dir = tmp()
    const release = acquireLock(dir)
    expect(() => acquireLock(dir)).toThrow(StateDirLocked)
    release()
    writeFileSync(join(dir, "lock"), `${process.ppid}\n`) // our parent is alive
    expect(() => acquireLock(dir)).toThrow(StateDirLocked)
  })

  it("takes over a stale lock whose pid is dead", () => {
    const dir = tmp()
    writeFileSync(join(dir, "lock"), `${deadPid()}\n`)
    const release = acquireLock(dir)
    expect(readFileSync(join(dir, "lock"), "utf8").trim()).toBe(String(process.pid))
    release()
  })

  it("writes JSON atomically and reads JSON lines skipping a torn last line", () => {
    const dir = tmp()
    writeJsonAtomic(join(dir, "x.json"), { a: 1 })
    expect(readJson(join(dir, "x.json"))).toEqual({ a: 1 })
    const file = join(dir, "y.jsonl")
    appendJsonLine(file, { n: 1 })
    appendJsonLine(file, { n: 2 })
    writeFileSync(file, readFileSync(file, "utf8") + '{"n":')
    expect(readJsonLines(file)).toEqual([{ n: 1 }, { n: 2 }])
  })

  it("keeps its files to the agent's user: the dir 0700, its files 0600 (the desired state holds jobs' env and tokens)", () => {
    const dir = join(tmp(), "agent")
    const state = openStateDir(dir)
    try {
      writeJsonAtomic(state.file("desired.json"), { secret: "x" })
      appendJsonLine(state.file("outbox.jsonl"), { secret: "x" })
      expect(statSync(dir).mode & 0o777).toBe(0o700)
      for (const name of readdirSync(dir)) expect(`${name} ${(statSync(join(dir, name)).mode & 0o777).toString(8)}`).toBe(`${name} 600`)
    } finally {
      state.release()
    }
  })

  it("rejects a pinned id that differs from the stored one", () => {
    const dir = tmp()
    openStateDir(dir, "pinned-1").release()
    expect(() => openStateDir(dir, "pinned-2")).toThrow(/belongs to agent pinned-1/)
  })
})
