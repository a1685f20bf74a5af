/**
 * End to end, as a user: `helios solo` as a child process (its own data dir, port and host name)
 * on the real Docker engine, and `helios ...` child processes talking to it through HELIOS_MASTER.
 * Includes a restart of solo while the job runs: the container keeps running and is adopted.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readFileSync, statSync } from "node:fs"
import { userInfo } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { removeContainersByLabel, TEST_LABEL } from "../test/docker.ts"
import { waitFor } from "../test/services.ts"
import { okLines, runningContainers, userFlow, waitForRunning } from "../test/e2e-flow.ts"
import { BIN, freePort, spawnCli, tempDir, removeTempDirs } from "../test/cli-helpers.ts"

const suffix = randomBytes(4).toString("hex")
const host = `cli-solo-${suffix}`
const containerLabel = `${TEST_LABEL}=cli-solo-${suffix}`
const dir = tempDir("cli-solo")
const home = join(dir, "home")
const dataDir = join(dir, "data")

interface Solo {
  readonly child: ChildProcess
  readonly url: string
  stdout(): string
  stderr(): string
  /** SIGTERM, then the exit code (SIGKILL after 20 s). */
  stop(): Promise<number | null>
}

const startSolo = async (port: number): Promise<Solo> => {
  const child = spawn(process.execPath, [BIN, "solo", "--port", String(port), "--data-dir", dataDir, "--name", host, "--container-label", containerLabel], {
    env: { PATH: process.env["PATH"] ?? "", HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  })
  let out = ""
  let err = ""
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const url = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`helios solo exited with ${child.exitCode}: ${err}`)
      return /export HELIOS_MASTER=(\S+)/.exec(out)?.[1]
    },
    { timeoutMs: 60_000, intervalMs: 100, what: "helios solo to print where its API is" },
  )
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

let solo: Solo | undefined

afterAll(async () => {
  await solo?.stop()
  await removeContainersByLabel(containerLabel)
  removeTempDirs()
})

describe("helios solo on the real Docker engine", () => {
  it("create, jobs, hosts, deploy, status, HTTP, restart (adopted), undeploy -a, remove, history", async () => {
    const port = await freePort()
    solo = await startSolo(port)
    expect(solo.url).toBe(`http://127.0.0.1:${port}`)
    expect(solo.stdout()).toContain(`agent for host ${host}`)
    // Safe by default: a local token readable by this user only, and nothing answered without it.
    expect(statSync(join(dataDir, "token")).mode & 0o777).toBe(0o600)
    const anonymous = await fetch(`${solo.url}/jobs`)
    expect(anonymous.status).toBe(401)
    const token = readFileSync(join(dataDir, "token"), "utf8").trim()
    expect((await fetch(`${solo.url}/jobs`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200)
    expect(solo.stdout()).toContain("helios create web:v1 helios-test/web:latest -p http=80:8080")
    const env = { HOME: home, HELIOS_MASTER: solo.url }
    const cli = (args: ReadonlyArray<string>) => spawnCli(args, env)

    await userFlow({
      cli,
      host,
      webPort: await freePort(),
      containerLabel,
      // Solo's local token names the user who runs it; a `-u` that differs is recorded beside it.
      actorOf: (user) => `user:${user}@${userInfo().username}`,
      whileRunning: async (containerId) => {
        // Stop solo: it exits cleanly, the container keeps running.
        expect(await solo!.stop()).toBe(0)
        expect(solo!.stdout()).toContain(`Helios solo stopped. Data kept in ${dataDir}.`)
        expect(solo!.stderr()).toBe("")
        expect((await runningContainers(containerLabel)).map((c) => c.Id.slice(0, 7))).toEqual([containerId])
        // Start it again on the same data dir: the running container is adopted, not replaced.
        solo = await startSolo(port)
        const row = await waitForRunning(cli, "web:v1", host)
        expect(row[4]).toBe(containerId)
        expect((await runningContainers(containerLabel)).map((c) => c.Id.slice(0, 7))).toEqual([containerId])
        const hosts = await okLines(cli, ["hosts", "-q"])
        expect(hosts).toEqual([host])
      },
    })
    expect(await solo.stop()).toBe(0)
    expect(solo.stderr()).toBe("")
  })

  it("fails with one clear line when Docker cannot be reached", async () => {
    const r = await spawnCli(["solo", "--port", String(await freePort()), "--data-dir", join(dir, "nodocker"), "--name", `${host}-d`], {
      HOME: home,
      DOCKER_HOST: `unix://${join(dir, "no-such-docker.sock")}`,
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^cannot reach the Docker engine: .*ENOENT.* \(is dockerd running\? scripts\/solo\.sh starts it\)\n$/)
  })

  it("fails with one clear line when its port is taken", async () => {
    const blocker = await startSoloBlocker()
    try {
      const r = await spawnCli(["solo", "--port", String(blocker.port), "--data-dir", join(dir, "other"), "--name", `${host}-b`], { HOME: home })
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${blocker.port}: EADDRINUSE \\(another helios solo\\? pass --port\\)\\n$`))
    } finally {
      blocker.close()
    }
  })
})

/** A listener on a free port, to make `helios solo --port` collide with it. */
const startSoloBlocker = async (): Promise<{ port: number; close(): void }> => {
  const { createServer } = await import("node:net")
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { port: (server.address() as { port: number }).port, close: () => server.close() }
}
