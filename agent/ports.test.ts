import { createServer } from "node:net"
import { describe, expect, it } from "vitest"
import { canBind, parsePortRange, pickPorts, PortAllocator, shuffled } from "./ports.ts"

describe("port allocation", () => {
  it("parses ranges with : or - and rejects bad ones", () => {
    expect(parsePortRange("20000:32768")).toEqual({ start: 20000, end: 32768 })
    expect(parsePortRange("100-200")).toEqual({ start: 100, end: 200 })
    expect(() => parsePortRange("200:100")).toThrow()
    expect(() => parsePortRange("x")).toThrow()
    expect(() => parsePortRange("1:70000")).toThrow()
  })

  it("shuffles the whole range exactly once (a permutation)", () => {
    const a = shuffled({ start: 10, end: 20 })
    expect([...a].sort((x, y) => x - y)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19])
  })

  it("takes static ports as given and dynamic ones in candidate order, skipping used and unavailable ones", () => {
    const picked = pickPorts(
      { web: {}, admin: {}, fixed: { externalPort: 8080 } },
      new Set([5]),
      [5, 6, 7, 8, 9],
      new Set([6]),
    )
    // names sorted: admin, fixed, web
    expect(picked).toEqual({ admin: 7, fixed: 8080, web: 8 })
  })

  it("fails when a static port is used by another execution or the range runs out", () => {
    expect(pickPorts({ fixed: { externalPort: 8080 } }, new Set([8080]), [1, 2])).toBeUndefined()
    expect(pickPorts({ a: {}, b: {} }, new Set([1]), [1, 2])).toBeUndefined()
  })

  it("never hands the same port to two names", () => {
    const picked = pickPorts({ a: {}, b: {}, c: {}, d: { externalPort: 3 } }, new Set(), [3, 1, 2, 4])!
    expect(new Set(Object.values(picked)).size).toBe(4)
  })

  it("probes dynamic ports and skips ones that cannot be bound", async () => {
    const busy = new Set([21, 23])
    const allocator = new PortAllocator({ start: 20, end: 30 }, async (p) => !busy.has(p), () => 0.999999)
    // random ~1 keeps the identity order
    const ports = await allocator.allocate({ a: {}, b: {}, c: {} }, new Set([20]))
    expect(ports).toEqual({ a: 22, b: 24, c: 25 })
    expect(await allocator.allocate({ a: {} }, new Set(), new Set([20]))).toEqual({ a: 22 })
  })

  it("checks real binds: a listening port is not free", async () => {
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    const port = (server.address() as { port: number }).port
    try {
      expect(await canBind("127.0.0.1", port)).toBe(false)
    } finally {
      server.close()
    }
    expect(await canBind("127.0.0.1", port)).toBe(true)
  })
})
