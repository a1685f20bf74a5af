/**
 * The command bus's idempotent retries (Helios-Command-Id), on the embedded log: a command id the
 * read model knows is answered with its first outcome's position and nothing is appended again;
 * only users' and masters' commands count, not the ids agents put on their facts; the read model
 * knows ids by hash, and the bus confirms a candidate by the id its event carries.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Result } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import type { CommandContext } from "../core/commands.ts"
import type { EventLog } from "../core/event-log.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { commandHash } from "../projections/commands.ts"
import { decodeSnapshot, encodeSnapshot } from "../projections/snapshot.ts"
import { agentId, envelope, host } from "../test/event-fixtures.ts"
import { CommandBus } from "./command-bus.ts"
import { LiveProjection } from "./live-projection.ts"

const dir = mkdtempSync(join(tmpdir(), "helios-bus-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const ctx: CommandContext = { now: 1_700_000_000_000, actor: { kind: "user", name: "alice" }, master: "m1" }

const started = async (name: string) => {
  const log = new SqliteEventLog(join(dir, `${name}.db`))
  const projection = new LiveProjection(log)
  projection.start()
  return { log, projection, bus: new CommandBus(log, projection, { applyTimeoutMs: 5_000 }) }
}

describe("command bus: idempotent retries", () => {
  it("a retried command id is answered with the first outcome's position and appends nothing; another id is a new command", async () => {
    const { log, projection, bus } = await started("retry")
    try {
      const register = { _tag: "RegisterHost", host: host("h1"), agentId: agentId("a1") } as const
      const first = await bus.execute(register, ctx, "cmd-1")
      if (Result.isFailure(first)) return expect.fail(String(first.failure))
      expect(first.success.appended).toBe(1)
      const retry = await bus.execute(register, ctx, "cmd-1")
      expect(retry).toEqual(Result.succeed({ position: first.success.position, appended: 0 }))
      expect(await log.head()).toBe(first.success.position)
      const other = await bus.execute({ _tag: "MarkHostUp", host: host("h1"), agentId: agentId("a1") }, ctx, "cmd-2")
      if (Result.isFailure(other)) return expect.fail(String(other.failure))
      expect(other.success).toEqual({ position: first.success.position + 1, appended: 1 })
    } finally {
      projection.stop()
      await log.close()
    }
  })

  it("the command ids of agents' facts are not commands: a command that happens to carry one is executed", async () => {
    const { log, projection, bus } = await started("agent-ids")
    try {
      const fact = { ...envelope({ _tag: "HostRegistered", host: host("h1"), agentId: agentId("a1") }), actor: { kind: "agent", name: "h1" }, commandId: "h1-1-1" } as const
      const appended = await log.append([fact])
      await projection.waitFor(appended.lastPosition, 5_000)
      expect(projection.model.commands.candidates("h1-1-1")).toEqual([])
      const r = await bus.execute({ _tag: "MarkHostUp", host: host("h1"), agentId: agentId("a1") }, ctx, "h1-1-1")
      if (Result.isFailure(r)) return expect.fail(String(r.failure))
      expect(r.success.appended).toBe(1)
    } finally {
      projection.stop()
      await log.close()
    }
  })

  it("two command ids with the same hash are two commands: the second is executed, and each retry is answered with its own first outcome", async () => {
    const { log, projection, bus } = await started("collision")
    try {
      // Two ids whose 32-bit hashes (projections/commands.ts) are equal.
      const [a, b] = ["retry-1149599", "retry-1312382"]
      expect(commandHash(a)).toBe(commandHash(b))
      const up = { _tag: "RegisterHost", host: host("h1"), agentId: agentId("a1") } as const
      const markUp = { _tag: "MarkHostUp", host: host("h1"), agentId: agentId("a1") } as const
      const first = await bus.execute(up, ctx, a)
      const second = await bus.execute(markUp, ctx, b)
      if (Result.isFailure(first) || Result.isFailure(second)) return expect.fail("refused")
      expect(second.success).toEqual({ position: first.success.position + 1, appended: 1 })
      expect(await bus.execute(up, ctx, a)).toEqual(Result.succeed({ position: first.success.position, appended: 0 }))
      expect(await bus.execute(markUp, ctx, b)).toEqual(Result.succeed({ position: second.success.position, appended: 0 }))
    } finally {
      projection.stop()
      await log.close()
    }
  })

  it("a retry on a master that lags behind the first attempt is answered with the first outcome once a conflict made it catch up", async () => {
    const a = await started("lagging")
    // Master B follows the same log, but its projection applies nothing until its bus first appends.
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const log = a.log
    const lagging: EventLog = {
      append: async (events, options) => {
        release()
        return log.append(events, options)
      },
      read: (after, limit) => log.read(after, limit),
      head: () => log.head(),
      readHostStream: (h, after, limit) => log.readHostStream(h, after, limit),
      subscribe: (after, onEvents) =>
        log.subscribe(after, async (events) => {
          await gate
          await onEvents(events)
        }),
      subscribeHostStream: (h, after, onEvents) => log.subscribeHostStream(h, after, onEvents),
      close: async () => {},
    }
    const projection = new LiveProjection(lagging)
    projection.start()
    try {
      const register = { _tag: "RegisterHost", host: host("h1"), agentId: agentId("a1") } as const
      const first = await a.bus.execute(register, ctx, "cmd-1")
      if (Result.isFailure(first)) return expect.fail(String(first.failure))
      await a.bus.execute({ _tag: "MarkHostUp", host: host("h1"), agentId: agentId("a1") }, ctx, "cmd-2")
      const b = new CommandBus(lagging, projection, { applyTimeoutMs: 5_000 })
      expect(await b.execute(register, ctx, "cmd-1")).toEqual(Result.succeed({ position: first.success.position, appended: 0 }))
      expect(await log.head()).toBe(first.success.position + 1)
    } finally {
      projection.stop()
      a.projection.stop()
      await log.close()
    }
  })

  it("a master started from a snapshot still recognises the retries the snapshot's log holds", async () => {
    const first = await started("snapshot")
    const register = { _tag: "RegisterHost", host: host("h1"), agentId: agentId("a1") } as const
    const done = await first.bus.execute(register, ctx, "cmd-1")
    if (Result.isFailure(done)) return expect.fail(String(done.failure))
    first.projection.stop()
    const restored = decodeSnapshot(encodeSnapshot(first.projection.model))
    const projection = new LiveProjection(first.log, restored)
    projection.start()
    try {
      const bus = new CommandBus(first.log, projection, { applyTimeoutMs: 5_000 })
      expect(await bus.execute(register, ctx, "cmd-1")).toEqual(Result.succeed({ position: done.success.position, appended: 0 }))
    } finally {
      projection.stop()
      await first.log.close()
    }
  })
})
