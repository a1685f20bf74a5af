/*
 * The JSON that Java Helios hashes to make a job id, reproduced byte for byte.
 *
 * Helios (`Json.sha1digest`) writes the job's parameters with a Jackson 2.9 writer configured with
 * SORT_PROPERTIES_ALPHABETICALLY, ORDER_MAP_ENTRIES_BY_KEYS, WRITE_DATES_AS_TIMESTAMPS=false and the
 * default property inclusion {value: NON_EMPTY, content: ALWAYS}, reads that back as a plain
 * Map<String, Object> and writes it again with the same writer. The net effect, modelled here:
 *
 * - A Java bean (POJO) drops a property that is null, "" or an empty collection/map (NON_EMPTY),
 *   or only a null one when its class says NON_NULL. Zero and false are NOT empty (Jackson >= 2.7).
 *   A bean itself is never "empty": a bean whose properties are all dropped is written as {}.
 * - A Java Map keeps every entry, even one whose value is "", {} or [] (content inclusion ALWAYS).
 * - Every object's keys are sorted by Java's String.compareTo (UTF-16 code units, = JS `sort()`).
 * - No whitespace. Strings are escaped as Jackson's UTF-8 generator does (see `jacksonQuote`; it
 *   escapes surrogates, so the text is pure BMP), and the bytes hashed are its UTF-8 encoding.
 *
 * A `Bean` instance marks a Java bean; a plain object is a Java Map; an array is a Java collection.
 */

/** Which of a bean's properties Jackson writes. */
export type Inclusion = "NON_EMPTY" | "NON_NULL"

/** A value standing for a Java bean: its properties are filtered by `inclusion`, never the bean. */
export class Bean {
  constructor(
    readonly properties: { readonly [property: string]: CanonicalValue | undefined },
    readonly inclusion: Inclusion = "NON_EMPTY",
  ) {}
}

export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | Bean
  | ReadonlyArray<CanonicalValue>
  | { readonly [key: string]: CanonicalValue }

/** A value Jackson's NON_EMPTY leaves out: null, "", an empty collection or an empty map. */
const isEmptyForJackson = (v: CanonicalValue | undefined): boolean => {
  if (v === undefined || v === null) return true
  if (typeof v === "string") return v.length === 0
  if (Array.isArray(v)) return v.length === 0
  if (v instanceof Bean) return false
  if (typeof v === "object") return Object.keys(v).length === 0
  return false
}

// Jackson writes \uXXXX escapes with upper-case hex digits; JSON.stringify uses lower case.
const HEX = "0123456789ABCDEF"
const SHORT_ESCAPES: { readonly [code: number]: string } = {
  0x08: "\\b",
  0x09: "\\t",
  0x0a: "\\n",
  0x0c: "\\f",
  0x0d: "\\r",
  0x22: '\\"',
  0x5c: "\\\\",
}

/** Thrown for a value Helios could not have hashed (a number that is not a Java int or long). */
export class CanonicalJsonError extends Error {
  override readonly name = "CanonicalJsonError"
}

/**
 * A JSON string literal as Jackson's UTF-8 generator writes it: `"` and `\` escaped, the control
 * characters \b \t \n \f \r as short escapes and every other one below U+0020 as `\u00XX`, and
 * every UTF-16 surrogate code unit as its own `\uXXXX` (so U+1F600 becomes `\uD83D\uDE00`), hex in
 * upper case. Everything else (other non-ASCII, U+007F, U+2028/2029, `/`) is written as is.
 */
export const jacksonQuote = (s: string): string => {
  let out = '"'
  let start = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c && (c < 0xd800 || c > 0xdfff)) continue
    out += s.slice(start, i)
    out +=
      SHORT_ESCAPES[c] ??
      `\\u${HEX[(c >> 12) & 0xf]}${HEX[(c >> 8) & 0xf]}${HEX[(c >> 4) & 0xf]}${HEX[c & 0xf]}`
    start = i + 1
  }
  return out + s.slice(start) + '"'
}

