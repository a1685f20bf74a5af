import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { allSelectorsMatch, formatHostSelector, parseHostSelector, sameSelectors, selectorMatches, type HostSelector } from "./host-selector.ts"
import { compareNatural, sortedNaturally } from "./natural-order.ts"

const parse = (text: string): HostSelector => {
  const r = parseHostSelector(text)
  if (Result.isFailure(r)) throw new Error(r.failure)
  return r.success
}

describe("host selectors", () => {
  it("parse Helios's four operators into its JSON shape", () => {
    expect(parse("role=web")).toEqual({ label: "role", operator: "EQUALS", operand: "web" })
    expect(parse(" role != web ")).toEqual({ label: "role", operator: "NOT_EQUALS", operand: "web" })
    expect(parse("zone in (a, b,a)")).toEqual({ label: "zone", operator: "IN", operand: ["a", "b"] })
    expect(parse("zone notin (a)")).toEqual({ label: "zone", operator: "NOT_IN", operand: ["a"] })
    expect(formatHostSelector(parse("zone in (a, b)"))).toBe("zone in [a, b]")
  })

  it("refuse anything else, naming the expected forms", () => {
    for (const bad of ["role", "a like b", "role=", "=web", "zone in a", "zone in (a b)", "zone in ()", "ro le=web"]) {
      const r = parseHostSelector(bad)
      expect(Result.isFailure(r), bad).toBe(true)
      if (Result.isFailure(r)) expect(r.failure).toMatch(/expected label=value/)
    }
  })

  it("never match a host that lacks the label, even for != and notin", () => {
    const labels = { role: "web" }
    expect(selectorMatches(parse("zone!=eu"), labels)).toBe(false)
    expect(selectorMatches(parse("zone notin (eu)"), labels)).toBe(false)
    expect(selectorMatches(parse("zone in (eu)"), labels)).toBe(false)
    // A label named like an Object.prototype member is not present unless the host has it.
    expect(selectorMatches(parse("constructor!=x"), labels)).toBe(false)
  })

  it("match by value when the label is present", () => {
    const labels = { role: "web", zone: "eu" }
    expect(selectorMatches(parse("role=web"), labels)).toBe(true)
    expect(selectorMatches(parse("role!=web"), labels)).toBe(false)
    expect(selectorMatches(parse("zone in (us, eu)"), labels)).toBe(true)
    expect(selectorMatches(parse("zone notin (us, eu)"), labels)).toBe(false)
    expect(selectorMatches(parse("zone notin (us)"), labels)).toBe(true)
    expect(allSelectorsMatch([parse("role=web"), parse("zone=us")], labels)).toBe(false)
    expect(allSelectorsMatch([parse("role=web"), parse("zone=eu")], labels)).toBe(true)
  })

  it("compare selector lists without regard to order (a recreated group with the same selectors is not a conflict)", () => {
    expect(sameSelectors([parse("a=1"), parse("b in (x, y)")], [parse("b in (y, x)"), parse("a=1")])).toBe(true)
    expect(sameSelectors([parse("a=1")], [parse("a!=1")])).toBe(false)
    expect(sameSelectors([parse("a=1")], [parse("a=1"), parse("a=1")])).toBe(false)
  })
})

describe("natural host order (Helios's AlphaNumericComparator)", () => {
  it("puts h2 before h10 and compares digit runs as numbers", () => {
    expect(sortedNaturally(["h10", "h2", "h1", "h100", "h20"])).toEqual(["h1", "h2", "h10", "h20", "h100"])
    expect(sortedNaturally(["web-10.eu", "web-9.eu", "web-9.us"])).toEqual(["web-9.eu", "web-9.us", "web-10.eu"])
    expect(sortedNaturally(["b1", "A2", "a1"])).toEqual(["a1", "A2", "b1"])
  })

  it("orders equal numbers by length, then characters: a total order", () => {
    expect(sortedNaturally(["h01", "h1"])).toEqual(["h1", "h01"])
    expect(compareNatural("a01b1", "a1b01")).not.toBe(0)
    expect(Math.sign(compareNatural("a01b1", "a1b01"))).toBe(-Math.sign(compareNatural("a1b01", "a01b1")))
    expect(compareNatural("h1", "h1")).toBe(0)
  })
})
