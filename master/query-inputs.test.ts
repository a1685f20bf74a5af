/**
 * Query parameters and headers the master once parsed loosely: each bad value is refused with a
 * 400 naming it, and a write refused so writes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot } from "../test/services.ts"

let m: TestMaster
beforeAll(async () => {
  m = await startTestMaster(uniqueRoot("query-inputs"), "query-inputs-master")
  expect((await m.call("PUT", "/hosts/qi-h1?id=agent-1")).status).toBe(200)
})
afterAll(async () => {
  await m?.stop()
})

describe("query parameters and headers", () => {
  it.each([
    ["GET", "/events?follow=yes", "follow"],
    ["GET", "/hosts/qi-h1/status?status=BOGUS", "status"],
    ["GET", "/state?at=-1", "at"],
    ["GET", "/state?at=1%2F2%2F3", "at"],
    ["GET", "/state?at=1%20", "at"],
  ])("%s %s answers 400 naming %s", async (method, path, field) => {
    const r = await m.call(method, path)
    expect(r.status).toBe(400)
    expect(JSON.stringify(r.body.errors)).toContain(field)
  })

  it("takes what they are for: follow=false, status=UP, an ISO time with or without its zone", async () => {
    expect((await m.call("GET", "/hosts/qi-h1/status?status=DOWN")).status).toBe(200)
    expect((await m.call("GET", "/state?at=2026-01-01")).status).toBe(200)
    expect((await m.call("GET", `/state?at=${encodeURIComponent(new Date().toISOString())}`)).status).toBe(200)
    expect((await m.call("GET", "/state?at=2026-01-01%2010:00:00")).status).toBe(200)
  })

  it.each([
    [{ "Helios-Command-Id": "retry id 1" }, "", "Helios-Command-Id"],
    [{}, `?user=${encodeURIComponent("\u001b[31mEVIL\nline2")}`, "user"],
    [{}, `?user=${"u".repeat(300)}`, "user"],
  ])("a write with %j%s is refused with a 400 naming %s, and writes nothing", async (headers, query, field) => {
    const before = m.projection.position
    const r = await m.call("POST", `/jobs${query}`, { id: "qi-job:v1", image: "busybox:latest" }, headers)
    expect(r.status).toBe(400)
    expect(JSON.stringify(r.body.errors)).toContain(field)
    expect(m.projection.position).toBe(before)
  })
})
