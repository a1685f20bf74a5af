/**
 * The npm package as an operator gets it: `npm pack` in this checkout, `npm install --prefix TMP`
 * of the tarball (its dependencies resolved as for any install), then only the installed bins run,
 * with a PATH that has no TypeScript toolchain: `helios --version`, `helios-master --help`,
 * `helios-agent --help`, a solo round trip (create, jobs, deploy on the real Docker engine, status,
 * undeploy, stop), a master on the suite's ZooKeeper configured by packaging/etc/helios's example,
 * and the systemd units checked by systemd-analyze against the installed bins.
 *
 * better-sqlite3 is native: npm installs it through prebuild-install, which downloads a prebuilt
 * binary from GitHub or else compiles it (about two minutes on 2 cores). This machine cannot reach
 * GitHub, so the test hands prebuild-install a local prebuilt tarball made from this checkout's
 * binary (same package version, same Node ABI): what an offline site's prebuild mirror does
 * (npm_config_better_sqlite3_local_prebuilds). Without that binary the install compiles.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { delimiter, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort, tempDir, removeTempDirs, cells } from "./cli-helpers.ts"
import { removeContainersByLabel, TEST_IMAGE, TEST_LABEL } from "./docker.ts"
import { uniqueRoot, waitFor, zkConnect } from "./services.ts"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string; bin: Record<string, string> }
const run = promisify(execFile)

const dir = tempDir("package")
const prefix = join(dir, "prefix")
const home = join(dir, "home")
const installed = join(prefix, "node_modules", PKG.name)
const bin = (name: string) => join(prefix, "node_modules", ".bin", name)
const suffix = dir.slice(-6).replace(/[^A-Za-z0-9]/g, "x")
const containerLabel = `${TEST_LABEL}=package-${suffix}`
/** No node_modules/.bin of this checkout (tsx...) on the installed programs' PATH. */
const PATH = (process.env["PATH"] ?? "").split(delimiter).filter((p) => !p.includes("node_modules")).join(delimiter)
const children = new Set<ChildProcess>()
let tarball: string

/** Runs an installed bin to completion: exit code and output, never throws. */
const exec = (name: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(bin(name), args, { env: { PATH, HOME: home, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }),
    ),
  )

/** `helios ...`, exit 0 and nothing on stderr required; returns stdout. */
const helios = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const r = await exec("helios", args, env)
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" })
  return r.stdout
}

/** A long-running installed bin: its output so far, and a stop (SIGTERM) that resolves with its exit code. */
const daemon = (name: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const child = spawn(bin(name), args, { env: { PATH, HOME: home, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  children.add(child)
  let out = ""
  let err = ""
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => (children.delete(child), resolve(code))))
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

/** The tarball prebuild-install looks for, made from this checkout's compiled better-sqlite3 (undefined if it has none). */
const localPrebuilds = async (): Promise<string | undefined> => {
  const pkgDir = join(ROOT, "node_modules", "better-sqlite3")
  if (!existsSync(join(pkgDir, "build", "Release", "better_sqlite3.node"))) return undefined
  const { version } = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { version: string }
  const out = join(dir, "prebuilds")
  mkdirSync(out)
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
  await run("tar", ["-czf", join(out, name), "-C", pkgDir, "build/Release/better_sqlite3.node"])
  return out
}

beforeAll(async () => {
  mkdirSync(home)
  mkdirSync(prefix)
  // npm pack runs the prepack script: scripts/build.mjs (a no-op when dist/ is up to date).
  const packed = await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: ROOT, timeout: 120_000, maxBuffer: 16 << 20 })
  tarball = join(dir, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename)
  const prebuilds = await localPrebuilds()
  await run("npm", ["install", "--prefix", prefix, "--no-audit", "--no-fund", "--prefer-offline", "--loglevel", "error", tarball], {
    cwd: dir,
    timeout: 240_000,
    maxBuffer: 16 << 20,
    env: {
      // Not the npm_* variables of an outer `npm test`: they would configure this install too.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
      PATH,
      npm_config_update_notifier: "false",
      ...(prebuilds ? { npm_config_better_sqlite3_local_prebuilds: prebuilds } : {}),
    },
  })
}, 300_000)

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL")
  await removeContainersByLabel(containerLabel)
  removeTempDirs()
})

