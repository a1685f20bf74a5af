#!/usr/bin/env node
// `npm run build`: compiles the three programs to JavaScript in dist/, which bin/helios.js,
// bin/helios-master.js and bin/helios-agent.js run instead of the TypeScript sources (loaded through
// tsx, several times slower to start, and absent from the npm package):
//
//   dist/helios.mjs          cli/main.ts      one ESM module per lazily loaded verb (code splitting)
//   dist/helios-master.mjs   master/main.ts
//   dist/helios-agent.mjs    agent/main.ts    (the three share their common code in dist/chunks/)
//
// Of the npm packages only those in BUNDLED_PACKAGES are bundled: the pure-ESM ones whose many
// modules dominate start-up when loaded from node_modules, and node-zookeeper-client, whose fix in
// patches/ must travel with the code (an installed package's copy is not patched). Every other
// dependency stays external and resolves from node_modules at run time (native better-sqlite3,
// dockerode, msgpackr with its optional native extension...). dist/manifest.json records the size
// and mtime of every file the build was made from, node_modules ones included, so a checkout's bins
// can tell a stale build from a fresh one (bin/cli-bundle.js); an installed package has no sources
// and runs dist/ as it is.
//
//   node scripts/build.mjs [--force] [--out DIR]     (npm run build; scripts/setup.sh; npm pack)
//
// Does nothing when the build is already up to date, unless --force. The new build replaces the old
// one by a directory rename, so a `helios` starting meanwhile never sees half of one.
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join, relative, resolve, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { checkBundle, MANIFEST_FORMAT, MANIFEST_NAME, recordFiles } from "../bin/cli-bundle.js"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
/** The programs, by the name of their bin (and of their module in dist/). */
const PROGRAMS = { helios: "cli/main.ts", "helios-master": "master/main.ts", "helios-agent": "agent/main.ts" }
/** Where the programs' sources live: their files are stat'ed before the build (see below). */
const SOURCE_DIRS = ["cli", "core", "projections", "master", "agent", "log"]
/** Not bundled, but they change what the build makes (version, compiler options, these options). */
const BUILD_INPUTS = ["package.json", "tsconfig.json", "scripts/build.mjs"]
/** Safe to bundle (no native code, no dynamic requires) and better bundled: see above. */
const BUNDLED_PACKAGES = ["effect", "hono", "@hono/node-server", "node-zookeeper-client"]

const log = (m) => process.stderr.write(`build: ${m}\n`)

const { values: opts } = parseArgs({ options: { force: { type: "boolean" }, out: { type: "string" } } })
const out = resolve(opts.out ?? join(ROOT, "dist"))

const current = checkBundle(out)
if (!opts.force && current.entry !== undefined) process.exit(0)

// Loaded only now: the no-op check above then takes ~0.1 s instead of ~0.2 s.
const esbuild = await import("esbuild")

const filesUnder = (dir) =>
  readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(ROOT, join(d.parentPath ?? d.path, d.name)).split(sep).join("/"))

// Stat the sources BEFORE esbuild reads them: a file saved during the build then no longer matches
// the manifest, and the build counts as stale rather than silently missing that edit.
const candidates = [...SOURCE_DIRS.flatMap(filesUnder), ...BUILD_INPUTS]
const before = recordFiles(ROOT, candidates)

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"))
const staging = `${out}.tmp-${process.pid}`
rmSync(staging, { recursive: true, force: true })
const started = Date.now()
const result = await esbuild.build({
  absWorkingDir: ROOT,
  entryPoints: PROGRAMS,
  outdir: staging,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // A package marked external has its subpaths (e.g. `dockerode/lib/x`) external too.
  external: Object.keys(pkg.dependencies ?? {}).filter((name) => !BUNDLED_PACKAGES.includes(name)),
  // The bundled CommonJS packages (node-zookeeper-client) call require() for Node's built-ins.
  banner: { js: 'import { createRequire as __heliosCreateRequire } from "node:module"; const require = __heliosCreateRequire(import.meta.url);' },
  // master/version.ts and agent/host-info.ts read ../package.json from source; the build is elsewhere.
  define: { HELIOS_BUNDLED_VERSION: JSON.stringify(pkg.version) },
  // Bundling renames clashing top-level names; keep class and function `.name`s as in the sources.
  keepNames: true,
  // Maps for stack traces (HELIOS_DEBUG=1), without a copy of every source (9 MB otherwise).
  sourcemap: "linked",
  sourcesContent: false,
  metafile: true,
  logLevel: "warning",
})

const inputs = new Set([...Object.keys(result.metafile.inputs), ...BUILD_INPUTS])
const files = {}
for (const path of [...inputs].sort()) files[path] = before[path] ?? recordFiles(ROOT, [path])[path]
const entries = Object.fromEntries(Object.keys(PROGRAMS).map((name) => [name, `${name}.mjs`]))
const manifest = { format: MANIFEST_FORMAT, entry: entries.helios, entries, root: relative(out, ROOT) || ".", version: pkg.version, files }
writeFileSync(join(staging, MANIFEST_NAME), JSON.stringify(manifest) + "\n")

// Swap the new build in. Another build finishing first (ENOTEMPTY/EEXIST) made the same one.
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
