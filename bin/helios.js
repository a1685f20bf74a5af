#!/usr/bin/env node
// The `helios` command (cli/main.ts): see bin/launch.js for what runs.
import { launch } from "./launch.js"

const debug = Boolean(process.env.HELIOS_DEBUG)
const fail = (error) => {
  // One line, never a stack trace (set HELIOS_DEBUG=1 to see one).
  process.stderr.write(`internal error: ${debug ? error?.stack : (error?.message ?? String(error)).split("\n")[0]}\n`)
  process.exit(1)
}
process.on("uncaughtException", fail)
process.on("unhandledRejection", fail)

await launch("helios", "cli/main.ts")
