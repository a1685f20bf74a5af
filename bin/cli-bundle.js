// The prebuilt CLI that scripts/build-cli.mjs writes (build/cli by default) and bin/helios.js runs:
// its manifest records the size and mtime of every file the bundle was built from, so a changed,
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
 * The bundle in dir if it is up to date with the files it was built from: `{ entry }` (the absolute
 * path of its main module), else `{ stale }` saying why.
 */
export const checkBundle = (dir) => {
  let manifest
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST_NAME), "utf8"))
  } catch (e) {
    return { stale: e?.code === "ENOENT" ? `no bundle in ${dir} (npm run build:cli)` : `unreadable ${join(dir, MANIFEST_NAME)}` }
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
  return { entry: join(dir, manifest.entry) }
}
