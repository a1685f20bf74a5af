import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { LogUnavailable } from "../core/event-log.ts"
import { envelopeOf } from "../core/envelope.ts"
import type { EventEnvelope, StoredEvent } from "../core/events.ts"
import { position, type AgentId, type HostName } from "../core/ids.ts"
import type { JobId } from "../core/job.ts"
import { ZkClient } from "../log/zk-client.ts"
import { ZooKeeperEventLog } from "../log/zookeeper-log.ts"
import { readAll } from "../test/log-conformance.ts"
import { uniqueRoot, waitFor, zkConnect } from "../test/services.ts"
import { checkAsync, timeoutFor } from "./support.ts"

/*
 * Packed segments (log/zk-chain-format.ts) on real ZooKeeper, few runs, each under its own root.
 *
 * 1. Packing changes no read: a log read back after its sealed segments were packed is identical
 *    to the log read before — the global log read from every position with small pages, and every
 *    host stream read from every host position.
 * 2. Packing concurrent with appends and reads never shows a hole or a duplicate: while two
 *    writers append and a packer packs right behind the head, a follower and a paging reader each
 *    see positions 1, 2, 3... exactly once, and at the end every acknowledged batch is in the log
 *    exactly once, whole, at the positions its append was told.
 */

const HOSTS = ["h1", "h2", "h3"] as const

/** A batch: per event a host (HostWentUp, in that host's stream) or none (JobRemoved, in no host stream). */
type PlannedBatch = ReadonlyArray<number | "none">
const batchArb = fc.array(fc.oneof(fc.nat({ max: HOSTS.length - 1 }), fc.constant("none" as const)), { minLength: 1, maxLength: 6 })

const envelopes = (tag: string, batch: PlannedBatch): EventEnvelope[] =>
  batch.map((e, k) =>
    envelopeOf(
      e === "none"
        ? { _tag: "JobRemoved", jobId: `${tag}-${k}:v1:${"0".repeat(40)}` as JobId }
        : { _tag: "HostWentUp", host: HOSTS[e] as HostName, agentId: `${tag}-${k}` as AgentId },
      { at: 1_700_000_000_000, actor: { kind: "user", name: tag }, commandId: tag },
    ),
  )

const open = async (root: string, segmentSize: number, clients: ZkClient[]) => {
  const zk = await ZkClient.connect(zkConnect())
  clients.push(zk)
  return ZooKeeperEventLog.open(zk, { root, segmentSize, keepSealedSegments: 0 })
}

/** Every read a user of the log can make, in a form to compare: global pages from every position, host streams from every host position. */
const everyRead = async (log: ZooKeeperEventLog, pageSize: number) => {
  const all = await readAll(log)
  const pages: Array<ReadonlyArray<StoredEvent>> = []
  for (let after = 0; after <= all.length; after++) pages.push(await log.read(position(after), pageSize))
  const hostStreams: Record<string, unknown[]> = {}
  for (const h of HOSTS) {
    const stream = await log.readHostStream(h as HostName, 0)
    hostStreams[h] = [stream]
    for (let after = 1; after <= stream.length; after++) hostStreams[h]!.push(await log.readHostStream(h as HostName, after, pageSize))
  }
  return { all, pages, hostStreams, head: await log.head() }
}

describe("packed sealed segments on real ZooKeeper", () => {
  it(
    "packing changes no read: the global log from every position and every host stream from every host position read the same before and after the sealed segments are packed",
    async () => {
      await checkAsync(
        fc.asyncProperty(fc.array(batchArb, { minLength: 1, maxLength: 14 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 4 }), async (batches, segmentSize, pageSize) => {
          const clients: ZkClient[] = []
          try {
            const root = uniqueRoot("prop-pack")
            const log = await open(root, segmentSize, clients)
            for (const [i, b] of batches.entries()) await log.append(envelopes(`b${i}`, b))
            const before = await everyRead(log, pageSize)
            const report = await log.packSealed()
            const total = batches.reduce((n, b) => n + b.length, 0)
            // Everything below the head's segment is packed (keepSealedSegments 0).
            expect(report.segments).toBeGreaterThanOrEqual(Math.floor(total / segmentSize))
            expect(await everyRead(log, pageSize)).toEqual(before)
            // A fresh reader (nothing cached) reads the same too.
            expect(await everyRead(await open(root, segmentSize, clients), pageSize)).toEqual(before)
          } finally {
            for (const zk of clients) await zk.close()
          }
        }),
        { runs: 12, seed: 6001, scale: 0.1 },
      )
    },
    timeoutFor(120_000),
  )

  it(
    "packing concurrent with appends and reads: a follower and a paging reader see 1, 2, 3... exactly once, and every acknowledged batch is in the log once, whole, where its append was told",
    async () => {
      await checkAsync(
        fc.asyncProperty(
          fc.tuple(fc.array(batchArb, { minLength: 5, maxLength: 25 }), fc.array(batchArb, { minLength: 5, maxLength: 25 })),
          fc.integer({ min: 2, max: 4 }),
          async (writers, segmentSize) => {
            const clients: ZkClient[] = []
            const stops: Array<() => void> = []
            try {
              const root = uniqueRoot("prop-pack-race")
              const [w0, w1, packer, follower, pager] = await Promise.all([0, 1, 2, 3, 4].map(() => open(root, segmentSize, clients)))
              let running = true
              const failures: unknown[] = []
              const packing = (async () => {
                while (running) await packer!.packSealed().catch((e: unknown) => void (e instanceof LogUnavailable || failures.push(e)))
              })()
              const followed: number[] = []
              stops.push(follower!.subscribe(position(0), (events) => void followed.push(...events.map((e) => e.position))))
              const paged: number[] = []
              const paging = (async () => {
                while (running) paged.push(...(await pager!.read(position(paged.length), 3)).map((e) => e.position))
              })()
              const acknowledged: Array<{ first: number; tags: string[] }> = []
              await Promise.all(
                writers.map(async (batches, w) => {
                  for (const [i, b] of batches.entries()) {
                    const events = envelopes(`w${w}.${i}`, b)
                    const r = await [w0!, w1!][w]!.append(events)
                    acknowledged.push({ first: r.firstPosition, tags: events.map((e) => e.commandId!) })
                  }
                }),
              )
              const total = writers.flat().reduce((n, b) => n + b.length, 0)
              await waitFor(() => (followed.length >= total && paged.length >= total ? true : undefined), { timeoutMs: 30_000, what: "the follower and the pager at the head" })
              running = false
              await Promise.all([packing, paging])
              const dense = Array.from({ length: total }, (_, i) => i + 1)
              expect(followed).toEqual(dense)
              expect(paged).toEqual(dense)
              expect(failures.map(String)).toEqual([])
              const log = await readAll(pager!)
              expect(log.map((e) => e.position)).toEqual(dense)
              for (const { first, tags } of acknowledged)
                expect(log.slice(first - 1, first - 1 + tags.length).map((e) => e.envelope.commandId)).toEqual(tags)
            } finally {
              for (const stop of stops) stop()
              for (const zk of clients) await zk.close()
            }
          },
        ),
        { runs: 6, seed: 6002, scale: 0.1 },
      )
    },
    timeoutFor(120_000),
  )
})
