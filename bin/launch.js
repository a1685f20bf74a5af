// Starts one of the programs (bin/helios.js, bin/helios-master.js, bin/helios-agent.js):
//  - in an installed package (npm pack / npm install: no TypeScript sources beside bin/), the
//    compiled program in dist/ as it is;
//  - in a checkout, the compiled program while dist/ is up to date with every file it was built
//    from (scripts/build.mjs, bin/cli-bundle.js), else the TypeScript sources through tsx's ESM
//    loader (the same code, several times slower to start).
// HELIOS_CLI_FROM_SOURCE=1 forces the sources; HELIOS_CLI_BUNDLE_DIR=DIR runs a build made with
// `scripts/build.mjs --out DIR` (tests); HELIOS_DEBUG=1 says which ran.
import { existsSync } from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"
import { checkBundle } from "./cli-bundle.js"

const ROOT = new URL("../", import.meta.url)

/**
 * Runs `program` (its module's `main()` if it exports one; master and agent run on import).
 * `source` is its TypeScript entry, relative to the package root.
 */
export const launch = async (program, source) => {
  const debug = Boolean(process.env.HELIOS_DEBUG)
  const fromSource = (process.env.HELIOS_CLI_FROM_SOURCE ?? "") !== "" && process.env.HELIOS_CLI_FROM_SOURCE !== "0"
  const bundleDir = process.env.HELIOS_CLI_BUNDLE_DIR || fileURLToPath(new URL("dist", ROOT))
  const sourceFile = fileURLToPath(new URL(source, ROOT))
  const installed = !existsSync(sourceFile)
  const build = installed
    ? { entry: installedEntry(bundleDir, program) }
    : fromSource
      ? { stale: "HELIOS_CLI_FROM_SOURCE is set" }
      : checkBundle(bundleDir, program)

  let module
  if (build.entry !== undefined) {
    if (debug) {
      process.stderr.write(`${program}: running the bundle ${build.entry}\n`)
      // Stack traces with the TypeScript sources' lines (the build has source maps).
      process.setSourceMapsEnabled(true)
    }
    module = await import(pathToFileURL(build.entry).href)
  } else {
    if (debug) process.stderr.write(`${program}: running the sources through tsx: ${build.stale}\n`)
    const { register } = await import("tsx/esm/api")
    register()
    module = await import(pathToFileURL(sourceFile).href)
  }
  if (typeof module.main === "function") await module.main()
}

/** An installed package's build: its sources are absent by design, so the manifest's record of them is moot. */
const installedEntry = (dir, program) => {
  const entry = fileURLToPath(new URL(`${program}.mjs`, pathToFileURL(`${dir}/`)))
  if (existsSync(entry)) return entry
  process.stderr.write(`${program}: this installation has neither its compiled program (${entry}) nor its sources; reinstall the package\n`)
  process.exit(1)
}
