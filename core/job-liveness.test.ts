/**
 * The `livenessCheck` job field (beyond Helios, its issue #414): decoded like `healthCheck` plus
 * its two options, hashed only when set, so every existing job id stays what Java Helios computes.
 */
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { decodeJob, type Job } from "./job.ts"
import { canonicalJobJson, computeJobHash } from "./job-id.ts"

const base = { id: "web:1", image: "busybox", ports: { http: { internalPort: 80 } } }

const decoded = (input: unknown): Job => {
  const r = decodeJob(input)
  if (Result.isFailure(r)) throw new Error(JSON.stringify(r.failure))
  return r.success
}

describe("livenessCheck", () => {
  it("leaves the hash of a job without it alone (absent and null alike)", () => {
    const plain = decoded(base)
    expect(canonicalJobJson(plain)).not.toContain("liveness")
    expect(computeJobHash(decoded({ ...base, livenessCheck: null }))).toBe(computeJobHash(plain))
  })

  it("is part of the hash when set, options included, in sorted-key canonical form", () => {
    const plain = computeJobHash(decoded(base))
    const http = decoded({ ...base, livenessCheck: { type: "http", port: "http", path: "/alive" } })
    const tuned = decoded({ ...base, livenessCheck: { type: "http", port: "http", path: "/alive", intervalSeconds: 5, failureThreshold: 2 } })
    expect(computeJobHash(http)).not.toBe(plain)
    expect(computeJobHash(tuned)).not.toBe(computeJobHash(http))
    expect(canonicalJobJson(tuned)).toContain('"livenessCheck":{"failureThreshold":2,"intervalSeconds":5,"path":"/alive","port":"http","type":"http"}')
    expect(canonicalJobJson(decoded({ ...base, livenessCheck: { type: "exec", command: ["true"] } }))).toContain(
      '"livenessCheck":{"command":["true"],"type":"exec"}',
    )
  })

  it("names the field of every bad value", () => {
    const problems = (livenessCheck: unknown) => {
      const r = decodeJob({ ...base, livenessCheck })
      return Result.isFailure(r) ? r.failure.map((e) => `${e.field}: ${e.message}`).join("\n") : ""
    }
    expect(problems({ type: "tcp", port: "admin" })).toContain("livenessCheck.port: Liveness check port 'admin' not defined in the job")
    expect(problems({ type: "http", port: "http", path: "/a", failureThreshold: 0 })).toMatch(/livenessCheck/)
    expect(problems({ type: "http", port: "http", path: "/a", intervalSeconds: 1.5 })).toMatch(/livenessCheck/)
    expect(problems({ type: "exec", command: [] })).toMatch(/livenessCheck/)
    expect(problems({ type: "http", port: "http", path: "/a", every: 3 })).toMatch(/livenessCheck/)
    expect(problems({ type: "tcp", port: "http", failureThreshold: 1, intervalSeconds: 1 })).toBe("")
  })
})
