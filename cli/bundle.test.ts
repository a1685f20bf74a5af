/**
 * The compiled programs (scripts/build.mjs, bin/cli-bundle.js, bin/launch.js): in a checkout the bins
 * run them only while they are up to date with every file they were built from, and otherwise the
 * TypeScript sources via tsx.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { checkBundle, MANIFEST_FORMAT, MANIFEST_NAME, recordFiles } from "../bin/cli-bundle.js"
import { spawnCli, tempDir, removeTempDirs } from "../test/cli-helpers.ts"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version

afterAll(() => removeTempDirs())

describe("checkBundle", () => {
  /** A root with two sources and a bundle dir inside it whose manifest matches them. */
  const fixture = () => {
    const root = tempDir("bundle-check")
    writeFileSync(join(root, "a.ts"), "export const a = 1\n")
    writeFileSync(join(root, "b.ts"), "export const b = 2\n")
    const out = join(root, "out")
    mkdirSync(out)
    const manifest = {
      format: MANIFEST_FORMAT,
      entry: "helios.mjs",
      entries: { helios: "helios.mjs", "helios-agent": "helios-agent.mjs" },
      root: "..",
      files: recordFiles(root, ["a.ts", "b.ts"]),
    }
    writeFileSync(join(out, MANIFEST_NAME), JSON.stringify(manifest))
    return { root, out }
  }

  it("is fresh while every recorded file is as it was", () => {
    const { out } = fixture()
    expect(checkBundle(out)).toEqual({ entry: join(out, "helios.mjs") })
    expect(checkBundle(out, "helios-agent")).toEqual({ entry: join(out, "helios-agent.mjs") })
    expect(checkBundle(out, "helios-master").stale).toMatch(/has no helios-master$/)
  })

  it("is stale when a source was edited", () => {
    const { root, out } = fixture()
    writeFileSync(join(root, "a.ts"), "export const a = 10\n")
    expect(checkBundle(out)).toEqual({ stale: "a.ts changed since the bundle was built" })
  })

  it("is stale when only a source's mtime moved, even backwards (an older version restored, same size)", () => {
    const { root, out } = fixture()
    const past = new Date(statSync(join(root, "b.ts")).mtimeMs - 86_400_000)
    utimesSync(join(root, "b.ts"), past, past)
    expect(checkBundle(out)).toEqual({ stale: "b.ts changed since the bundle was built" })
  })

  it("is stale when a source was removed", () => {
    const { root, out } = fixture()
    rmSync(join(root, "a.ts"))
    expect(checkBundle(out)).toEqual({ stale: "a.ts was removed since the bundle was built" })
  })

  it("is stale without a manifest, or with one it does not understand", () => {
    const { out } = fixture()
    writeFileSync(join(out, MANIFEST_NAME), JSON.stringify({ format: MANIFEST_FORMAT + 1 }))
    expect(checkBundle(out).stale).toMatch(/unknown format/)
    writeFileSync(join(out, MANIFEST_NAME), "{ truncated")
    expect(checkBundle(out).stale).toMatch(/unreadable/)
    rmSync(join(out, MANIFEST_NAME))
    expect(checkBundle(out).stale).toMatch(/^no build in /)
  })
})

describe("bin/helios.js", () => {
  // Inside the repository, so that the bundle's external packages resolve from node_modules.
  const out = join(ROOT, "build", `cli-test-${randomBytes(4).toString("hex")}`)
  const staleCopy = `${out}-stale`
  const home = tempDir("bundle-home")
  const helios = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
    spawnCli(args, { HOME: home, HELIOS_CLI_BUNDLE_DIR: out, ...env })

  beforeAll(async () => {
    await promisify(execFile)(process.execPath, [join(ROOT, "scripts/build.mjs"), "--force", "--out", out], { timeout: 110_000 })
    // The same bundle, but its manifest remembers cli/main.ts as it was a day earlier.
    cpSync(out, staleCopy, { recursive: true })
    const manifest = JSON.parse(readFileSync(join(staleCopy, MANIFEST_NAME), "utf8")) as { files: Record<string, [number, number]> }
    manifest.files["cli/main.ts"]![0] -= 86_400_000
    writeFileSync(join(staleCopy, MANIFEST_NAME), JSON.stringify(manifest))
  }, 120_000)
  afterAll(() => {
    rmSync(out, { recursive: true, force: true })
    rmSync(staleCopy, { recursive: true, force: true })
  })

  it("runs the fresh bundle, with package.json's version and nothing extra on stderr", async () => {
    expect(await helios(["--version"])).toEqual({ code: 0, stdout: `Client Version: ${VERSION}\n`, stderr: "" })
    const debug = await helios(["--version"], { HELIOS_DEBUG: "1" })
    expect(debug.stderr).toBe(`helios: running the bundle ${join(out, "helios.mjs")}\n`)
  })

  it("falls back to the sources when a file the bundle was built from changed, or when told to", async () => {
    const stale = await helios(["--version"], { HELIOS_CLI_BUNDLE_DIR: staleCopy, HELIOS_DEBUG: "1" })
    expect(stale).toEqual({
      code: 0,
      stdout: `Client Version: ${VERSION}\n`,
      stderr: "helios: running the sources through tsx: cli/main.ts changed since the bundle was built\n",
    })
    const forced = await helios(["--version"], { HELIOS_CLI_FROM_SOURCE: "1", HELIOS_DEBUG: "1" })
    expect(forced.stderr).toBe("helios: running the sources through tsx: HELIOS_CLI_FROM_SOURCE is set\n")
    expect(forced.stdout).toBe(`Client Version: ${VERSION}\n`)
  })

  it("loads every verb's module from the bundle, with the same help as the sources", async () => {
    // `--help` imports all verbs (solo's included), so a module the bundle lost or broke shows here.
    const [bundled, source] = await Promise.all([helios(["--help"]), helios(["--help"], { HELIOS_CLI_FROM_SOURCE: "1" })])
    expect(bundled.code).toBe(0)
    expect(bundled.stdout).toContain("solo")
    expect(bundled).toEqual(source)
  })

  it("runs helios-master and helios-agent from the same build", async () => {
    for (const program of ["helios-master", "helios-agent"]) {
      const r = await promisify(execFile)(process.execPath, [join(ROOT, "bin", `${program}.js`), "--help"], {
        env: { PATH: process.env["PATH"] ?? "", HOME: home, HELIOS_CLI_BUNDLE_DIR: out, HELIOS_DEBUG: "1" },
      })
      expect(r.stderr).toBe(`${program}: running the bundle ${join(out, `${program}.mjs`)}\n`)
      expect(r.stdout).toMatch(new RegExp(`^usage: ${program} \\[options\\]\n`))
    }
  })

  it("keeps failures to one line on stderr and exit code 1", async () => {
    expect(await helios(["no-such-verb"])).toEqual({ code: 1, stdout: "", stderr: "helios: unknown command 'no-such-verb' (see 'helios --help')\n" })
    const unreachable = await helios(["jobs"], { HELIOS_MASTER: "http://127.0.0.1:9" })
    expect(unreachable.code).toBe(1)
    expect(unreachable.stderr.trim().split("\n")).toHaveLength(1)
  })
})
