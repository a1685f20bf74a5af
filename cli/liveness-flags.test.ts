import { describe, expect, it } from "vitest"
import { mergeCreateFlags } from "./job-flags.ts"

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
