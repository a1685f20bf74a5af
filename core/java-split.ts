/**
 * Java's `s.split(sep, limit)` for limit > 0: at most `limit` parts, trailing empty parts kept.
 * Helios's JobValidator splits image references and volume specs this way.
 */
export const javaSplit = (s: string, sep: string, limit: number): string[] => {
  const parts: string[] = []
  let rest = s
  while (parts.length < limit - 1) {
    const i = rest.indexOf(sep)
    if (i < 0) break
    parts.push(rest.slice(0, i))
    rest = rest.slice(i + sep.length)
  }
  parts.push(rest)
  return parts
}