describe("the npm package", () => {
  it("holds the compiled programs, the bins, the systemd units and the example configuration, and no TypeScript", async () => {
    const listed = await run("tar", ["-tzf", tarball])
    const files = listed.stdout.split("\n").filter((f) => f !== "").map((f) => f.replace(/^package\//, ""))
    expect(files).toEqual(expect.arrayContaining([
      "package.json",
      "bin/helios.js",
      "bin/helios-master.js",
      "bin/helios-agent.js",
      "dist/helios.mjs",
      "dist/helios-master.mjs",
      "dist/helios-agent.mjs",
      "packaging/systemd/helios-master.service",
      "packaging/systemd/helios-agent.service",
      "packaging/etc/helios/helios-master.conf",
      "packaging/etc/helios/helios-agent.conf",
    ]))
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([])
    expect(Object.keys(PKG.bin).sort()).toEqual(["helios", "helios-agent", "helios-master"])
    expect(readdirSync(join(installed, "dist"))).toContain("helios.mjs")
  })

  it("helios --version, helios-master --help and helios-agent --help run the compiled programs", async () => {
    const version = await exec("helios", ["--version"], { HELIOS_DEBUG: "1" })
    expect(version).toEqual({ code: 0, stdout: `Client Version: ${PKG.version}\n`, stderr: `helios: running the bundle ${join(installed, "dist", "helios.mjs")}\n` })
    const master = await exec("helios-master", ["--help"])
    expect(master.code).toBe(0)
    expect(master.stdout).toMatch(/^usage: helios-master \[options\]\n/)
    expect(master.stdout).toContain("--zk HOST:PORT")
    const agent = await exec("helios-agent", ["--help"])
    expect(agent.code).toBe(0)
    expect(agent.stdout).toMatch(/^usage: helios-agent \[options\]\n/)
    // A bad flag: a short complaint and the usage, exit 2.
    const bad = await exec("helios-master", ["--no-such-flag"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^helios-master: Unknown option '--no-such-flag'/)
  })

  it("helios solo round trip: version, create, jobs, deploy on Docker, status, undeploy, stop", async () => {
    const port = await freePort()
    const hostName = `pkg-solo-${suffix}`
    const solo = daemon("helios", ["solo", "--json", "--port", String(port), "--data-dir", join(dir, "solo"), "--name", hostName, "--container-label", containerLabel])
    const running = await waitFor(
      () => {
        if (solo.child.exitCode !== null) throw new Error(`helios solo exited with ${solo.child.exitCode}: ${solo.stderr()}`)
        const line = solo.stdout().split("\n").find((l) => l.startsWith("{"))
        return line === undefined ? undefined : (JSON.parse(line) as { status: string; url: string; host: string })
      },
      { timeoutMs: 60_000, intervalMs: 100, what: "helios solo to say it is running" },
    )
    expect(running).toMatchObject({ status: "RUNNING", url: `http://127.0.0.1:${port}`, host: hostName })
    const env = { HELIOS_MASTER: running.url }

    expect(await helios(["version"], env)).toBe(`Client Version: ${PKG.version}\nMaster Version: ${PKG.version}\n`)
    const id = (await helios(["create", "-q", "pkg:v1", TEST_IMAGE], env)).trim()
    expect(id).toMatch(/^pkg:v1:[0-9a-f]{40}$/)
    expect((await helios(["jobs", "-q"], env)).trim().split("\n")).toEqual([id])
    await waitFor(async () => ((await exec("helios", ["hosts", "-q"], env)).stdout.includes(hostName) ? true : undefined), { timeoutMs: 30_000, what: "the host" })

    await helios(["deploy", id, hostName], env)
    await waitFor(
      async () => {
        const rows = (await helios(["status", "--job", id], env)).trim().split("\n").slice(1).map(cells)
        return rows.find((c) => c[1] === hostName && c[3] === "RUNNING")
      },
      { timeoutMs: 60_000, intervalMs: 250, what: `${id} RUNNING on ${hostName}` },
    )
    await helios(["undeploy", "--all", "--yes", id], env)
    await helios(["remove", "--yes", id], env)
    expect((await helios(["jobs", "-q"], env)).trim()).toBe("")

    expect(await solo.stop()).toBe(0)
  })

  it("helios-master on ZooKeeper, configured by the example helios-master.conf, serves the CLI and its OpenAPI document", async () => {
    // The example's variables, with this test's ZooKeeper, root and port in place of the example's.
    const conf = Object.fromEntries(
      readFileSync(join(installed, "packaging/etc/helios/helios-master.conf"), "utf8")
        .split("\n")
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    )
    expect(Object.keys(conf)).toEqual(expect.arrayContaining(["HELIOS_ZK", "HELIOS_ZK_ROOT", "HELIOS_MASTER_PORT", "HELIOS_MASTER_OPTS"]))
    const port = await freePort()
    const env = { ...conf, HELIOS_ZK: zkConnect(), HELIOS_ZK_ROOT: uniqueRoot("package"), HELIOS_MASTER_PORT: String(port), HELIOS_MASTER_NAME: "pkg-master" }
    // As the unit runs it: ExecStart=.../helios-master $HELIOS_MASTER_OPTS (split at blanks).
    const master = daemon("helios-master", conf["HELIOS_MASTER_OPTS"]!.split(/\s+/).filter(Boolean), env)
    const url = `http://127.0.0.1:${port}`
    await waitFor(
      async () => {
        if (master.child.exitCode !== null) throw new Error(`helios-master exited with ${master.child.exitCode}: ${master.stderr()}`)
        const r = await fetch(`${url}/healthz`).catch(() => undefined)
        return r?.ok ? true : undefined
      },
      { timeoutMs: 60_000, intervalMs: 100, what: "helios-master to answer /healthz" },
    )
    const cli = { HELIOS_MASTER: url }
    const id = (await helios(["create", "-q", "zk-pkg:v1", TEST_IMAGE], cli)).trim()
    expect((await helios(["jobs", "-q"], cli)).trim()).toBe(id)
    expect(await helios(["masters"], cli)).toContain("pkg-master")
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> }
    expect(doc.openapi).toMatch(/^3\.1\./)
    expect(Object.keys(doc.paths)).toContain("/jobs")
    expect(await master.stop()).toBe(0)
  })

  it("the systemd units verify against the installed bins, and the example configuration sets only variables the programs read", async () => {
    const units = join(dir, "units")
    mkdirSync(units)
    const sources = { "helios-master": readFileSync(join(ROOT, "master/main.ts"), "utf8"), "helios-agent": readFileSync(join(ROOT, "agent/main.ts"), "utf8") }
    for (const program of ["helios-master", "helios-agent"] as const) {
      const unit = readFileSync(join(installed, `packaging/systemd/${program}.service`), "utf8")
      expect(unit).toMatch(new RegExp(`^ExecStart=${program}( |$)`, "m"))
      expect(unit).toContain(`EnvironmentFile=/etc/helios/${program}.conf`)
      const conf = readFileSync(join(installed, `packaging/etc/helios/${program}.conf`), "utf8")
      // Every variable the example sets (or shows commented out) is read by the program, or by the unit's ExecStart.
      for (const [, name] of conf.matchAll(/^#?(HELIOS_[A-Z_]+)=/gm)) {
        const read = sources[program].includes(`"${name}"`) || sources[program].includes(`env.${name}`) || unit.includes(`$${name}`)
        expect(read, `${program}.conf sets ${name}, which ${program} does not read`).toBe(true)
      }
      if (!existsSync("/usr/bin/systemd-analyze")) continue
      const local = unit.replace(`ExecStart=${program}`, `ExecStart=${bin(program)}`).replace(`/etc/helios/${program}.conf`, join(installed, `packaging/etc/helios/${program}.conf`))
      writeFileSync(join(units, `${program}.service`), local)
      const verified = await run("systemd-analyze", ["verify", join(units, `${program}.service`)]).then(
        (r) => ({ code: 0, stderr: r.stderr }),
        (e: { code?: number; stderr?: string }) => ({ code: e.code ?? 1, stderr: e.stderr ?? "" }),
      )
      expect(verified, program).toEqual({ code: 0, stderr: "" })
    }
    rmSync(units, { recursive: true, force: true })
  })
})
