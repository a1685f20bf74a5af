/**
 * A rollout survives its leader: two real masters (processes) on a real ZooKeeper, three real
 * agents on the real Docker engine. The leader is killed -9 right after it sends a rollout step's
 * append, in the middle of the rollout; the other master takes over (after the dead one's ZooKeeper
 * session ends) and finishes it. The log then shows every step started and ended exactly once and
 * every host deployed to exactly once, whether or not the dead leader's last append landed.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import type { DomainEvent, StoredEvent } from "../core/events.ts"
import { position, type HostName } from "../core/ids.ts"
import { dockerAgentFixture, type DockerAgentFixture } from "./agent-docker-fixture.ts"
import { masterProcess, type MasterProcess } from "./master-process.ts"
import { waitFor, zkConnect } from "./services.ts"
import { TEST_IMAGE } from "./docker.ts"

const HOSTS = ["dgf-h1", "dgf-h2", "dgf-h3"] as HostName[]

let fx: DockerAgentFixture | undefined
const masters: MasterProcess[] = []
let dir: string | undefined

afterAll(async () => {
  for (const m of masters) await m.kill().catch(() => undefined)
  await fx?.cleanup()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const call = async (m: MasterProcess, method: string, path: string, body?: unknown) => {
  const res = await fetch(m.url + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  })
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any }
}

const allEvents = async (f: DockerAgentFixture): Promise<StoredEvent[]> => {
  const out: StoredEvent[] = []
  for (let at = 0; ; ) {
    const page = await f.log.read(position(at), 2000)
    if (page.length === 0) return out
    out.push(...page)
    at = page[page.length - 1]!.position
  }
}

describe("a rollout when its leader dies", () => {
  it("is finished by the other master, no step executed twice", async () => {
    fx = await dockerAgentFixture("dg-failover")
    const f = fx
    dir = mkdtempSync(join(tmpdir(), "helios-dg-failover-"))
    // The first master started leads (lowest election node).
    const a = await masterProcess({ name: "dgf-a", zkConnect: zkConnect(), root: f.root, dir })
    masters.push(a)
    await waitFor(async () => ((await call(a, "GET", "/masters")).body?.length === 1 ? true : undefined))
    const b = await masterProcess({ name: "dgf-b", zkConnect: zkConnect(), root: f.root, dir })
    masters.push(b)
    for (const [i, h] of HOSTS.entries()) await (await f.start(h, { labels: { role: "web" }, portRange: `${47400 + i * 50}:${47449 + i * 50}` })).registered
    await waitFor(async () => {
      const hosts = (await call(b, "POST", "/hosts/statuses", HOSTS)).body as Record<string, { status: string }> | undefined
      return hosts && HOSTS.every((h) => hosts[h]?.status === "UP") ? true : undefined
    }, { what: "three hosts UP on both masters", timeoutMs: 60_000 })

    const job = (await call(a, "POST", "/jobs", { id: "dgf-web:v1", image: TEST_IMAGE, ports: { http: { internalPort: 80 } } })).body.id as string
    expect((await call(a, "POST", "/deployment-group", { name: "dgf-web", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] })).status).toBe(200)
    expect((await call(a, "POST", "/deployment-group/dgf-web/rolling-update", { job })).status).toBe(200)

    // Once the leader waits for dgf-h1 to run (step 2 of 9, or later), make it die right after it sends its next append.
    await waitFor(async () => {
      const s = (await call(b, "GET", "/deployment-group/dgf-web/status")).body
      return s?.status === "ROLLING_OUT" && s.rollout.nextStep >= 2 ? true : undefined
    }, {
      what: "the rollout to wait for dgf-h1",
      timeoutMs: 30_000,
      intervalMs: 20,
    })
    expect(await a.crashOnNextAppend(60_000)).toBe(true)
    const killedAt = Date.now()

    const done = await waitFor(async () => {
      const s = (await call(b, "GET", "/deployment-group/dgf-web/status")).body
      return s?.status === "ACTIVE" || s?.status === "FAILED" ? s : undefined
    }, { what: "the other master to finish the rollout", timeoutMs: 90_000, intervalMs: 200 })
    console.log(`rollout finished by the other master ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the leader died`)
    expect(done.status).toBe("ACTIVE")
    expect(done.hostStatuses).toEqual(HOSTS.map((host) => ({ host, jobId: job, state: "RUNNING" })))

    const events = await allEvents(f)
    const of = <T extends DomainEvent["_tag"]>(tag: T) =>
      events.filter((e) => e.envelope.event._tag === tag) as Array<StoredEvent & { envelope: { event: Extract<DomainEvent, { _tag: T }> } }>
    const steps = of("RolloutStarted")[0]!.envelope.event.steps.length
    expect(of("RolloutStarted")).toHaveLength(1)
    const indexes = (tag: "RolloutStepStarted" | "RolloutStepSucceeded") => of(tag).map((e) => e.envelope.event.step)
    expect(indexes("RolloutStepStarted")).toEqual([...Array(steps).keys()])
    expect(indexes("RolloutStepSucceeded")).toEqual([...Array(steps).keys()])
    expect(of("RolloutStepFailed")).toHaveLength(0)
    expect(of("JobDeployed").map((e) => e.envelope.event.host)).toEqual(HOSTS)
    expect(of("RolloutFinished")).toHaveLength(1)
    // The steps after the crash were recorded by the survivor.
    expect(of("RolloutFinished")[0]!.envelope.actor).toEqual({ kind: "master", name: "dgf-b" })
    expect(of("RolloutStepStarted").some((e) => e.envelope.actor.name === "dgf-a")).toBe(true)
  }, 240_000)
})
