import { readFileSync, writeFileSync } from "node:fs"
import { expect } from "vitest"

/** Damage on disk: one bit flipped in the first occurrence of `text` in `file` (its last byte). */
export const flipBitIn = (file: string, text: string): void => {
  const bytes = readFileSync(file)
  const at = bytes.indexOf(text)
  expect(at, `${text} in ${file}`).toBeGreaterThanOrEqual(0)
  bytes[at + text.length - 1]! ^= 0x02
  writeFileSync(file, bytes)
}
