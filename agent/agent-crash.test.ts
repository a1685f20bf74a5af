/**
 * `kill -9` of the agent process (agent/main.ts as a child, so a real SIGKILL happens), ten times:
 * each restart takes its host back at once (its own agent id in the killed session's `up` node is
 * recognised and the node replaced, no waiting for that session to expire), adopts the running
 * container (same id, not restarted, not re-pulled), adds no container and reports no transition.
 * An agent with another id is refused meanwhile. Then a goal changed while the agent is dead is
 * applied when it comes back.
 */
import { afterAll, describe, expect, it } from "vitest"
import { docker, TEST_IMAGE_TEXT } from "../test/docker.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor, zkConnect } from "../test/services.ts"
import { dockerAgentFixture, httpGet, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import { agentProcesses, type AgentProcess } from "../test/agent-process.ts"
import { deploy, hostEvents, lastTask, setGoal, taskEvents } from "../test/agent-helpers.ts"

const agents = agentProcesses()
let fx: DockerAgentFixture | undefined
afterAll(async () => {
  agents.killAll()
  await fx?.cleanup()
})

/** agent/main.ts as a child, with Helios's agent-wide container flags (checked on the container below). */
const spawnAgent = (f: DockerAgentFixture, name: string, stateDir?: string): AgentProcess =>
  agents.spawn(f, name, {
    ...(stateDir !== undefined ? { stateDir } : {}),
    args: ["--dns", "10.9.8.7", "--add-host", "db.helios-test:10.1.2.3", "--bind", `${f.tmp}:/agent-bind:ro`],
  })

const saw = (p: AgentProcess, pred: (l: Record<string, unknown>) => boolean, what: string) =>
  waitFor(() => (p.lines.some(pred) ? true : undefined), { timeoutMs: 30_000, what: `${what}; output: ${JSON.stringify(p.lines.slice(-5))}` })

describe("agent survives kill -9", () => {
  it("takes its host back and adopts its running container at once after each of 10 SIGKILLs, refuses another agent id, and applies a goal changed while it was dead", async () => {
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

    // Wall time from spawn (Node + tsx boot included: most of it, and what a busy machine stretches),
    // and the agent's own time from its program starting to run to adoption and to registration.
    const wall: number[] = []
    const adopted: number[] = []
    const registered: number[] = []
    for (let i = 0; i < 10; i++) {
      agent.child.kill("SIGKILL")
      await agent.exited
      // The killed session's ephemeral up node outlives the process (until its session expires).
      expect(await f.hostInfo.isUp(h)).toBe(true)
      const t0 = performance.now()
      agent = spawnAgent(f, h)
      await saw(agent, (l) => l["msg"] === "adopted a running container" && l["containerId"] === containerId, "adoption")
      wall.push(performance.now() - t0)
      await saw(agent, (l) => l["event"] === "registered", "registered again")
      const reg = agent.lines.find((l) => l["event"] === "registered")!
      const programStart = (reg["at"] as number) - (reg["sinceStartMs"] as number)
      const adoption = agent.lines.find((l) => l["msg"] === "adopted a running container")!
      adopted.push(Date.parse(adoption["t"] as string) - programStart)
      registered.push(reg["sinceStartMs"] as number)
      const info = await docker().getContainer(containerId).inspect()
      expect(info.State.Running).toBe(true)
      expect(info.State.StartedAt).toBe(startedAt) // not restarted
      expect(await f.containers()).toHaveLength(1) // no extra container
    }
    console.log(
      `kill -9 → restarted agent: adopted its container ${median(adopted).toFixed(0)} ms (max ${Math.max(...adopted).toFixed(0)}) and ` +
        `held its host again ${median(registered).toFixed(0)} ms (max ${Math.max(...registered).toFixed(0)}) after its program started (medians); ` +
        `wall time from spawn to adoption ${median(wall).toFixed(0)} ms (Node + tsx boot included)`,
    )
    // The killed session's up node is still there (session timeout 10 s): waiting for it would take seconds.
    expect(median(adopted)).toBeLessThan(1_000)
    expect(median(registered)).toBeLessThan(1_000)
    expect(await waitFor(() => httpGet(status.ports!["http"]!.externalPort!), { timeoutMs: 30_000, what: "the new container served" })).toContain(TEST_IMAGE_TEXT)
    // No transitions were reported: the task was RUNNING all along.
    expect((await taskEvents(f.log, h, job.id)).length).toBe(eventsBefore)
    // Each start marked the host up again (the killed agent's ephemeral node was taken over).
    const ups = (await hostEvents(f.log, h)).filter((e) => e.envelope.event._tag === "HostWentUp").length
    expect(ups).toBe(11)
    expect((await hostEvents(f.log, h)).filter((e) => e.envelope.event._tag === "HostRegistered")).toHaveLength(1)

    // Another agent id (its own state dir) for the same host name is refused while the killed
    // agent's up node and host info are fresh: it registers nothing and touches no container.
    agent.child.kill("SIGKILL")
    await agent.exited
    const stranger = spawnAgent(f, h, `${f.tmp}/stranger-state`)
    const refused = (l: Record<string, unknown>) => l["msg"] === "registration pending" && /another agent/.test(String(l["error"]))
    await saw(stranger, refused, "stranger refused")
    await waitFor(() => (stranger.lines.filter(refused).length >= 2 ? true : undefined), { timeoutMs: 30_000, what: "stranger refused again" })
    expect(stranger.lines.some((l) => l["event"] === "registered")).toBe(false)
    expect((await hostEvents(f.log, h)).filter((e) => e.envelope.event._tag === "HostRegistered")).toHaveLength(1)
    expect((await docker().getContainer(containerId).inspect()).State.StartedAt).toBe(startedAt)
    stranger.child.kill("SIGTERM")
    await stranger.exited
    agent = spawnAgent(f, h)
    await saw(agent, (l) => l["event"] === "registered", "registered after the stranger")

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
