import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { LogBusy, LogUnavailable, type EventLog } from "../core/event-log.ts"
import { position } from "../core/ids.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import type { EventEnvelope } from "../core/events.ts"
import { envelope, fakeJobId, host, hostUp, tagOf } from "../test/event-fixtures.ts"
import { waitFor } from "../test/services.ts"
import { silentLogger, type Logger } from "./logger.ts"
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
  const file = join(dir, "outbox.jsonl")
  const make = (target: EventLog = log, extra: Partial<ConstructorParameters<typeof Outbox>[0]> = {}) => {
    const box = new Outbox({ file, log: target, logger: silentLogger, idPrefix: "agent1", landed, retryMinMs: 10, retryMaxMs: 50, ...extra })
    cleanups.push(() => box.close())
    return box
  }
  return { dir, file, log, make }
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

  it("a busy master's Retry-After (and the back-off after a failure) is waited out: new facts queue up meanwhile instead of sending the batch again at once", async () => {
    const { log, make } = setup()
    const sent: number[] = []
    let busy = true
    const shedding: EventLog = Object.assign(Object.create(log) as EventLog, {
      append: async (...args: Parameters<EventLog["append"]>) => {
        sent.push(Date.now())
        if (busy) throw new LogBusy({ reason: "shed", retryAfterMs: 2_000 })
        return log.append(...args)
      },
    })
    const box = make(shedding)
    box.setEnabled(true)
    const started = Date.now()
    for (const tag of ["a", "b", "c", "d", "e", "f"]) {
      box.enqueue(hostUp("h1", tag))
      await new Promise((resolve) => setTimeout(resolve, 150))
    }
    // Within the 2 s asked for, only the first attempt went out.
    expect(sent.filter((t) => t - started < 1_900)).toHaveLength(1)
    busy = false
    await box.drained()
    expect(await tags(log)).toEqual(["a", "b", "c", "d", "e", "f"])
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

/** Bytes this process has handed to write(2) so far (Linux). */
const bytesWritten = (): number => Number(/^wchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))![1])

/** A task state of job `job` on h1; `tag` goes in the container id so tests can tell them apart. */
const taskState = (job: string, tag: string): EventEnvelope =>
  envelope({ _tag: "TaskStateChanged", jobId: fakeJobId(job), host: host("h1"), state: "RUNNING", goal: "START", throttled: "NO", containerId: tag })
const tagsOf = (es: ReadonlyArray<EventEnvelope>) => es.map((e) => (e.event._tag === "TaskStateChanged" ? e.event.containerId : tagOf(e)))

const recorder = () => {
  const lines: Array<{ level: string; msg: string; fields?: Readonly<Record<string, unknown>> }> = []
  const logger: Logger = { log: (level, msg, fields) => void lines.push({ level, msg, ...(fields ? { fields } : {}) }) }
  return { lines, logger }
}

