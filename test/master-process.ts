/**
 * A real master (master/main.ts) as a child process, for fault tests: kill -9 it, start it again
 * on the same port, or arm its test-only crash hook (master/crash-hook.ts) so it kills itself right
 * after sending its next append. Its output goes to a file; it is SIGKILLed when this process exits
 * (and by the kernel if this process dies first: `setpriv --pdeathsig KILL`).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "./zookeeper.ts"

const repo = fileURLToPath(new URL("..", import.meta.url))
const live = new Set<ChildProcess>()
let exitHook = false
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface MasterProcess {
  readonly name: string
  readonly url: string
  readonly running: boolean
  readonly logFile: string
  /** Starts it (again, same port and ZooKeeper root); resolves once it answers /healthz. */
  start(): Promise<void>
  /** kill -9; resolves once it has exited. */
  kill(): Promise<void>
  /** Makes it kill itself right after sending its next append; resolves when it has (false: it sent none within timeoutMs). */
  crashOnNextAppend(timeoutMs: number): Promise<boolean>
}

export interface MasterProcessOptions {
  readonly name: string
  readonly zkConnect: string
  readonly root: string
  /** Where its output and crash trigger file go. */
  readonly dir: string
  readonly startTimeoutMs?: number
  /** Checkout whose master/main.ts to run (default this one), e.g. an older commit's for comparison. */
  readonly repo?: string
  /** More flags for master/main.ts, e.g. ["--pack-interval", "0.2"]. */
  readonly args?: ReadonlyArray<string>
}

export async function masterProcess(opts: MasterProcessOptions): Promise<MasterProcess> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const logFile = join(opts.dir, `${opts.name}.log`)
  const trigger = join(opts.dir, `${opts.name}.crash`)
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  if (!exitHook) {
    exitHook = true
    process.on("exit", () => live.forEach((c) => c.kill("SIGKILL")))
  }

  const start = async () => {
    if (child !== undefined) return
    rmSync(trigger, { force: true })
    const out = openSync(logFile, "a")
    const args = ["--import", "tsx", "master/main.ts", "--zk", opts.zkConnect, "--zk-root", opts.root, "--port", String(port), "--bind", "127.0.0.1", "--name", opts.name, ...(opts.args ?? [])]
    const env = { ...process.env, HELIOS_TEST_CRASH_FILE: trigger }
    const proc = existsSync("/usr/bin/setpriv")
      ? spawn("/usr/bin/setpriv", ["--pdeathsig", "KILL", "--", process.execPath, ...args], { cwd: opts.repo ?? repo, env, stdio: ["ignore", out, out] })
      : spawn(process.execPath, args, { cwd: opts.repo ?? repo, env, stdio: ["ignore", out, out] })
    closeSync(out)
    child = proc
    live.add(proc)
    let gone = false
    exited = new Promise((resolve) =>
      proc.once("exit", () => {
        gone = true
        live.delete(proc)
        if (child === proc) child = undefined
        resolve()
      }),
    )
    const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000)
    for (;;) {
      if (gone) throw new Error(`master ${opts.name} exited while starting:\n${readFileSync(logFile, "utf8").slice(-2000)}`)
      const up = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
        () => true,
        () => false,
      )
      if (up) return
      if (Date.now() > deadline) {
        proc.kill("SIGKILL")
        throw new Error(`master ${opts.name} did not answer within ${opts.startTimeoutMs ?? 60_000} ms:\n${readFileSync(logFile, "utf8").slice(-2000)}`)
      }
      await sleep(100)
    }
  }

  const kill = async () => {
    child?.kill("SIGKILL")
    await exited
  }

  await start()
  return {
    name: opts.name,
    url,
    logFile,
    get running() {
      return child !== undefined
    },
    start,
    kill,
    crashOnNextAppend: async (timeoutMs) => {
      if (child === undefined) return false
      writeFileSync(trigger, "")
      const crashed = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)])
      rmSync(trigger, { force: true })
      return crashed
    },
  }
}
