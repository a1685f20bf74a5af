import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot } from "../test/services.ts"

/*
 * `?after=POSITION&wait=MS` (read-your-writes across masters): a value that is not a whole number
 * of at most 2^53 - 1 is answered 400 at once, naming the field, instead of being waited for (a
 * position no log reaches) or silently replaced by the default wait.
 */
let m: TestMaster
beforeAll(async () => {
  m = await startTestMaster(uniqueRoot("read-after"), "m-read-after")
})
afterAll(async () => {
  await m?.stop()
})

const timed = async (path: string) => {
  const started = Date.now()
  const res = await m.call("GET", path)
  return { ...res, ms: Date.now() - started }
}

describe("?after= and ?wait= on reads", () => {
  it.each(["abc", "-1", "1.5", "1e3", "", " 5", "0x10"])("wait=%j is a 400 naming wait", async (wait) => {
    const res = await timed(`/jobs?after=0&wait=${encodeURIComponent(wait)}`)
    expect([res.status, res.body.status]).toEqual([400, "INVALID_WAIT"])
    expect(res.body.fieldErrors.map((e: { field: string }) => e.field)).toEqual(["wait"])
  })

  it("a bad wait without after is refused too; a good one is accepted", async () => {
    expect((await m.call("GET", "/jobs?wait=abc")).status).toBe(400)
    expect((await m.call("GET", "/jobs?wait=0")).status).toBe(200)
    expect((await m.call("GET", "/jobs?after=0&wait=50")).status).toBe(200)
    // Above the longest wait: held to it, not refused.
    expect((await m.call("GET", "/jobs?after=0&wait=999999999")).status).toBe(200)
  })

  it.each([
    ["2^53", "9007199254740992"],
    ["10^20", "99999999999999999999"],
    ["400 digits", "1".repeat(400)],
  ])("after=%s (beyond 2^53 - 1) is a 400 naming after, at once", async (_, after) => {
      const res = await timed(`/hosts?after=${after}&wait=8000`)
      expect([res.status, res.body.status]).toEqual([400, "INVALID_AFTER"])
      expect(res.body.fieldErrors.map((e: { field: string }) => e.field)).toEqual(["after"])
      expect(res.ms).toBeLessThan(4_000)
  })

  it("both bad: both named, the status names after", async () => {
    const res = await m.call("GET", "/jobs?after=x&wait=y")
    expect([res.status, res.body.status]).toEqual([400, "INVALID_AFTER"])
    expect(res.body.fieldErrors.map((e: { field: string }) => e.field).sort()).toEqual(["after", "wait"])
  })

  it("GET /events takes the same after: beyond 2^53 - 1 is a 400", async () => {
    const res = await m.call("GET", "/events?after=9007199254740992")
    expect([res.status, res.body.status]).toEqual([400, "INVALID_AFTER"])
    expect((await m.call("GET", "/events?after=1e3")).status).toBe(400)
    expect((await m.call("GET", "/events?after=0")).status).toBe(200)
  })

  it("the largest safe position is valid: waited for (briefly here), then 503 NOT_CAUGHT_UP", async () => {
    const res = await timed(`/jobs?after=${Number.MAX_SAFE_INTEGER}&wait=100`)
    expect([res.status, res.body.status]).toEqual([503, "NOT_CAUGHT_UP"])
  })
})
