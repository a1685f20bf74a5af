/**
 * A second, disposable Docker engine beside the shared one, for tests that kill or restart dockerd:
 * its own data root, exec root, socket, pid file and bridge, all under a fresh /tmp/hd-<id>/ (short:
 * containerd's socket path must fit a unix socket name). It never touches iptables (so it cannot
 * disturb the shared engine's chains): published ports are served by docker-proxy on the host,
 * which is all 127.0.0.1 publishing needs.
 *
 *   const engine = await startDisposableDockerd()     // needs root and /usr/sbin/dockerd
 *   await engine.loadImage(TEST_IMAGE)                // from the shared engine (docker save | load)
 *   ... DOCKER_HOST=engine.dockerHost ...
 *   await engine.kill("SIGKILL"); await engine.start()
 *   afterAll(() => engine.destroy())                  // processes, mounts, dirs, bridge: all gone
 */
import { spawn, execFile, type ChildProcess } from "node:child_process"
import { randomBytes, randomInt } from "node:crypto"
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs"
import { promisify } from "node:util"
import Docker from "dockerode"
import { docker as sharedDocker } from "./docker.ts"
import { waitFor } from "./services.ts"

const run = promisify(execFile)
const DOCKERD = "/usr/sbin/dockerd"

/** Why a disposable engine cannot run here, or undefined when it can. */
export const disposableDockerdUnavailable = (): string | undefined => {
  if (process.getuid?.() !== 0) return "needs root (dockerd, bridge interfaces, mounts)"
  if (!existsSync(DOCKERD)) return `${DOCKERD} is missing`
  return undefined
}

export interface DisposableDockerd {
  /** `unix:///tmp/hd-<id>/docker.sock`, for DOCKER_HOST. */
  readonly dockerHost: string
  readonly docker: Docker
  readonly dir: string
  /** The running dockerd's pid (undefined while it is down). */
  readonly pid: number | undefined
  /**
   * Starts dockerd (again) on the same dirs and waits until it answers. With `liveRestore`, its
   * containers outlive its next stop or kill (dockerd's --live-restore).
   */
  start(o?: { readonly liveRestore?: boolean }): Promise<void>
  /** Sends `signal` to dockerd and waits for it to exit (SIGKILL: its containerd dies with it). */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Copies `image` from the shared engine (`docker save | docker load`). */
  loadImage(image: string): Promise<void>
  /** Removes every container, stops dockerd and whatever it left, unmounts and deletes all. */
  destroy(): Promise<void>
}

