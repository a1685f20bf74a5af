import { Result, Schema } from "effect"

/*
 * Helios's host selectors (HostSelector.java): `label=value`, `label!=value`, `label in (a, b)`,
 * `label notin (a, b)`. The schema is Helios's JSON shape (`{label, operator, operand}`, operand a
 * string or, for IN/NOT_IN, a list), so a deployment group travels over the API and through the
 * log as Helios writes it. Used by `GET /hosts?selector=` and by deployment groups.
 */

const TOKEN = "[A-Za-z0-9._-]+"
const TOKEN_RE = new RegExp(`^${TOKEN}$`)
const Token = Schema.String.check(Schema.makeFilter((s: string) => TOKEN_RE.test(s) || "Expected letters, digits, '.', '_' or '-'"))

export const EqualitySelector = Schema.Struct({
  label: Token,
  operator: Schema.Literals(["EQUALS", "NOT_EQUALS"]),
  operand: Token,
})
export const SetSelector = Schema.Struct({
  label: Token,
  operator: Schema.Literals(["IN", "NOT_IN"]),
  operand: Schema.Array(Token),
})
/** One selector, told apart by its operator. */
export const HostSelector = Schema.Union([EqualitySelector, SetSelector])
export type HostSelector = typeof HostSelector.Type

const EQ = new RegExp(`^\\s*(${TOKEN})\\s*(!=|=)\\s*(${TOKEN})\\s*$`)
const SET = new RegExp(`^\\s*(${TOKEN})\\s+(in|notin)\\s*\\(([^)]*)\\)\\s*$`)

/** Parses the command-line / query form. Values of `in`/`notin` are kept once each, in order. */
export const parseHostSelector = (text: string): Result.Result<HostSelector, string> => {
  const eq = EQ.exec(text)
  if (eq) return Result.succeed({ label: eq[1]!, operator: eq[2] === "=" ? "EQUALS" : "NOT_EQUALS", operand: eq[3]! })
  const set = SET.exec(text)
  if (set) {
    const values = set[3]!.split(",").map((v) => v.trim())
    if (values.every((v) => TOKEN_RE.test(v)))
      return Result.succeed({ label: set[1]!, operator: set[2] === "in" ? "IN" : "NOT_IN", operand: [...new Set(values)] })
  }
  return Result.fail(`invalid selector "${text}": expected label=value, label!=value, label in (a, b) or label notin (a, b)`)
}

/** Helios's toPrettyString: `role = web`, `zone in [a, b]`. */
export const formatHostSelector = (s: HostSelector): string => {
  switch (s.operator) {
    case "EQUALS":
      return `${s.label} = ${s.operand}`
    case "NOT_EQUALS":
      return `${s.label} != ${s.operand}`
    case "IN":
      return `${s.label} in [${s.operand.join(", ")}]`
    case "NOT_IN":
      return `${s.label} notin [${s.operand.join(", ")}]`
  }
}

/** Whether a host with these labels matches one selector. A missing label never matches, even for != and notin (as in Helios). */
export const selectorMatches = (s: HostSelector, labels: Readonly<Record<string, string>>): boolean => {
  if (!Object.hasOwn(labels, s.label)) return false
  const v = labels[s.label]!
  switch (s.operator) {
    case "EQUALS":
      return v === s.operand
    case "NOT_EQUALS":
      return v !== s.operand
    case "IN":
      return s.operand.includes(v)
    case "NOT_IN":
      return !s.operand.includes(v)
  }
}

/** Every selector matches (true for none: `GET /hosts` without selectors lists every host). */
export const allSelectorsMatch = (selectors: ReadonlyArray<HostSelector>, labels: Readonly<Record<string, string>>): boolean =>
  selectors.every((s) => selectorMatches(s, labels))

/** Same selectors, in any order (Helios compares a recreated group's selectors for CONFLICT). */
export const sameSelectors = (a: ReadonlyArray<HostSelector>, b: ReadonlyArray<HostSelector>): boolean => {
  const key = (s: HostSelector) => JSON.stringify([s.label, s.operator, typeof s.operand === "string" ? s.operand : [...s.operand].sort()])
  const ka = a.map(key).sort()
  const kb = b.map(key).sort()
  return ka.length === kb.length && ka.every((k, i) => k === kb[i])
}
