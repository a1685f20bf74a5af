import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { UndecodableEvent } from "../core/event-log.ts"
import { hostStream } from "../core/events.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { agentId, envelope, host, hostUp } from "../test/event-fixtures.ts"
import { uniqueRoot, waitFor, zkConnect } from "../test/services.ts"
import { HostStreamFollower } from "./host-stream.ts"
import type { Logger } from "./logger.ts"

const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

describe("an agent's host stream holding an event it cannot decode", () => {
  it("holds the fold before it, says so loudly once, and keeps the desired state unknown (hands off) when it was never read to the end", async () => {
    const zk = await ZkClient.connect(zkConnect())
    cleanups.push(() => zk.close())
    const log = await ZooKeeperEventLog.open(zk, { root: uniqueRoot("host-stream-undecodable") })
    cleanups.push(() => log.close())
    const dir = mkdtempSync(join(tmpdir(), "helios-host-stream-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))

    const h1 = host("h1")
    await log.append([envelope({ _tag: "HostRegistered", host: h1, agentId: agentId("a1") })], { expected: { [hostStream(h1)]: "none" as const } })
    // A newer master's event for this host, then one this agent could read.
    await log.append([{ ...hostUp("h1", "a1"), schemaVersion: 99 }])
    await log.append([hostUp("h1", "a1")])

    const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> | undefined }> = []
    const logger: Logger = { log: (level, msg, fields) => lines.push({ level, msg, fields: fields as Record<string, unknown> | undefined }) }
    const follower = new HostStreamFollower({ log, host: h1, file: join(dir, "desired.json"), logger, onCommandIds: () => {}, onDesiredChange: () => {} })
    cleanups.push(() => follower.stop())

    await expect(follower.catchUp()).rejects.toBeInstanceOf(UndecodableEvent)
    expect(follower.state.hostPosition).toBe(1)
    expect(follower.state.registeredAgentId).toBe("a1")
    expect(follower.desiredKnown).toBe(false) // never read to the end: the reconciler keeps its hands off
    follower.start()
    await expect(follower.catchUp()).rejects.toBeInstanceOf(UndecodableEvent)
    const loud = await waitFor(() => {
      const found = lines.filter((l) => l.level === "error" && l.msg.includes("UNDECODABLE_EVENT"))
      return found.length > 0 ? found : undefined
    })
    expect(loud).toHaveLength(1)
    expect(loud[0]!.fields).toMatchObject({ position: 2, hostPosition: 1 })
    expect(String(loud[0]!.fields!.reason)).toMatch(/schema version 99 is newer/)
    expect(follower.state.hostPosition).toBe(1)
  })
})
