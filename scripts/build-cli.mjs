#!/usr/bin/env node
// Builds the bundled CLI that bin/helios.js runs instead of the TypeScript sources (which it loads
// through tsx, several times slower to start): cli/main.ts and everything it imports, one ESM module
// per lazily loaded verb (esbuild code splitting). Of the npm packages only the pure-ESM ones in
// BUNDLED_PACKAGES are bundled (loading effect's many modules from node_modules dominates start-up);
// every other dependency stays external and resolves from node_modules at run time (native
// better-sqlite3, dockerode, the patched node-zookeeper-client...). Writes build/cli/ with a manifest
// of the size and mtime of every file it was built from, node_modules ones included (bin/cli-bundle.js).
//
//   node scripts/build-cli.mjs [--force] [--out DIR]     (npm run build:cli; scripts/setup.sh)
//
// Does nothing when the bundle is already up to date, unless --force. The new bundle replaces the
// old one by a directory rename, so a `helios` starting meanwhile never sees half of one.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative, resolve, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { checkBundle, MANIFEST_FORMAT, MANIFEST_NAME, recordFiles } from "../bin/cli-bundle.js"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const ENTRY = "cli/main.ts"
/** Where the bundle's sources live: their files are stat'ed before the build (see below). */
const SOURCE_DIRS = ["cli", "core", "projections", "master", "agent", "log"]
/** Not bundled, but they change what the build makes (version, compiler options, these options). */
const BUILD_INPUTS = ["package.json", "tsconfig.json", "scripts/build-cli.mjs"]
/** Pure ESM, no native code, no dynamic requires: safe to bundle, and much faster to load bundled. */
const BUNDLED_PACKAGES = ["effect", "hono", "@hono/node-server"]

const log = (m) => process.stderr.write(`build-cli: ${m}\n`)

const { values: opts } = parseArgs({ options: { force: { type: "boolean" }, out: { type: "string" } } })
const out = resolve(opts.out ?? join(ROOT, "build", "cli"))

const current = checkBundle(out)
if (!opts.force && current.entry !== undefined) process.exit(0)

// Loaded only now: the no-op check above then takes ~0.1 s instead of ~0.2 s.
const esbuild = await import("esbuild")

const filesUnder = (dir) =>
  readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(ROOT, join(d.parentPath ?? d.path, d.name)).split(sep).join("/"))

// Stat the sources BEFORE esbuild reads them: a file saved during the build then no longer matches
// the manifest, and the bundle counts as stale rather than silently missing that edit.
const candidates = [...SOURCE_DIRS.flatMap(filesUnder), ...BUILD_INPUTS]
const before = recordFiles(ROOT, candidates)

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"))
const staging = `${out}.tmp-${process.pid}`
rmSync(staging, { recursive: true, force: true })
const started = Date.now()
const result = await esbuild.build({
  absWorkingDir: ROOT,
  entryPoints: { main: ENTRY },
  outdir: staging,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // A package marked external has its subpaths (e.g. `dockerode/lib/x`) external too.
  external: Object.keys(pkg.dependencies ?? {}).filter((name) => !BUNDLED_PACKAGES.includes(name)),
  // master/version.ts and agent/host-info.ts read ../package.json from source; the bundle is elsewhere.
  define: { HELIOS_BUNDLED_VERSION: JSON.stringify(pkg.version) },
  // Bundling renames clashing top-level names; keep class and function `.name`s as in the sources.
  keepNames: true,
  sourcemap: "linked",
  metafile: true,
  logLevel: "warning",
})

const inputs = new Set([...Object.keys(result.metafile.inputs), ...BUILD_INPUTS])
const files = {}
for (const path of [...inputs].sort()) files[path] = before[path] ?? recordFiles(ROOT, [path])[path]
const manifest = { format: MANIFEST_FORMAT, entry: "main.mjs", root: relative(out, ROOT) || ".", version: pkg.version, files }
writeFileSync(join(staging, MANIFEST_NAME), JSON.stringify(manifest) + "\n")

// Swap the new bundle in. Another build finishing first (ENOTEMPTY/EEXIST) made the same bundle.
const old = `${out}.old-${process.pid}`
try {
  renameSync(out, old)
} catch (e) {
  if (e.code !== "ENOENT") throw e
}
try {
  renameSync(staging, out)
} catch (e) {
  if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e
  rmSync(staging, { recursive: true, force: true })
}
rmSync(old, { recursive: true, force: true })
log(`built ${relative(ROOT, out) || out} from ${inputs.size} files in ${Date.now() - started} ms (${opts.force ? "--force" : current.stale})`)