/**
 * True when `s` holds a UTF-16 surrogate without its partner (not encodable as UTF-8).
 * String.prototype.isWellFormed (ES2024; every Node this project supports has it) is ~10x cheaper
 * than a /\p{Cs}/u regex, which was 29% of an event's schema decode. ES2022's lib lacks its type.
 */
export const hasLoneSurrogate = (s: string): boolean => !(s as unknown as { isWellFormed(): boolean }).isWellFormed()

const writeNumber = (n: number): string => {
  // Every number a job holds is a Java int or long; Jackson writes those as plain digits.
  if (!Number.isSafeInteger(n)) throw new CanonicalJsonError(`not an integer Helios can hash: ${n}`)
  return String(n) // String(-0) === "0", as Java's int 0
}

const writeEntries = (entries: ReadonlyArray<readonly [string, CanonicalValue]>): string => {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${sorted.map(([k, v]) => `${jacksonQuote(k)}:${canonicalJson(v)}`).join(",")}}`
}

/** The canonical (Helios-hash) JSON text of a value. Throws `CanonicalJsonError` on values Helios rejects. */
export const canonicalJson = (value: CanonicalValue): string => {
  if (value === null) return "null"
  if (typeof value === "boolean") return value ? "true" : "false"
  if (typeof value === "number") return writeNumber(value)
  if (typeof value === "string") return jacksonQuote(value)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  if (value instanceof Bean) {
    const keep = value.inclusion === "NON_NULL"
      ? (v: CanonicalValue | undefined) => v !== undefined && v !== null
      : (v: CanonicalValue | undefined) => !isEmptyForJackson(v)
    const entries: Array<readonly [string, CanonicalValue]> = []
    for (const [k, v] of Object.entries(value.properties)) if (v !== undefined && keep(v)) entries.push([k, v])
    return writeEntries(entries)
  }
  // A Java Map: every entry is written (content inclusion ALWAYS), in key order.
  return writeEntries(Object.entries(value as { readonly [key: string]: CanonicalValue }))
}

/** Java's String.hashCode(): 31-based over UTF-16 code units, wrapping at 32 bits. */
export const javaStringHashCode = (s: string): number => {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h
}

/**
 * The iteration order of a java.util.HashSet<String> (Java 8+) filled by adding `items` one by one
 * to `new HashSet<>()`, as Jackson does when it reads a JSON array into a `Set<String>` field (Helios's
 * addCapabilities/dropCapabilities). Duplicates collapse to their first occurrence.
 *
 * Model: default capacity 16, load factor 0.75, doubling when the size passes the threshold or when
 * a bucket would reach 9 entries while the table is smaller than 64 (HashMap.treeifyBin resizes
 * instead of treeifying). The final order is by bucket index `(h ^ h >>> 16) & (capacity - 1)`, and
 * by insertion order within a bucket (a resize keeps the relative order of a bucket's entries).
 * Not modelled: a bucket that Java really treeifies (a 9th entry in one bucket once the table has
 * 64+ slots, e.g. 11 names with the same String.hashCode) iterates in red-black-tree order. Real
 * capability names never collide like that; checked against OpenJDK 17 on 3,000 random sets.
 */
export const javaHashSetOrder = (items: ReadonlyArray<string>): ReadonlyArray<string> => {
  const spread = (s: string) => {
    const h = javaStringHashCode(s)
    return h ^ (h >>> 16)
  }
  const seen = new Set<string>()
  const entries: Array<{ readonly item: string; readonly hash: number }> = []
  let capacity = 16
  const bucketSize = (hash: number) => entries.filter((e) => ((e.hash ^ hash) & (capacity - 1)) === 0).length
  for (const item of items) {
    if (seen.has(item)) continue
    seen.add(item)
    const hash = spread(item)
    const before = bucketSize(hash)
    entries.push({ item, hash })
    if (before >= 8 && capacity < 64) capacity *= 2 // treeifyBin on a small table resizes
    if (entries.length > capacity * 0.75) capacity *= 2
  }
  const index = (e: { readonly hash: number }) => e.hash & (capacity - 1)
  return entries
    .map((e, order) => ({ ...e, order }))
    .sort((a, b) => index(a) - index(b) || a.order - b.order)
    .map((e) => e.item)
}
