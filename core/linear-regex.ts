/*
 * A linear-time regular-expression matcher for user patterns (Helios's `namePattern`,
 * `hostPattern`). JavaScript's RegExp backtracks: `^([a-z0-9]+)+$` against a 40-character host name
 * that ends in `-` takes longer than the universe's age, and it would block the master's event loop.
 * Here a pattern is parsed into a Thompson NFA and run as a set of states (one pass over the input,
 * O(input × pattern) whatever the pattern), the way RE2 does.
 *
 * The syntax is JavaScript's (no flags), minus what no linear-time engine can do: backreferences
 * (`\1`, `\k<name>`) and lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`) are refused with a reason.
 * `test` answers what `new RegExp(source).test(input)` answers for every pattern it accepts
 * (checked against RegExp by core/linear-regex.test.ts); it only says whether the pattern matches.
 * Pure: no I/O.
 */

/** Largest compiled pattern (NFA states): bounds `{n,m}` expansions, and so the cost per input character. */
export const MAX_PATTERN_STATES = 20_000

type Range = readonly [number, number]
interface CharSet {
  readonly ranges: ReadonlyArray<Range>
  readonly negated: boolean
}
type AssertKind = "start" | "end" | "wordBoundary" | "notWordBoundary"
type Node =
  | { readonly t: "empty" }
  | { readonly t: "set"; readonly set: CharSet }
  | { readonly t: "assert"; readonly kind: AssertKind }
  | { readonly t: "cat"; readonly items: ReadonlyArray<Node> }
  | { readonly t: "alt"; readonly items: ReadonlyArray<Node> }
  | { readonly t: "repeat"; readonly item: Node; readonly min: number; readonly max: number }

class Unsupported extends Error {}

const DIGIT: Range[] = [[0x30, 0x39]]
const WORD: Range[] = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]]
// JavaScript's \s: WhiteSpace and LineTerminator.
const SPACE: Range[] = [
  [0x09, 0x0d], [0x20, 0x20], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029],
  [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff],
]
const LINE_TERMINATORS: Range[] = [[0x0a, 0x0a], [0x0d, 0x0d], [0x2028, 0x2029]]

const inRanges = (ranges: ReadonlyArray<Range>, c: number) => ranges.some(([lo, hi]) => c >= lo && c <= hi)
const setHas = (set: CharSet, c: number) => inRanges(set.ranges, c) !== set.negated
/** The complement of a list of ranges within the UTF-16 code units. */
const complement = (ranges: ReadonlyArray<Range>): Range[] => {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0])
  const out: Range[] = []
  let next = 0
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1])
    next = Math.max(next, hi + 1)
  }
  if (next <= 0xffff) out.push([next, 0xffff])
  return out
}
const isWordChar = (c: number) => inRanges(WORD, c)

/** A class escape (`\d`...) as ranges, or undefined when `ch` is not one. */
const classEscape = (ch: string): Range[] | undefined => {
  switch (ch) {
    case "d": return DIGIT
    case "D": return complement(DIGIT)
    case "w": return WORD
    case "W": return complement(WORD)
    case "s": return SPACE
    case "S": return complement(SPACE)
  }
  return undefined
}

const SYNTAX = "^$\\.*+?()[]{}|/"

