/** Helios host selectors: `label=value`, `label!=value`, `label in (a, b)`, `label notin (a, b)`. */
export type Selector =
  | { readonly label: string; readonly op: "=" | "!="; readonly value: string }
  | { readonly label: string; readonly op: "in" | "notin"; readonly values: ReadonlyArray<string> }

const TOKEN = "[A-Za-z0-9._-]+"
const EQ = new RegExp(`^\\s*(${TOKEN})\\s*(!=|=)\\s*(${TOKEN})\\s*$`)
const SET = new RegExp(`^\\s*(${TOKEN})\\s+(in|notin)\\s*\\(([^)]*)\\)\\s*$`)

export const parseSelector = (text: string): Selector | Error => {
  const eq = EQ.exec(text)
  if (eq) return { label: eq[1]!, op: eq[2] as "=" | "!=", value: eq[3]! }
  const set = SET.exec(text)
  if (set) {
    const values = set[3]!.split(",").map((v) => v.trim())
    if (values.every((v) => new RegExp(`^${TOKEN}$`).test(v))) return { label: set[1]!, op: set[2] as "in" | "notin", values }
  }
  return new Error(`invalid selector "${text}": expected label=value, label!=value, label in (a, b) or label notin (a, b)`)
}

/** A missing label never matches, even for != and notin (as in Helios). */
export const selectorMatches = (s: Selector, labels: Readonly<Record<string, string>>): boolean => {
  const v = labels[s.label]
  if (v === undefined) return false
  switch (s.op) {
    case "=":
      return v === s.value
    case "!=":
      return v !== s.value
    case "in":
      return s.values.includes(v)
    case "notin":
      return !s.values.includes(v)
  }
}
