/** A user-supplied regular expression (Helios's namePattern/hostPattern), or an Error naming why not. */
export const userRegex = (source: string | undefined): RegExp | Error | undefined => {
  if (source === undefined || source === "") return undefined
  if (source.length > 256) return new Error("pattern longer than 256 characters")
  try {
    return new RegExp(source)
  } catch (e) {
    return new Error(`not a valid regular expression: ${(e as Error).message}`)
  }
}
