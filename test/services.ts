/**
 * Shared services for test files (inside vitest workers).
 *
 * ONE ZooKeeper server serves the whole run (started by test/global-setup.ts). Tests never share
 * state on it: every test (or suite) works under its own root from uniqueRoot().
 */
import { randomBytes } from "node:crypto"
import { inject } from "vitest"

/** Connect string ("127.0.0.1:PORT") of the run's ZooKeeper server. */
export function zkConnect(): string {
  return inject("zkConnect")
}

/** Port of the run's ZooKeeper server (for a forwarder in front of it). */
export function zkPort(): number {
  return Number(zkConnect().split(":").at(-1))
}

/** A fresh ZooKeeper path such as `/t-leader-election-3f9a1c0b2d4e` (not created). */
export function uniqueRoot(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "test"
  return `/t-${safe}-${randomBytes(6).toString("hex")}`
}

/**
 * Poll `probe` until it returns a value other than undefined (or stops throwing), every
 * `intervalMs`, failing after `timeoutMs` with the last error. For "wait until X" in tests
 * instead of fixed sleeps.
 */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000
  const intervalMs = opts.intervalMs ?? 50
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : ""
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? "condition"}${detail}`, { cause: lastError })
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
