#!/usr/bin/env node
// The `helios` command. Runs the prebuilt CLI (build/cli, made by scripts/build-cli.mjs) when it is
// up to date with the sources, else cli/main.ts through tsx's ESM loader (the same code, but it
// starts ~3x slower). HELIOS_CLI_FROM_SOURCE=1 forces the sources; HELIOS_DEBUG=1 says which ran.
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { checkBundle } from "./cli-bundle.js"

const debug = Boolean(process.env.HELIOS_DEBUG)
const fail = (error) => {
  // One line, never a stack trace (set HELIOS_DEBUG=1 to see one).
  process.stderr.write(`internal error: ${debug ? error?.stack : (error?.message ?? String(error)).split("\n")[0]}\n`)
  process.exit(1)
}
process.on("uncaughtException", fail)
process.on("unhandledRejection", fail)

const fromSource = (process.env.HELIOS_CLI_FROM_SOURCE ?? "") !== "" && process.env.HELIOS_CLI_FROM_SOURCE !== "0"
// HELIOS_CLI_BUNDLE_DIR: a bundle built elsewhere with `scripts/build-cli.mjs --out DIR` (tests).
const bundleDir = process.env.HELIOS_CLI_BUNDLE_DIR || fileURLToPath(new URL("../build/cli", import.meta.url))
const bundle = fromSource ? { stale: "HELIOS_CLI_FROM_SOURCE is set" } : checkBundle(bundleDir)

let main
if (bundle.entry !== undefined) {
  if (debug) {
    process.stderr.write(`helios: running the bundle ${bundle.entry}\n`)
    // Stack traces with the TypeScript sources' lines (the bundle has source maps).
    process.setSourceMapsEnabled(true)
  }
  ;({ main } = await import(pathToFileURL(bundle.entry).href))
} else {
  if (debug) process.stderr.write(`helios: running the sources through tsx: ${bundle.stale}\n`)
  const { register } = await import("tsx/esm/api")
  register()
  ;({ main } = await import("../cli/main.ts"))
}
await main()