describe("outbox journal", () => {
  it.skipIf(!existsSync("/proc/self/io"))("20,000 facts queued during an outage, then acknowledged in batches: bytes written stay linear", async () => {
    const { file, make } = setup()
    const box = make()
    const n = 20_000
    const before = bytesWritten()
    for (let i = 0; i < n; i++) box.enqueue(hostUp("h1", `a${i}`))
    const queuedBytes = statSync(file).size
    const ids = box.pending().map((e) => e.commandId!)
    for (let i = 0; i < n; i += 64) box.acknowledge(new Set(ids.slice(i, i + 64)))
    const written = bytesWritten() - before
    expect(box.size).toBe(0)
    // Each fact's line once, plus acknowledgements and compactions: a small multiple, not n/64 rewrites.
    console.log(`outbox: ${n} facts, ${queuedBytes} bytes of lines, ${written} bytes written in all`)
    expect(written).toBeLessThan(3 * queuedBytes)
    expect(statSync(file).size).toBeLessThan(64 * 1024 + 1024)
    // And in steady state (one fact queued and acknowledged at a time), the file stays small.
    for (let i = 0; i < n; i++) {
      box.enqueue(hostUp("h1", `b${i}`))
      box.acknowledge(new Set([box.pending()[0]!.commandId!]))
    }
    expect(bytesWritten() - before).toBeLessThan(6 * queuedBytes)
    expect(statSync(file).size).toBeLessThan(64 * 1024 + 1024)
  })

  it("a crash at any point of the journal loses no fact whose write completed, and the next fact is kept", async () => {
    const { file, make } = setup()
    const steps: string[][] = [[]]
    const box = make()
    for (const t of ["a", "b", "c"]) {
      box.enqueue(hostUp("h1", t))
      steps.push(box.pending().map(tagOf))
    }
    box.acknowledge(new Set([box.pending()[0]!.commandId!]))
    steps.push(box.pending().map(tagOf))
    box.enqueue(hostUp("h1", "d"))
    steps.push(box.pending().map(tagOf))
    await box.close()
    const journal = readFileSync(file)
    expect(steps.at(-1)).toEqual(["b", "c", "d"])
    let lastStep = 0
    // Every byte near a line's end, and every 7th byte elsewhere (each cut costs a few fsyncs).
    const nearLineEnd = (cut: number) => [-2, -1, 0, 1, 2].some((d) => journal[cut + d] === 0x0a)
    for (let cut = 0; cut <= journal.length; cut++) {
      if (cut % 7 !== 0 && !nearLineEnd(cut) && cut !== journal.length) continue
      writeFileSync(file, journal.subarray(0, cut))
      const reopened = make()
      const seen = reopened.pending().map(tagOf)
      // What a crash at this byte leaves is the state after some step, never earlier than a shorter cut's.
      const step = steps.map((s) => JSON.stringify(s)).lastIndexOf(JSON.stringify(seen))
      expect(step, `cut at ${cut}: ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(lastStep)
      lastStep = step
      reopened.enqueue(hostUp("h1", "z"))
      await reopened.close()
      expect(make().pending().map(tagOf), `cut at ${cut}`).toEqual([...seen, "z"])
    }
    expect(lastStep).toBe(steps.length - 1)
  })

  it("at its bound, newer task states replace older unsent ones of the same job; other facts are refused, loudly", async () => {
    const { log, make } = setup()
    const { lines, logger } = recorder()
    const box = make(log, { maxEvents: 4, logger })
    for (const [job, tag] of [["A", "A1"], ["A", "A2"], ["B", "B1"], ["C", "C1"]] as const) box.enqueue(taskState(job, tag))
    expect(lines).toEqual([])
    box.enqueue(taskState("D", "D1")) // A1 is superseded by A2
    expect(tagsOf(box.pending())).toEqual(["A2", "B1", "C1", "D1"])
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ["error", "outbox full (the log has been unreachable for long): older unsent task states are replaced by newer ones of the same job, other new facts are refused"],
    ])
    box.enqueue(taskState("E", "E1")) // supersedes nothing: refused
    expect(tagsOf(box.pending())).toEqual(["A2", "B1", "C1", "D1"])
    expect(lines.at(-1)).toMatchObject({ level: "error", msg: "outbox full: fact refused" })
    box.enqueue(taskState("B", "B2")) // replaces B1
    expect(tagsOf(box.pending())).toEqual(["A2", "C1", "D1", "B2"])
    await box.close()
    // The same after a restart; still bounded; then everything left reaches the log, and the outbox says so.
    const again = make(log, { maxEvents: 4, logger })
    expect(tagsOf(again.pending())).toEqual(["A2", "C1", "D1", "B2"])
    again.enqueue(taskState("C", "C2"))
    expect(tagsOf(again.pending())).toEqual(["A2", "D1", "B2", "C2"])
    again.setEnabled(true)
    await again.drained()
    expect(tagsOf((await log.read(position(0))).map((e) => e.envelope))).toEqual(["A2", "D1", "B2", "C2"])
    expect(lines.at(-1)).toMatchObject({ level: "info", msg: "outbox below its bound again", fields: { superseded: 1, refused: 0 } })
  })

  it("the byte bound works the same way", () => {
    const { make } = setup()
    const line = Buffer.byteLength(JSON.stringify({ seq: 1, envelope: { ...taskState("A", "A1"), commandId: "agent1-xxxxxxxx-1" } }) + "\n")
    const box = make(undefined, { maxBytes: 2 * line + 10, logger: recorder().logger })
    for (const tag of ["A1", "A2", "A3"]) box.enqueue(taskState("A", tag))
    expect(tagsOf(box.pending())).toEqual(["A2", "A3"])
  })
})
