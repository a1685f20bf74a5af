/**
 * A metered log (what an agent run with --metrics-port and every master use) is the log it meters
 * with its appends counted: every other member, the optional ones included, is the metered log's.
 * It used to list what it forwarded, and dropped hostStreamBase (an agent with metrics could not
 * start from its archived host stream's base) and readAt (a master's history read every event
 * around a job's positions instead of those alone).
 */
import { Registry } from "prom-client"
import { describe, expect, it } from "vitest"
import type { EventLog } from "../core/event-log.ts"
import { meteredLog } from "./log-metrics.ts"

describe("meteredLog", () => {
  it("keeps every member of the log it meters, optional ones included, and counts appends", async () => {
    const calls: string[] = []
    const called =
      <T>(name: string, value: T) =>
      (..._args: unknown[]) => {
        calls.push(name)
        return value
      }
    const base = { position: 7, state: {} } as never
    const snapshots = { position: async () => 3, load: async () => undefined, save: async () => true }
    const inner: Required<EventLog> = {
      append: called("append", Promise.resolve({ firstPosition: 1, lastPosition: 1 }) as never),
      read: called("read", Promise.resolve([])),
      readAt: called("readAt", Promise.resolve([])),
      head: called("head", Promise.resolve(0 as never)),
      readHostStream: called("readHostStream", Promise.resolve([])),
      subscribe: called("subscribe", () => {}),
      subscribeHostStream: called("subscribeHostStream", () => {}),
      packSealed: called("packSealed", Promise.resolve({ segments: 0, entries: 0, znodesRemoved: 0 })),
      hostStreamBase: called("hostStreamBase", Promise.resolve(base)),
      distrustMemory: called("distrustMemory", undefined),
      sharedSnapshots: snapshots,
      close: called("close", Promise.resolve()),
    }
    const registry = new Registry()
    const log = meteredLog(inner, registry, "t_")
    await log.append([{ event: { _tag: "HostWentUp" } } as never])
    await log.read(0 as never)
    await log.readAt!([1])
    await log.head()
    await log.readHostStream("h1" as never, 0)
    log.subscribe(0 as never, () => {})
    log.subscribeHostStream("h1" as never, 0, () => {})
    await log.packSealed!()
    expect(await log.hostStreamBase!("h1" as never)).toBe(base)
    log.distrustMemory!()
    expect(log.sharedSnapshots).toBe(snapshots)
    await log.close()
    expect(calls).toEqual(["append", "read", "readAt", "head", "readHostStream", "subscribe", "subscribeHostStream", "packSealed", "hostStreamBase", "distrustMemory", "close"])
    expect(await registry.getSingleMetricAsString("t_events_appended_total")).toContain('t_events_appended_total{type="HostWentUp"} 1')
  })

  it("has no optional member the metered log does not have", () => {
    const minimal = { append: async () => ({}), read: async () => [], head: async () => 0, readHostStream: async () => [], subscribe: () => () => {}, subscribeHostStream: () => () => {}, close: async () => {} } as unknown as EventLog
    const log = meteredLog(minimal, new Registry(), "t_")
    expect([log.readAt, log.packSealed, log.hostStreamBase, log.distrustMemory, log.sharedSnapshots]).toEqual([undefined, undefined, undefined, undefined, undefined])
  })
})
