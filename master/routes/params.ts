import { compileLinearRegex, type LinearRegex } from "../../core/linear-regex.ts"

/**
 * A user-supplied regular expression (Helios's namePattern/hostPattern), or an Error naming why not.
 * It runs on a linear-time engine (core/linear-regex.ts): no pattern can block the master (ReDoS);
 * backreferences and lookaround are refused.
 */
export const userRegex = (source: string | undefined): LinearRegex | Error | undefined => {
  if (source === undefined || source === "") return undefined
  if (source.length > 256) return new Error("pattern longer than 256 characters")
  return compileLinearRegex(source)
}
