import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { decodeOutboxFlags } from "./agent-settings.ts"

const repo = fileURLToPath(new URL("..", import.meta.url))

describe("the agent's --outbox-max-events and --outbox-max-bytes", () => {
  it("absent: the outbox's defaults (nothing passed)", () => {
    expect(decodeOutboxFlags({})).toEqual(Result.succeed({}))
  })

  it("takes a count of events, and a size in bytes with an optional KiB/MiB/GiB", () => {
    expect(decodeOutboxFlags({ maxEvents: "5000", maxBytes: "1048576" })).toEqual(Result.succeed({ maxEvents: 5000, maxBytes: 1048576 }))
    expect(decodeOutboxFlags({ maxBytes: "64MiB" })).toEqual(Result.succeed({ maxBytes: 64 * 1024 * 1024 }))
    expect(decodeOutboxFlags({ maxBytes: "512KiB" })).toEqual(Result.succeed({ maxBytes: 512 * 1024 }))
    expect(decodeOutboxFlags({ maxBytes: "2g" })).toEqual(Result.succeed({ maxBytes: 2 * 1024 ** 3 }))
    expect(decodeOutboxFlags({ maxBytes: "128 M" })).toEqual(Result.succeed({ maxBytes: 128 * 1024 ** 2 }))
  })

  it.each([
    [{ maxEvents: "0" }, "--outbox-max-events: expected a whole number of events, at least 1"],
    [{ maxEvents: "-5" }, "--outbox-max-events: expected a whole number"],
    [{ maxEvents: "1.5" }, "--outbox-max-events: expected a whole number"],
    [{ maxEvents: "lots" }, "--outbox-max-events: expected a whole number"],
    [{ maxEvents: "99999999999999999999" }, "--outbox-max-events: expected at most"],
    [{ maxBytes: "64" }, "--outbox-max-bytes: expected at least 65536 bytes"],
    [{ maxBytes: "64MB" }, "--outbox-max-bytes: expected a size in bytes"],
    [{ maxBytes: "1TiB" }, "--outbox-max-bytes: expected a size in bytes"],
    [{ maxBytes: "" }, "--outbox-max-bytes: expected a size in bytes"],
  ])("%j is refused: %s", (flags, message) => {
    const r = decodeOutboxFlags(flags)
    expect(Result.isFailure(r) && r.failure).toContain(message)
  })

  it("names both flags when both are bad", () => {
    const r = decodeOutboxFlags({ maxEvents: "x", maxBytes: "y" })
    expect(Result.isFailure(r) && r.failure).toMatch(/--outbox-max-events: .*; --outbox-max-bytes: /)
  })

  it("agent/main.ts exits 2 naming the flag (or its environment variable's flag), before connecting anywhere", () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, ["--import", "tsx", "agent/main.ts", "--zk", "127.0.0.1:1", ...args], {
        cwd: repo,
        encoding: "utf8",
        timeout: 30_000,
        env: { ...process.env, ...env },
      })
    const events = run(["--outbox-max-events", "0"])
    expect(events.status).toBe(2)
    expect(events.stderr).toContain("bad --outbox-max-events: expected a whole number of events, at least 1")
    const bytes = run([], { HELIOS_OUTBOX_MAX_BYTES: "10" })
    expect(bytes.status).toBe(2)
    expect(bytes.stderr).toContain("bad --outbox-max-bytes: expected at least 65536 bytes")
    expect(bytes.stderr).toContain("--outbox-max-bytes SIZE") // the usage follows
  })
})
