/**
 * The liveness check (the job's `livenessCheck`, beyond Helios: its issue #414). The probe's
 * bookkeeping alone, then on the real engine: a container whose liveness endpoint starts failing
 * (its health file deleted with `docker exec`) is restarted, and the log says why; a healthy
 * neighbour is left alone.
 */
import { afterEach, describe, expect, it } from "vitest"
import { docker } from "../test/docker.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor } from "../test/services.ts"
import { dockerAgentFixture, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import { LivenessProbe } from "./health.ts"
import { deploy, lastTask, taskEvents } from "../test/agent-helpers.ts"

describe("LivenessProbe", () => {
  it("is due every interval and gives a reason after failureThreshold failures in a row", () => {
    const p = new LivenessProbe({ type: "tcp", port: "http", intervalSeconds: 2, failureThreshold: 3 }, 1_000)
    expect([p.due(2_999), p.due(3_000)]).toEqual([false, true])
    const bad = { healthy: false, reason: "tcp 127.0.0.1:80: ECONNREFUSED" }
    expect(p.record(bad, 3_000)).toBeUndefined()
    expect(p.nextAt).toBe(5_000)
    expect(p.record(bad, 5_000)).toBeUndefined()
    expect(p.record({ healthy: true }, 7_000)).toBeUndefined() // a success resets the count
    expect(p.record(bad, 9_000)).toBeUndefined()
    expect(p.record(bad, 11_000)).toBeUndefined()
    expect(p.record(bad, 13_000)).toBe("liveness check failed 3 times in a row, container restarted: tcp 127.0.0.1:80: ECONNREFUSED")
  })

  it("defaults to every 10 s and 3 failures", () => {
    const p = new LivenessProbe({ type: "exec", command: ["true"] }, 0)
    expect(p.nextAt).toBe(10_000)
    const bad = { healthy: false, reason: "exec true: exit 1" }
    expect([p.record(bad, 10_000), p.record(bad, 20_000)]).toEqual([undefined, undefined])
    expect(p.record(bad, 30_000)).toMatch(/^liveness check failed 3 times in a row/)
  })
})

let fx: DockerAgentFixture | undefined
afterEach(async () => {
  await fx?.cleanup()
  fx = undefined
})

describe("liveness on Docker", () => {
  it("restarts a container whose liveness endpoint fails, records why, and leaves a healthy one alone", async () => {
    fx = await dockerAgentFixture("agent-liveness")
    const f = fx
    const h = host("liveness-h1")
    await f.start(h)
    const liveness = { type: "http", port: "http", path: "/healthz", intervalSeconds: 1, failureThreshold: 2 } as const
    const sick = aJob({ id: "live-sick:v1", healthCheck: { type: "http", port: "http", path: "/healthz" }, livenessCheck: liveness })
    const fine = aJob({ id: "live-fine:v1", livenessCheck: liveness })
    for (const job of [sick, fine]) await deploy(f.log, job, h)
    const running = (jobId: string, not?: string) =>
      waitFor(
        async () => {
          const t = await lastTask(f.log, h, jobId)
          return t?.state === "RUNNING" && t.containerId !== undefined && t.containerId !== not ? t : undefined
        },
        { timeoutMs: 30_000, what: `${jobId} RUNNING` },
      )
    const first = await running(sick.id)
    const neighbour = await running(fine.id)

    const removed = await f.runtime.exec(first.containerId!, ["rm", "/www/healthz"], 5_000)
    expect(removed.exitCode).toBe(0)
    const t0 = performance.now()
    const second = await running(sick.id, first.containerId)
    console.log(`health file deleted → new container RUNNING: ${(performance.now() - t0).toFixed(0)} ms (interval 1 s, threshold 2)`)

    const events = await taskEvents(f.log, h, sick.id)
    expect(events.map((e) => e.state)).toEqual([
      ...["PULLING_IMAGE", "CREATING", "STARTING", "HEALTHCHECKING", "RUNNING"],
      "FAILED",
      ...["PULLING_IMAGE", "CREATING", "STARTING", "HEALTHCHECKING", "RUNNING"],
    ])
    const failed = events[5]!
    expect(failed.containerId).toBe(first.containerId)
    expect(failed.error).toMatch(/^liveness check failed 2 times in a row, container restarted: GET http:\/\/127\.0\.0\.1:\d+\/healthz: HTTP 404$/)
    expect(second.containerId).not.toBe(first.containerId)
    // The unhealthy container was stopped (and then cleaned up by the next run).
    expect((await f.containers()).map((c) => c.id)).not.toContain(first.containerId)

    // The healthy neighbour kept its container and reported nothing new.
    expect((await taskEvents(f.log, h, fine.id)).map((e) => e.state)).toEqual(["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"])
    expect((await docker().getContainer(neighbour.containerId!).inspect()).State.Running).toBe(true)
  }, 60_000)
})
