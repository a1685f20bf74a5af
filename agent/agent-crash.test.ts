/**
 * `kill -9` of the agent process (agent/main.ts as a child, so a real SIGKILL happens), ten times:
 * each restart adopts the running container (same id, not restarted, not re-pulled), adds no
 * container and reports no transition. Then a goal changed while the agent is dead is applied when
 * it comes back.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { docker, TEST_IMAGE_TEXT } from "../test/docker.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor, zkConnect } from "../test/services.ts"
import { dockerAgentFixture, httpGet, RUN_LABEL_KEY, type DockerAgentFixture } from "./docker-fixture.ts"
import { deploy, hostEvents, lastTask, setGoal, taskEvents } from "./test-helpers.ts"

const repo = fileURLToPath(new URL("..", import.meta.url))

interface AgentProcess {
  readonly child: ChildProcess
  readonly lines: Array<Record<string, unknown>>
  readonly exited: Promise<void>
}

const children = new Set<ChildProcess>()
let fx: DockerAgentFixture | undefined
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL")
  await fx?.cleanup()
})

/** Starts agent/main.ts as a child; its stdout and stderr JSON lines are collected. */
const spawnAgent = (f: DockerAgentFixture, name: string): AgentProcess => {
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
      f.stateDir(name),
      "--bind-address",
      "127.0.0.1",
      "--dns",
      "10.9.8.7",
      "--add-host",
      "db.helios-test:10.1.2.3",
      "--bind",
      `${f.tmp}:/agent-bind:ro`,
      "--container-label",
      `${RUN_LABEL_KEY}=${f.runId}`,
      "--reconcile-interval-ms",
      "1000",
      "--log-level",
      "info",
    ],
    { cwd: repo, stdio: ["ignore", "pipe", "pipe"] },
  )
  children.add(child)
  const lines: Array<Record<string, unknown>> = []
  for (const stream of [child.stdout!, child.stderr!])
    createInterface({ input: stream }).on("line", (line) => {
      try {
        lines.push({ ...(JSON.parse(line) as Record<string, unknown>), seenAt: Date.now() })
      } catch {
        lines.push({ text: line })
      }
    })
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      children.delete(child)
      resolve()
    }),
  )
  return { child, lines, exited }
}

const saw = (p: AgentProcess, pred: (l: Record<string, unknown>) => boolean, what: string) =>
  waitFor(() => (p.lines.some(pred) ? true : undefined), { timeoutMs: 30_000, what: `${what}; output: ${JSON.stringify(p.lines.slice(-5))}` })

describe("agent survives kill -9", () => {
  it("adopts its running container after each of 10 SIGKILLs, and applies a goal changed while it was dead", async () => {
    fx = await dockerAgentFixture("agent-crash")
    const f = fx
    const h = host("crash-h1")
    let agent = spawnAgent(f, h)
    await saw(agent, (l) => l["event"] === "registered", "registered")
    const job = aJob({ id: "crash-web:v1" })
    await deploy(f.log, job, h)
    const status = await waitFor(async () => {
      const t = await lastTask(f.log, h, job.id)
      return t?.state === "RUNNING" ? t : undefined
    })
    const containerId = status.containerId!
    const created = await docker().getContainer(containerId).inspect()
    const startedAt = created.State.StartedAt
    // The agent's --dns, --add-host and --bind flags reached the container.
    expect([created.HostConfig.Dns, created.HostConfig.ExtraHosts, created.HostConfig.Binds]).toEqual([
      ["10.9.8.7"],
      ["db.helios-test:10.1.2.3"],
      [`${f.tmp}:/agent-bind:ro`],
    ])
    const eventsBefore = (await taskEvents(f.log, h, job.id)).length
    expect(eventsBefore).toBe(4)

    const cycle: number[] = []
    const registeredCycle: number[] = []
    const bootToAdopt: number[] = []
    for (let i = 0; i < 10; i++) {
      agent.child.kill("SIGKILL")
      await agent.exited
      const t0 = performance.now()
      agent = spawnAgent(f, h)
      await saw(agent, (l) => l["msg"] === "adopted a running container" && l["containerId"] === containerId, "adoption")
      cycle.push(performance.now() - t0)
      await saw(agent, (l) => l["event"] === "registered", "registered again")
      registeredCycle.push(performance.now() - t0)
      const first = agent.lines[0]?.["seenAt"] as number
      const adoptedAt = agent.lines.find((l) => l["msg"] === "adopted a running container")?.["seenAt"] as number
      bootToAdopt.push(adoptedAt - first)
      const info = await docker().getContainer(containerId).inspect()
      expect(info.State.Running).toBe(true)
      expect(info.State.StartedAt).toBe(startedAt) // not restarted
      expect(await f.containers()).toHaveLength(1) // no extra container
    }
    console.log(`kill -9 → restarted agent adopted the container: median ${median(cycle).toFixed(0)} ms (max ${Math.max(...cycle).toFixed(0)})`)
    console.log(`registered: median ${median(registeredCycle).toFixed(0)} ms; first output line → adoption: median ${median(bootToAdopt).toFixed(0)} ms`)
    expect(await httpGet(status.ports!["http"]!.externalPort!)).toContain(TEST_IMAGE_TEXT)
    // No transitions were reported: the task was RUNNING all along.
    expect((await taskEvents(f.log, h, job.id)).length).toBe(eventsBefore)
    // Each start marked the host up again (the killed agent's ephemeral node was taken over).
    const ups = (await hostEvents(f.log, h)).filter((e) => e.envelope.event._tag === "HostWentUp").length
    expect(ups).toBe(11)
    expect((await hostEvents(f.log, h)).filter((e) => e.envelope.event._tag === "HostRegistered")).toHaveLength(1)

    // A goal changed while the agent is dead is applied when it comes back.
    agent.child.kill("SIGKILL")
    await agent.exited
    await setGoal(f.log, job, h, "STOP")
    expect((await docker().getContainer(containerId).inspect()).State.Running).toBe(true)
    agent = spawnAgent(f, h)
    await waitFor(async () => ((await lastTask(f.log, h, job.id))?.state === "STOPPED" ? true : undefined), { what: "STOPPED" })
    expect((await docker().getContainer(containerId).inspect()).State.Running).toBe(false)

    // A graceful stop (SIGTERM) leaves the (stopped) container alone and exits 0.
    agent.child.kill("SIGTERM")
    await agent.exited
    expect(agent.child.exitCode).toBe(0)
    expect(await f.containers()).toHaveLength(1)
  }, 180_000)
})

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
