import { Schema } from "effect"
import { hasLoneSurrogate } from "./canonical-json.ts"

/*
 * Strings and maps that survive the msgpack codec exactly: msgpack turns a lone UTF-16 surrogate
 * into U+FFFD, and an own `__proto__` key cannot be rebuilt safely. Input that would not come back
 * as it went in is refused at the schema, with the field named.
 */

export const PROTO_KEY_MESSAGE = "the key __proto__ is not allowed (it cannot be stored safely)"
const SURROGATE_MESSAGE = "Expected well-formed Unicode text (a lone UTF-16 surrogate cannot be stored)"

/** Any string without lone surrogates. */
export const Text = Schema.String.check(Schema.makeFilter((s: string) => !hasLoneSurrogate(s) || SURROGATE_MESSAGE))

/** A map with string keys: no own `__proto__` key, no key with a lone surrogate. */
export const SafeRecord = <V extends Schema.Constraint>(value: V) =>
  Schema.Record(Schema.String, value).check(
    Schema.makeFilter((r: object) => {
      if (Object.hasOwn(r, "__proto__")) return { path: ["__proto__"], issue: PROTO_KEY_MESSAGE }
      const bad = Object.keys(r).find(hasLoneSurrogate)
      return bad === undefined ? undefined : { path: [bad], issue: SURROGATE_MESSAGE }
    }),
  )
