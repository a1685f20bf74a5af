/**
 * `npx tsx cli/main.ts …` runs the CLI, as bin/helios.js does (it used to print nothing: main()
 * ran only from the bin); imported, the module only exports.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { HELIOS_VERSION } from "../master/version.ts"

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url))

describe("cli/main.ts run as a script", () => {
  it("prints the version for --version and a usage error for an unknown verb, with their exit codes", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, ["--import", "tsx", MAIN, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      )
    const version = await run(["--version"])
    expect([version.code, version.stdout]).toEqual([0, expect.stringContaining(HELIOS_VERSION)])
    const unknown = await run(["no-such-verb"])
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toMatch(/no-such-verb/)
  }, 120_000)
})
