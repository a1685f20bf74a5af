import fc from "fast-check"
import { crc32 } from "node:zlib"
import { describe, expect, it } from "vitest"
import { crc32Combine, crc32Shift } from "../master/crc32-combine.ts"
import { check } from "./support.ts"

/*
 * A gzip answer joined from kept segments takes its CRC-32 from theirs (master/large-answer.ts).
 * Invariant: for any bytes A and B, combining the CRC of A with the CRC and shift of B gives the
 * CRC of A then B, as zlib computes it over the joined bytes; so does folding any number of parts.
 */

const bytes = fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a))

describe("CRC-32 of joined bytes from the parts' CRCs", () => {
  it("crc32Combine(crc(A), crc(B), crc32Shift(|B|)) is crc(A then B), for parts of any length, folded over any number of them", () => {
    check(
      fc.property(fc.array(bytes, { maxLength: 8 }), (parts) => {
        const folded = parts.reduce((crc, part) => crc32Combine(crc, crc32(part), crc32Shift(part.length)), 0)
        expect(folded).toBe(crc32(Buffer.concat(parts)))
      }),
      { runs: 200, seed: 3301 },
    )
  })

  it("holds for a part of 2^29 bytes and more (its shift walks past the table's 32 powers, as zlib's does)", () => {
    const big = Buffer.alloc(2 ** 29 + 3, 1)
    const head = Buffer.from("helios")
    expect(crc32Combine(crc32(head), crc32(big), crc32Shift(big.length))).toBe(crc32(big, crc32(head)))
  })
})
