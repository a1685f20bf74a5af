import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { compileLinearRegex, type LinearRegex } from "./linear-regex.ts"
import { check } from "../properties/support.ts"

const compiled = (source: string): LinearRegex => {
  const r = compileLinearRegex(source)
  if (r instanceof Error) throw r
  return r
}

/** Patterns over a small alphabet, built from every construct the engine accepts. */
const pattern: fc.Arbitrary<string> = fc.letrec<{ p: string; atom: string }>((tie) => ({
  atom: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("a", "b", "-", ".", "\\d", "\\w", "\\s", "\\W", "[ab]", "[^a]", "[a-c0-9]", "[\\d-]", "\\.", "\\-", "[]", "[^]", "{", "}", "]", "\\x61", "\\u0062"),
    tie("p").map((p) => `(${p})`),
    tie("p").map((p) => `(?:${p})`),
  ),
  p: fc
    .array(
      fc.tuple(
        fc.oneof(tie("atom"), fc.constantFrom("^", "$", "\\b", "\\B")),
        fc.constantFrom("", "", "", "*", "+", "?", "{2}", "{0,2}", "{1,}", "*?", "+?"),
      ),
      { maxLength: 4 },
    )
    .chain((parts) =>
      fc.constant(parts.map(([a, q]) => (["^", "$", "\\b", "\\B"].includes(a) ? a : a + q)).join("")),
    )
    .chain((seq) => fc.oneof(fc.constant(seq), tie("p").map((other) => `${seq}|${other}`))),
})).p

describe("linear-time patterns (namePattern, hostPattern)", () => {
  // The oracle is JavaScript's backtracking RegExp: a long generated pattern can take it minutes on an
  // 8-character input (exponential), so patterns stay short; the engine itself is linear at any size.
  it("answer as RegExp does for every accepted pattern", () => {
    check(
      fc.property(pattern.filter((p) => p.length <= 40), fc.array(fc.string({ unit: fc.constantFrom("a", "b", "c", "-", "0", " ", ".", "\n", "_") , maxLength: 8 }), { minLength: 1, maxLength: 6 }), (source, inputs) => {
        let expected: RegExp
        try {
          expected = new RegExp(source)
        } catch {
          return // not a pattern for JavaScript either
        }
        const r = compileLinearRegex(source)
        if (r instanceof Error) throw new Error(`refused ${JSON.stringify(source)}: ${r.message}`)
        for (const input of inputs) expect(r.test(input), `${JSON.stringify(source)} on ${JSON.stringify(input)}`).toBe(expected.test(input))
      }),
      { runs: 2000, seed: 4711 },
    )
  })

  it("run a catastrophic pattern over a long host name in linear time", () => {
    const host = "a".repeat(39) + "-"
    for (const source of ["^([a-z0-9]+)+$", "^(a|a)*$", "(a*)*b", "^(\\w+\\s?)*$", "(.*a){20}z", ".*.*.*.*.*.*.*.*.*.*x"]) {
      const started = performance.now()
      expect(compiled(source).test(host.repeat(100)), source).toBe(false)
      expect(performance.now() - started, source).toBeLessThan(100)
    }
  })

  it("refuse backreferences, lookaround and oversized expansions, and name JavaScript's syntax errors", () => {
    for (const [source, reason] of [
      ["(a)\\1", /backreferences/],
      ["(?<x>a)\\k<x>", /backreferences/],
      ["a(?=b)", /lookahead/],
      ["(?<!a)b", /lookahead and lookbehind/],
      ["(a{1000}){1000}", /too large/],
      ["([a-z]", /not a valid regular expression/],
      ["a**", /not a valid regular expression/],
    ] as const) {
      const r = compileLinearRegex(source)
      expect(r, source).toBeInstanceOf(Error)
      expect((r as Error).message, source).toMatch(reason)
    }
  })

  it("match common host patterns", () => {
    expect(compiled("^web-\\d+$").test("web-12")).toBe(true)
    expect(compiled("^web-\\d+$").test("web-12x")).toBe(false)
    expect(compiled("db|cache").test("eu-cache-3")).toBe(true)
    expect(compiled("^h[0-9]{2}\\.example\\.com$").test("h07.example.com")).toBe(true)
    expect(compiled("").test("anything")).toBe(true)
  })
})
