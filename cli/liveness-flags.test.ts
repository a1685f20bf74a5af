import { describe, expect, it } from "vitest"
import { mergeCreateFlags } from "./job-flags.ts"
import type { Job } from "../core/job.ts"
import { inspectLines } from "./commands/inspect.ts"

const empty = { command: [], env: [], metadata: [], labels: [], ports: [], volumes: [], addCapabilities: [], dropCapabilities: [], securityOpt: [] }

describe("helios create --liveness-*", () => {
  it("builds the job's livenessCheck from the flags", () => {
    expect(mergeCreateFlags({}, { ...empty, livenessHttpCheck: "http:/alive", livenessInterval: "5", livenessFailureThreshold: "2" }, {})).toEqual({
      livenessCheck: { type: "http", port: "http", path: "/alive", intervalSeconds: 5, failureThreshold: 2 },
    })
    expect(mergeCreateFlags({}, { ...empty, livenessTcpCheck: "admin" }, {})).toEqual({ livenessCheck: { type: "tcp", port: "admin" } })
    expect(mergeCreateFlags({}, { ...empty, livenessExecCheck: "test -f /ok" }, {})).toEqual({
      livenessCheck: { type: "exec", command: ["test", "-f", "/ok"] },
    })
    expect(mergeCreateFlags({}, empty, {})).toEqual({})
  })

  it("tunes a job file's liveness check; a new check replaces it", () => {
    const base = { livenessCheck: { type: "tcp", port: "http", intervalSeconds: 30 } }
    expect(mergeCreateFlags(base, { ...empty, livenessFailureThreshold: "5" }, {})).toEqual({
      livenessCheck: { type: "tcp", port: "http", intervalSeconds: 30, failureThreshold: 5 },
    })
    expect(mergeCreateFlags(base, { ...empty, livenessHttpCheck: "http:/alive" }, {})).toEqual({
      livenessCheck: { type: "http", port: "http", path: "/alive" },
    })
  })

  it("refuses what cannot be a liveness check, naming the flag", () => {
    expect(() => mergeCreateFlags({}, { ...empty, livenessHttpCheck: "http:/", livenessTcpCheck: "http" }, {})).toThrow(
      "Only one liveness check may be specified (--liveness-http-check, --liveness-tcp-check or --liveness-exec-check)",
    )
    expect(() => mergeCreateFlags({}, { ...empty, livenessHttpCheck: "/alive" }, {})).toThrow("Invalid HTTP liveness check")
    expect(() => mergeCreateFlags({}, { ...empty, livenessTcpCheck: "http", livenessInterval: "often" }, {})).toThrow(
      "--liveness-interval: expected a whole number, got 'often'",
    )
    expect(() => mergeCreateFlags({}, { ...empty, livenessInterval: "5" }, {})).toThrow("need a liveness check")
  })
})

describe("helios inspect", () => {
  const base = { id: "web:v1:0123456789abcdef0123456789abcdef01234567", image: "helios-test/web:latest" } as unknown as Job
  it("shows a job's liveness check with its interval and threshold (defaults filled in)", () => {
    const job = { ...base, livenessCheck: { type: "http", port: "http", path: "/healthz", failureThreshold: 5 } } as Job
    expect(inspectLines(job)).toContain("Liveness check: http, port: http, path: /healthz, every 10 s, restart after 5 failures")
  })
  it("has no liveness line for a job without one (Helios's layout unchanged)", () => {
    expect(inspectLines(base).some((l) => l.startsWith("Liveness"))).toBe(false)
  })
})
