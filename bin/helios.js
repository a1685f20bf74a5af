#!/usr/bin/env node
// The `helios` command: registers tsx's ESM loader, then runs the TypeScript CLI (cli/main.ts).
import { register } from "tsx/esm/api"

const fail = (error) => {
  // One line, never a stack trace (set HELIOS_DEBUG=1 to see one).
  process.stderr.write(`internal error: ${process.env.HELIOS_DEBUG ? error?.stack : (error?.message ?? String(error)).split("\n")[0]}\n`)
  process.exit(1)
}
process.on("uncaughtException", fail)
process.on("unhandledRejection", fail)

register()
const { main } = await import("../cli/main.ts")
await main()