class Parser {
  private i = 0
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.alternation()
    if (this.i < this.src.length) throw new Unsupported(`unexpected '${this.src[this.i]}' at ${this.i}`)
    return node
  }

  private peek(): string | undefined {
    return this.src[this.i]
  }

  private alternation(): Node {
    const items = [this.sequence()]
    while (this.peek() === "|") {
      this.i++
      items.push(this.sequence())
    }
    return items.length === 1 ? items[0]! : { t: "alt", items }
  }

  private sequence(): Node {
    const items: Node[] = []
    for (;;) {
      const c = this.peek()
      if (c === undefined || c === "|" || c === ")") break
      const atom = this.atom()
      items.push(this.quantified(atom))
    }
    return items.length === 0 ? { t: "empty" } : items.length === 1 ? items[0]! : { t: "cat", items }
  }

  private quantified(atom: Node): Node {
    let min: number
    let max: number
    const c = this.peek()
    if (c === "*") [min, max] = [0, Infinity]
    else if (c === "+") [min, max] = [1, Infinity]
    else if (c === "?") [min, max] = [0, 1]
    else if (c === "{") {
      const m = /^\{(\d+)(?:(,)(\d*))?\}/.exec(this.src.slice(this.i))
      if (!m) return atom // a literal '{' (Annex B), read as an atom next
      min = Number(m[1])
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3])
      this.i += m[0].length - 1
    } else return atom
    this.i++
    if (this.peek() === "?") this.i++ // lazy: the same answer to "does it match"
    if (this.peek() !== undefined && "*+?".includes(this.peek()!)) throw new Unsupported("nothing to repeat")
    if (!Number.isSafeInteger(min) || (max !== Infinity && !Number.isSafeInteger(max)) || min > max) throw new Unsupported("a bad {n,m}")
    return { t: "repeat", item: atom, min, max }
  }

  private atom(): Node {
    const c = this.src[this.i++]!
    switch (c) {
      case "^":
        return { t: "assert", kind: "start" }
      case "$":
        return { t: "assert", kind: "end" }
      case ".":
        return { t: "set", set: { ranges: LINE_TERMINATORS, negated: true } }
      case "(": {
        if (this.src.startsWith("?:", this.i)) this.i += 2
        else if (this.src.startsWith("?=", this.i) || this.src.startsWith("?!", this.i) || this.src.startsWith("?<=", this.i) || this.src.startsWith("?<!", this.i))
          throw new Unsupported("lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported by the linear-time engine")
        else if (this.src.startsWith("?<", this.i)) {
          const end = this.src.indexOf(">", this.i)
          if (end === -1) throw new Unsupported("an unterminated group name")
          this.i = end + 1
        } else if (this.peek() === "?") throw new Unsupported("an unknown group kind")
        const inner = this.alternation()
        if (this.peek() !== ")") throw new Unsupported("an unterminated group")
        this.i++
        return inner
      }
      case "[":
        return { t: "set", set: this.charClass() }
      case "\\":
        return this.escape()
      case "*":
      case "+":
      case "?":
        throw new Unsupported("nothing to repeat")
      default:
        return literal(c.charCodeAt(0))
    }
  }

  /** After a backslash outside a class. */
  private escape(): Node {
    const c = this.src[this.i++]
    if (c === undefined) throw new Unsupported("a trailing backslash")
    if (c === "b") return { t: "assert", kind: "wordBoundary" }
    if (c === "B") return { t: "assert", kind: "notWordBoundary" }
    const cls = classEscape(c)
    if (cls) return { t: "set", set: { ranges: cls, negated: false } }
    if (/[1-9]/.test(c) || c === "k") throw new Unsupported("backreferences (\\1, \\k<name>) are not supported by the linear-time engine")
    return literal(this.charEscape(c))
  }

  /** A character escape (shared by classes); the backslash and `c` are consumed. */
  private charEscape(c: string): number {
    switch (c) {
      case "t": return 0x09
      case "n": return 0x0a
      case "v": return 0x0b
      case "f": return 0x0c
      case "r": return 0x0d
      case "0":
        if (/[0-9]/.test(this.peek() ?? "")) throw new Unsupported("octal escapes")
        return 0
      case "x": {
        const m = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i))
        if (!m) throw new Unsupported("a bad \\x escape")
        this.i += 2
        return parseInt(m[0], 16)
      }
      case "u": {
        const m = /^[0-9a-fA-F]{4}/.exec(this.src.slice(this.i))
        if (!m) throw new Unsupported("a bad \\u escape")
        this.i += 4
        return parseInt(m[0], 16)
      }
      case "c": {
        const m = /^[A-Za-z]/.exec(this.src.slice(this.i))
        if (!m) throw new Unsupported("a bad \\c escape")
        this.i += 1
        return m[0].charCodeAt(0) % 32
      }
    }
    // Identity escapes: syntax characters and '-', '/'; other letters' meanings vary (Annex B): refused.
    if (SYNTAX.includes(c) || c === "-" || !/[A-Za-z0-9_]/.test(c)) return c.charCodeAt(0)
    throw new Unsupported(`the escape \\${c}`)
  }

  private charClass(): CharSet {
    let negated = false
    if (this.peek() === "^") {
      negated = true
      this.i++
    }
    const ranges: Range[] = []
    // One class item: a code unit, or a class escape's ranges (which cannot bound a range).
    const item = (): number | Range[] => {
      const c = this.src[this.i++]
      if (c === undefined) throw new Unsupported("an unterminated class")
      if (c !== "\\") return c.charCodeAt(0)
      const e = this.src[this.i++]
      if (e === undefined) throw new Unsupported("a trailing backslash")
      if (e === "b") return 0x08
      const cls = classEscape(e)
      if (cls) return cls
      if (/[1-9]/.test(e)) throw new Unsupported("octal escapes")
      return this.charEscape(e)
    }
    while (this.peek() !== "]") {
      if (this.peek() === undefined) throw new Unsupported("an unterminated class")
      const from = item()
      if (this.peek() === "-" && this.src[this.i + 1] !== "]" && this.src[this.i + 1] !== undefined) {
        this.i++
        const to = item()
        if (typeof from === "number" && typeof to === "number") {
          if (from > to) throw new Unsupported("a class range out of order")
          ranges.push([from, to])
          continue
        }
        // Annex B: a class escape next to '-' makes the '-' a literal.
        for (const x of [from, 0x2d, to]) typeof x === "number" ? ranges.push([x, x]) : ranges.push(...x)
        continue
      }
      typeof from === "number" ? ranges.push([from, from]) : ranges.push(...from)
    }
    this.i++
    return { ranges, negated }
  }
}

