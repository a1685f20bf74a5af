// The compiled programs that scripts/build.mjs writes (dist/ by default) and the bins run: its
// manifest records the size and mtime of every file the bundle was built from, so a changed,
// restored or deleted source makes the bundle stale at the cost of one stat per file (~100 files,
// well under a millisecond). Plain JavaScript: bin/helios.js loads it before any TypeScript loader.
import { readFileSync, statSync } from "node:fs"
import { join, resolve } from "node:path"

export const MANIFEST_NAME = "manifest.json"
export const MANIFEST_FORMAT = 1

/** Size and mtime of each file, by its path relative to root; throws if one is missing. */
export const recordFiles = (root, paths) => {
  const files = {}
  for (const path of [...paths].sort()) {
    const s = statSync(join(root, path))
    files[path] = [s.mtimeMs, s.size]
  }
  return files
}

/**
 * The build in dir if it is up to date with the files it was built from: `{ entry }` (the absolute
 * path of the program's module: `helios` by default, or `helios-master`, `helios-agent`), else
 * `{ stale }` saying why.
 */
export const checkBundle = (dir, program = "helios") => {
  let manifest
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST_NAME), "utf8"))
  } catch (e) {
    return { stale: e?.code === "ENOENT" ? `no build in ${dir} (npm run build)` : `unreadable ${join(dir, MANIFEST_NAME)}` }
  }
  if (manifest?.format !== MANIFEST_FORMAT || typeof manifest.entry !== "string" || typeof manifest.root !== "string" || typeof manifest.files !== "object" || manifest.files === null)
    return { stale: `${join(dir, MANIFEST_NAME)} has an unknown format` }
  const root = resolve(dir, manifest.root)
  for (const [path, recorded] of Object.entries(manifest.files)) {
    const s = statSync(join(root, path), { throwIfNoEntry: false })
    if (s === undefined) return { stale: `${path} was removed since the bundle was built` }
    // Any difference, not just "newer": a restored older version of a file counts too.
    if (!Array.isArray(recorded) || s.mtimeMs !== recorded[0] || s.size !== recorded[1]) return { stale: `${path} changed since the bundle was built` }
  }
  const entry = program === "helios" ? manifest.entry : manifest.entries?.[program]
  if (typeof entry !== "string") return { stale: `${join(dir, MANIFEST_NAME)} has no ${program}` }
  return { entry: join(dir, entry) }
}
