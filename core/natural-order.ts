/*
 * Helios's AlphaNumericComparator (the order of a deployment group's hosts, hence of a rollout):
 * names are cut into runs of ASCII digits and runs of anything else; digit runs compare as numbers
 * (leading zeros ignored), other runs as text; when all runs so far are equal, the shorter name
 * comes first. So `h2` < `h10`, `web-9.x` < `web-10.x`, `h1` < `h01` (equal numbers: the shorter
 * name first). Names Helios would call equal (`a01b1`, `a1b01`) are ordered by their characters,
 * so the order never depends on the order the names came in.
 *
 * Helios compares the text runs with an English collator. Host names are `[A-Za-z0-9._-]`, for
 * which that means: letters ignoring case first, lower case before upper case on a tie; the
 * punctuation before digits and letters. This compares the same way without a locale library,
 * so the order does not depend on the runtime's ICU version.
 */

const isDigit = (c: number) => c >= 48 && c <= 57

/** The end (exclusive) of the run starting at `i`. */
const runEnd = (s: string, i: number): number => {
  const digits = isDigit(s.charCodeAt(i))
  let j = i + 1
  while (j < s.length && isDigit(s.charCodeAt(j)) === digits) j++
  return j
}

const compareNumbers = (a: string, b: string): number => {
  const x = a.replace(/^0+(?=\d)/, "")
  const y = b.replace(/^0+(?=\d)/, "")
  if (x.length !== y.length) return x.length - y.length
  return x < y ? -1 : x > y ? 1 : 0
}

/** Primary key of a character: punctuation, then digits, then letters without case. */
const primary = (c: string): string => {
  const lower = c.toLowerCase()
  return /[a-z]/.test(lower) ? `2${lower}` : isDigit(c.charCodeAt(0)) ? `1${c}` : `0${c}`
}

const compareText = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const pa = primary(a[i]!)
    const pb = primary(b[i]!)
    if (pa !== pb) return pa < pb ? -1 : 1
  }
  if (a.length !== b.length) return a.length - b.length
  // Tertiary: on equal letters, lower case first.
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] === a[i]!.toLowerCase() ? -1 : 1
  return 0
}

export const compareNatural = (a: string, b: string): number => {
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const ie = runEnd(a, i)
    const je = runEnd(b, j)
    const ra = a.slice(i, ie)
    const rb = b.slice(j, je)
    const r = isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j)) ? compareNumbers(ra, rb) : compareText(ra, rb)
    if (r !== 0) return r
    i = ie
    j = je
  }
  if (a.length !== b.length) return a.length - b.length
  return a < b ? -1 : a > b ? 1 : 0
}

/** A sorted copy, in Helios's host order. */
export const sortedNaturally = (names: Iterable<string>): string[] => [...names].sort(compareNatural)