const literal = (c: number): Node => ({ t: "set", set: { ranges: [[c, c]], negated: false } })

type State =
  | { t: "set"; set: CharSet; out: number }
  | { t: "split"; a: number; b: number }
  | { t: "assert"; kind: AssertKind; out: number }
  | { t: "match" }

/** Builds the NFA backwards: each node is compiled with the state it continues to. */
class Compiler {
  readonly states: State[] = [{ t: "match" }]

  private add(s: State): number {
    if (this.states.length >= MAX_PATTERN_STATES) throw new Unsupported(`the pattern is too large (over ${MAX_PATTERN_STATES} states after expanding {n,m})`)
    this.states.push(s)
    return this.states.length - 1
  }

  compile(node: Node, next: number): number {
    switch (node.t) {
      case "empty":
        return next
      case "set":
        return this.add({ t: "set", set: node.set, out: next })
      case "assert":
        return this.add({ t: "assert", kind: node.kind, out: next })
      case "cat": {
        let k = next
        for (let j = node.items.length - 1; j >= 0; j--) k = this.compile(node.items[j]!, k)
        return k
      }
      case "alt": {
        let k = this.compile(node.items[node.items.length - 1]!, next)
        for (let j = node.items.length - 2; j >= 0; j--) k = this.add({ t: "split", a: this.compile(node.items[j]!, next), b: k })
        return k
      }
      case "repeat": {
        let k = next
        if (node.max === Infinity) {
          const loop = this.add({ t: "split", a: -1, b: next })
          const body = this.compile(node.item, loop)
          ;(this.states[loop] as { a: number }).a = body
          k = loop
        } else {
          for (let j = 0; j < node.max - node.min; j++) k = this.add({ t: "split", a: this.compile(node.item, k), b: next })
        }
        for (let j = 0; j < node.min; j++) k = this.compile(node.item, k)
        return k
      }
    }
  }
}

export interface LinearRegex {
  readonly source: string
  /** Whether the pattern matches somewhere in `input` (RegExp.prototype.test without flags). */
  test(input: string): boolean
}

const assertHolds = (kind: AssertKind, input: string, at: number): boolean => {
  switch (kind) {
    case "start":
      return at === 0
    case "end":
      return at === input.length
    case "wordBoundary":
    case "notWordBoundary": {
      const before = at > 0 && isWordChar(input.charCodeAt(at - 1))
      const after = at < input.length && isWordChar(input.charCodeAt(at))
      return (before !== after) === (kind === "wordBoundary")
    }
  }
}

/** Compiles `source` (JavaScript syntax, no flags); an Error saying why when it cannot run in linear time or is not a pattern. */
export const compileLinearRegex = (source: string): LinearRegex | Error => {
  try {
    new RegExp(source) // the syntax errors JavaScript would name (compiling is linear; only matching backtracks)
  } catch (e) {
    return new Error(`not a valid regular expression: ${(e as Error).message}`)
  }
  let states: State[]
  let start: number
  try {
    const compiler = new Compiler()
    start = compiler.compile(new Parser(source).parse(), 0)
    states = compiler.states
  } catch (e) {
    if (e instanceof Unsupported) return new Error(`not supported: ${e.message}`)
    throw e
  }
  const n = states.length
  const test = (input: string): boolean => {
    // Two lists of states with generation marks: O(states) per input position.
    const mark = new Int32Array(n).fill(-1)
    let current: number[] = []
    let next: number[] = []
    let generation = 0
    const stack: number[] = []
    /** Adds `s` and the states reachable from it without reading (at position `at`); true when it reaches the match. */
    const addClosure = (list: number[], s: number, at: number): boolean => {
      stack.push(s)
      while (stack.length > 0) {
        const k = stack.pop()!
        if (mark[k] === generation) continue
        mark[k] = generation
        const st = states[k]!
        switch (st.t) {
          case "match":
            stack.length = 0
            return true
          case "split":
            stack.push(st.b, st.a)
            break
          case "assert":
            if (assertHolds(st.kind, input, at)) stack.push(st.out)
            break
          case "set":
            list.push(k)
        }
      }
      return false
    }
    for (let at = 0; ; at++) {
      // Unanchored: a match may start at every position.
      if (addClosure(current, start, at)) return true
      if (at === input.length) return false
      const c = input.charCodeAt(at)
      generation++
      for (const k of current) {
        const st = states[k] as Extract<State, { t: "set" }>
        if (setHas(st.set, c) && addClosure(next, st.out, at + 1)) return true
      }
      ;[current, next] = [next, []]
    }
  }
  return { source, test }
}
