import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { LogUnavailable, type EventLog } from "../core/event-log.ts"
import { position } from "../core/ids.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { hostUp, tagOf } from "../test/event-fixtures.ts"
import { waitFor } from "../test/services.ts"
import { silentLogger } from "./logger.ts"
import { Outbox } from "./outbox.ts"

const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

const setup = () => {
  const dir = mkdtempSync(join(tmpdir(), "helios-outbox-"))
  const log = new SqliteEventLog(":memory:")
  cleanups.push(async () => {
    await log.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const landed = async (ids: ReadonlySet<string>) =>
    new Set((await log.read(position(0))).map((e) => e.envelope.commandId).filter((id): id is string => id !== undefined && ids.has(id)))
  const make = (target: EventLog = log) => {
    const box = new Outbox({ file: join(dir, "outbox.jsonl"), log: target, logger: silentLogger, idPrefix: "agent1", landed, retryMinMs: 10, retryMaxMs: 50 })
    cleanups.push(() => box.close())
    return box
  }
  return { dir, log, make }
}

const tags = async (log: EventLog) => (await log.read(position(0))).map((e) => tagOf(e.envelope))

describe("outbox", () => {
  it("holds facts until enabled, then appends them in order with unique commandIds", async () => {
    const { log, make } = setup()
    const box = make()
    for (const t of ["a", "b", "c"]) box.enqueue(hostUp("h1", t))
    expect(box.size).toBe(3)
    expect(await tags(log)).toEqual([])
    box.setEnabled(true)
    await box.drained()
    expect(await tags(log)).toEqual(["a", "b", "c"])
    const ids = (await log.read(position(0))).map((e) => e.envelope.commandId)
    expect(new Set(ids).size).toBe(3)
  })

  it("survives a restart: queued facts are read back from the file", async () => {
    const { log, make } = setup()
    const first = make()
    first.enqueue(hostUp("h1", "a"))
    first.enqueue(hostUp("h1", "b"))
    await first.close()
    const second = make()
    expect(second.pending().map(tagOf)).toEqual(["a", "b"])
    second.setEnabled(true)
    second.enqueue(hostUp("h1", "c"))
    await second.drained()
    expect(await tags(log)).toEqual(["a", "b", "c"])
  })

  it("retries while the log is unavailable, and never appends a fact twice after an unknown outcome", async () => {
    const { log, make } = setup()
    let mode: "down" | "lost-reply" | "up" = "down"
    const flaky: EventLog = Object.assign(Object.create(log) as EventLog, {
      append: async (...args: Parameters<EventLog["append"]>) => {
        if (mode === "down") throw new LogUnavailable({ reason: "down" })
        if (mode === "lost-reply") {
          await log.append(...args) // it landed, but the caller hears a failure
          mode = "up"
          throw new LogUnavailable({ reason: "reply lost" })
        }
        return log.append(...args)
      },
    })
    const box = make(flaky)
    box.setEnabled(true)
    box.enqueue(hostUp("h1", "a"))
    box.enqueue(hostUp("h1", "b"))
    await waitFor(() => (box.size === 2 ? true : undefined))
    mode = "lost-reply"
    box.kick()
    await box.drained()
    expect(await tags(log)).toEqual(["a", "b"])
  })

  it("acknowledges facts the host stream already shows", async () => {
    const { make } = setup()
    const box = make()
    box.enqueue(hostUp("h1", "a"))
    const id = box.pending()[0]!.commandId!
    box.acknowledge(new Set([id]))
    expect(box.size).toBe(0)
  })
})