export const startDisposableDockerd = async (): Promise<DisposableDockerd> => {
  const why = disposableDockerdUnavailable()
  if (why !== undefined) throw new Error(`no disposable dockerd: ${why}`)
  const id = randomBytes(3).toString("hex")
  const dir = `/tmp/hd-${id}`
  const socket = `${dir}/docker.sock`
  const bridge = `hd${id}` // interface names: at most 15 characters
  const subnet = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`
  mkdirSync(dir, { recursive: true })
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  const client = new Docker({ socketPath: socket })

  const answers = async () => {
    try {
      await client.ping()
      return true
    } catch {
      return undefined
    }
  }

  const engine: DisposableDockerd = {
    dockerHost: `unix://${socket}`,
    docker: client,
    dir,
    get pid() {
      return child?.exitCode === null && child.signalCode === null ? child.pid : undefined
    },
    async start(o = {}) {
      if (engine.pid !== undefined) throw new Error("dockerd already runs")
      const log = openSync(`${dir}/dockerd.log`, "a")
      // detached: its own session, so a terminal's signals reach only what the test sends.
      const c = spawn(
        DOCKERD,
        [
          "--data-root", `${dir}/data`,
          "--exec-root", `${dir}/exec`,
          "--host", `unix://${socket}`,
          "--pidfile", `${dir}/docker.pid`,
          "--bridge", bridge,
          "--iptables=false",
          "--ip-forward=false",
          "--ip-masq=false",
          ...(o.liveRestore === true ? ["--live-restore"] : []),
        ],
        { detached: true, stdio: ["ignore", log, log], env: { ...process.env, PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env["PATH"] ?? ""}` } },
      )
      closeSync(log)
      child = c
      exited = new Promise((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) resolve()
        else c.once("exit", () => resolve())
      })
      await waitFor(async () => (engine.pid === undefined ? false : await answers()), { timeoutMs: 30_000, what: "the disposable dockerd to answer" }).then(
        (ok) => {
          if (!ok) throw new Error(`disposable dockerd exited: ${tail(`${dir}/dockerd.log`)}`)
        },
        (e: unknown) => {
          throw new Error(`${(e as Error).message}; log: ${tail(`${dir}/dockerd.log`)}`)
        },
      )
    },
    async kill(signal = "SIGTERM") {
      const c = child
      if (c === undefined || engine.pid === undefined) return
      c.kill(signal)
      await exited
      // Its containerd dies with it (parent-death signal), but maybe a moment later; a dockerd
      // started while the old containerd's pid file names a live (or zombie) process waits on
      // that dead containerd's socket and gives up. So wait it out and drop the pid file.
      const pidFile = `${dir}/exec/containerd/containerd.pid`
      const containerd = Number(readText(pidFile))
      if (containerd > 0) await waitFor(() => (alive(containerd) ? undefined : true), { timeoutMs: 15_000, what: `containerd ${containerd} to exit` })
      rmSync(pidFile, { force: true })
    },
    async loadImage(image) {
      const tar = await sharedDocker().getImage(image).get()
      const out = await client.loadImage(tar)
      await new Promise<void>((resolve, reject) => client.modem.followProgress(out, (err: unknown) => (err ? reject(err) : resolve())))
    },
    async destroy() {
      try {
        // Containers go through the engine (killing their shims would orphan their processes).
        if (engine.pid === undefined && existsSync(`${dir}/data`)) await engine.start().catch(() => undefined)
        if (engine.pid !== undefined) {
          for (const c of await client.listContainers({ all: true }).catch(() => []))
            await client.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)
          const gone = exited
          await engine.kill("SIGTERM")
          await Promise.race([gone, new Promise((r) => setTimeout(r, 15_000).unref())])
          await engine.kill("SIGKILL")
        }
        // Its containerd and shims (a killed dockerd leaves shims running), found by our dir.
        for (const pid of processesMentioning(dir)) {
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // already gone
          }
        }
        await waitFor(() => (processesMentioning(dir).length === 0 ? true : undefined), { timeoutMs: 10_000, what: "dockerd's processes to exit" }).catch(
          () => undefined,
        )
        // Last resort (the engine could not be brought back): what still runs in its containers.
        await killContainerProcesses(dir)
      } finally {
        // dockerd bind-mounts its data root onto itself, and overlay/netns mounts live below it.
        for (const m of mountsUnder(dir)) await run("umount", ["-l", m]).catch(() => undefined)
        rmSync(dir, { recursive: true, force: true })
        await run("ip", ["link", "del", bridge]).catch(() => undefined)
      }
    },
  }

  try {
    await run("ip", ["link", "add", "name", bridge, "type", "bridge"])
    await run("ip", ["addr", "add", `${subnet}.1/24`, "dev", bridge])
    await run("ip", ["link", "set", bridge, "up"])
    await engine.start()
  } catch (e) {
    await engine.destroy()
    throw e
  }
  return engine
}

const readText = (file: string): string => {
  try {
    return readFileSync(file, "utf8").trim()
  } catch {
    return ""
  }
}

/** Whether `pid` runs (a zombie does not count). */
const alive = (pid: number): boolean => {
  const stat = readText(`/proc/${pid}/stat`)
  return stat !== "" && !/^\d+ \(.*\) [ZX]/.test(stat)
}

const tail = (file: string): string => {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-15).join("\n")
  } catch {
    return "(no log)"
  }
}

/** Pids of processes whose command line mentions `text`. */
const processesMentioning = (text: string): number[] => {
  const out: number[] = []
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(text)) out.push(Number(name))
    } catch {
      // exited meanwhile
    }
  }
  return out
}

/**
 * Kills whatever still runs in the cgroups of the engine's containers (found by the ids under its
 * data root) and removes those cgroups (v1 controllers or v2).
 */
const killContainerProcesses = async (dir: string): Promise<void> => {
  let ids: string[]
  try {
    ids = readdirSync(`${dir}/data/containers`).filter((n) => /^[0-9a-f]{64}$/.test(n))
  } catch {
    return
  }
  const roots = ["/sys/fs/cgroup", ...readdirSync("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}`)]
  for (const id of ids) {
    const groups = roots.map((r) => `${r}/docker/${id}`).filter((g) => existsSync(g))
    const pids = () => new Set(groups.flatMap((g) => readText(`${g}/cgroup.procs`).split("\n").filter((x) => x !== "").map(Number)))
    for (const pid of pids()) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
    await waitFor(() => (pids().size === 0 ? true : undefined), { timeoutMs: 5_000, what: `container ${id} processes to exit` }).catch(() => undefined)
    for (const g of groups) rmdirSafe(g)
  }
}

const rmdirSafe = (path: string) => {
  try {
    rmdirSync(path)
  } catch {
    // busy or gone: nothing more to do here
  }
}

/** Mount points at or below `dir`, deepest first. */
const mountsUnder = (dir: string): string[] =>
  readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length)
