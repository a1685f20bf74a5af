/**
 * agent/main.ts as a child process (so kill -9 is a real SIGKILL), with its JSON output lines
 * collected. For tests on the real engine with the fixture of agent/docker-fixture.ts.
 *
 *   const agents = agentProcesses()            // afterAll(() => agents.killAll())
 *   const a = agents.spawn(fx, "host-1", { env: { DOCKER_HOST: "unix:///..." } })
 *   await a.saw((l) => l["event"] === "registered", "registered")
 *   a.child.kill("SIGKILL"); await a.exited
 */
import { spawn, type ChildProcess } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { RUN_LABEL_KEY, type DockerAgentFixture } from "./agent-docker-fixture.ts"
import { waitFor, zkConnect } from "./services.ts"

const repo = fileURLToPath(new URL("..", import.meta.url))

export type OutputLine = Record<string, unknown>

export interface AgentProcess {
  readonly child: ChildProcess
  readonly lines: OutputLine[]
  readonly exited: Promise<void>
  /** Waits (30 s) for an output line matching `pred` and returns it. */
  saw(pred: (l: OutputLine) => boolean, what: string, timeoutMs?: number): Promise<OutputLine>
  /** SIGKILL, and wait for the exit. */
  kill9(): Promise<void>
}

export interface SpawnOptions {
  /** Added to the agent's environment (e.g. DOCKER_HOST, HELIOS_TEST_PAUSE_*). */
  readonly env?: Record<string, string>
  readonly args?: string[]
  /** The agent's state dir; default the fixture's dir for this host name. */
  readonly stateDir?: string
}

export const agentProcesses = () => {
  const children = new Set<ChildProcess>()
  return {
    spawn(f: DockerAgentFixture, name: string, o: SpawnOptions = {}): AgentProcess {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "agent/main.ts",
          "--zk",
          zkConnect(),
          "--zk-root",
          f.root,
          "--name",
          name,
          "--state-dir",
          o.stateDir ?? f.stateDir(name),
          "--bind-address",
          "127.0.0.1",
          "--container-label",
          `${RUN_LABEL_KEY}=${f.runId}`,
          "--reconcile-interval-ms",
          "1000",
          "--log-level",
          "info",
          ...(o.args ?? []),
        ],
        { cwd: repo, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...o.env } },
      )
      children.add(child)
      const lines: OutputLine[] = []
      for (const stream of [child.stdout!, child.stderr!])
        createInterface({ input: stream }).on("line", (line) => {
          try {
            lines.push({ ...(JSON.parse(line) as OutputLine), seenAt: Date.now() })
          } catch {
            lines.push({ text: line })
          }
        })
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => {
          children.delete(child)
          resolve()
        })
      })
      return {
        child,
        lines,
        exited,
        async saw(pred, what, timeoutMs = 30_000) {
          try {
            return await waitFor(() => lines.find(pred), { timeoutMs, what })
          } catch (e) {
            throw new Error(`${(e as Error).message}; last agent output: ${JSON.stringify(lines.slice(-8))}`)
          }
        },
        async kill9() {
          child.kill("SIGKILL")
          await exited
        },
      }
    },
    killAll(): void {
      for (const c of children) c.kill("SIGKILL")
    },
  }
}
