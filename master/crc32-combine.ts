/*
 * The CRC-32 of bytes joined from the CRC-32s of their parts (zlib's crc32_combine, which Node does
 * not expose), so an answer joined from kept segments does not read their bytes again for its gzip
 * trailer. CRC-32 is linear over GF(2): the CRC of A then B is the CRC of A carried past len(B) zero
 * bytes (multiplied by x^(8·len(B)) modulo the CRC polynomial), XORed with the CRC of B. Polynomials
 * are 32-bit words, reflected as in the CRC itself.
 */

/** The CRC-32 polynomial, reflected. */
const POLY = 0xedb88320

/** a·b modulo the CRC polynomial (reflected: bit 31 is x^0). */
const multiplyModP = (a: number, b: number): number => {
  let m = 0x80000000
  let p = 0
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b
      if ((a & (m - 1)) === 0) break
    }
    m >>>= 1
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1
  }
  return p >>> 0
}

/** x^(2^k) modulo the polynomial, k = 0..31 (x^1 is 0x40000000 reflected). */
const X_POW_2K: number[] = (() => {
  const table: number[] = []
  let p = 0x40000000
  for (let k = 0; k < 32; k++) {
    table.push(p)
    p = multiplyModP(p, p)
  }
  return table
})()

/** x^(8·bytes) modulo the polynomial: what carries a CRC past `bytes` zero bytes (a factor to keep with a part). */
export const crc32Shift = (bytes: number): number => {
  // 8·bytes = 2^3·bytes: start at k = 3 and walk the bits of `bytes`.
  let p = 0x80000000 // x^0
  let k = 3
  for (let n = bytes; n > 0; n = Math.floor(n / 2), k++) if (n % 2 === 1) p = multiplyModP(X_POW_2K[k % 32]!, p)
  return p
}

/** The CRC-32 of A then B, from the CRC of A and, of B, its CRC and its crc32Shift. */
export const crc32Combine = (crcA: number, crcB: number, shiftB: number): number => (multiplyModP(shiftB, crcA) ^ crcB) >>> 0
