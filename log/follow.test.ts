/**
 * A follower delivers what the log holds after a wake-up, even when the read that was under way
 * when the wake-up came failed: not only at its next poll.
 */
import { describe, expect, it } from "vitest"
import { waitFor } from "../test/services.ts"
import { follow } from "./follow.ts"

describe("follow", () => {
  it("a wake-up during a read that fails is tried again shortly, not dropped until the next poll", async () => {
    const log: number[] = []
    const delivered: number[] = []
    let failNext = false
    let release: (() => void) | undefined
    const follower = follow({
      after: 0,
      read: async (after) => {
        if (failNext) {
          failNext = false
          // The wake-up comes while this read is under way; then the read fails.
          await new Promise<void>((resolve) => (release = resolve))
          throw new Error("connection loss")
        }
        return log.filter((p) => p > after)
      },
      positionOf: (p) => p,
      deliver: (events) => void delivered.push(...events),
      onError: () => {},
      pollMs: 60_000,
    })
    try {
      failNext = true
      follower.wake()
      await waitFor(() => release)
      log.push(1)
      follower.wake() // an append landed: wake up
      release!()
      await waitFor(() => (delivered.length === 1 ? true : undefined), { timeoutMs: 5_000, what: "the event delivered after the failed read" })
      expect(delivered).toEqual([1])
    } finally {
      follower.stop()
    }
  })
})
