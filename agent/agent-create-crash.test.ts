/**
 * kill -9 of the agent (agent/main.ts as a child) between a container's create and its start, in
 * both halves of that window (held open by the test-only HELIOS_TEST_PAUSE_* hooks of
 * agent/test-pauses.ts): the engine has created the container but the agent has not learnt its id
 * yet, and the agent has recorded it but not sent `docker start`. The restarted agent ends with
 * exactly one container for the job, running on the port allocated before the crash, the task
 * RUNNING, and never two containers of the job at once.
 */
import { afterAll, describe, expect, it } from "vitest"
import { docker, TEST_IMAGE_TEXT } from "../test/docker.ts"
import { agentProcesses } from "../test/agent-process.ts"
import { host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor } from "../test/services.ts"
import { dockerAgentFixture, httpGet, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import { deploy, lastTask, taskEvents } from "../test/agent-helpers.ts"

const agents = agentProcesses()
let fx: DockerAgentFixture | undefined
afterAll(async () => {
  agents.killAll()
  await fx?.cleanup()
})

/** The host port a container publishes its port 80 on. */
const publishedPort = async (id: string): Promise<string | undefined> =>
  (await docker().getContainer(id).inspect()).HostConfig.PortBindings?.["80/tcp"]?.[0]?.HostPort

/** The engine's create/destroy events of this fixture's containers between two times (s). */
const lifecycle = async (label: string, since: number, until: number): Promise<Array<{ action: string; id: string }>> => {
  const stream = await docker().getEvents({ since, until, filters: { type: ["container"], label: [label], event: ["create", "destroy"] } })
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on("data", (c: Buffer) => chunks.push(c))
    stream.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    stream.on("error", reject)
  })
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { Action: string; Actor: { ID: string } })
    .map((e) => ({ action: e.Action, id: e.Actor.ID }))
}

describe("agent killed between create and start", () => {
  it.each([
    ["after-create", "HELIOS_TEST_PAUSE_AFTER_CREATE_MS"],
    ["before-start", "HELIOS_TEST_PAUSE_BEFORE_START_MS"],
  ])("at %s: one container afterwards, on the same port, RUNNING", async (point, envName) => {
    fx ??= await dockerAgentFixture("agent-create-crash")
    const f = fx
    const h = host(`cc-${point}`)
    const mine = async () => (await f.containers()).filter((c) => c.host === h)
    const paused = agents.spawn(f, h, { env: { [envName]: "120000" } })
    await paused.saw((l) => l["event"] === "registered", "registered")
    const job = aJob({ id: `cc-${point}:v1` })
    await deploy(f.log, job, h)
    const hook = await paused.saw((l) => l["msg"] === "test hook: paused" && l["point"] === point, `paused ${point}`)
    const created = String(hook["containerId"])
    const port = await publishedPort(created)
    expect(port).toMatch(/^\d+$/)
    expect((await docker().getContainer(created).inspect()).State.Status).toBe("created")

    await paused.kill9()
    // Seconds, as the engine's event filter takes them; one back so nothing on the edge is missed.
    const since = Math.floor(Date.now() / 1000) - 1
    expect((await mine()).map((c) => c.id)).toEqual([created]) // the crash left it behind
    const agent = agents.spawn(f, h)

    const running = await waitFor(
      async () => {
        const t = await lastTask(f.log, h, job.id)
        return t?.state === "RUNNING" && t.containerId !== created ? t : undefined
      },
      { timeoutMs: 45_000, what: "RUNNING in a fresh container" },
    )
    const now = await mine()
    expect(now).toHaveLength(1)
    expect(now[0]).toMatchObject({ id: running.containerId, running: true })
    expect(await publishedPort(running.containerId!)).toBe(port)
    expect(running.ports?.["http"]?.externalPort).toBe(Number(port))
    expect(await waitFor(() => httpGet(Number(port)), { timeoutMs: 30_000, what: `port ${port} served` })).toContain(TEST_IMAGE_TEXT)
    expect((await taskEvents(f.log, h, job.id)).map((e) => e.state)).not.toContain("FAILED")

    // Never two containers of the job at once: the leftover went before the new one was created.
    const events = (await lifecycle(f.label, since, Math.ceil(Date.now() / 1000) + 1)).filter(
      (e) => !(e.action === "create" && e.id === created), // before the crash (the filter has 1 s steps)
    )
    expect(events).toEqual([
      { action: "destroy", id: created },
      { action: "create", id: running.containerId },
    ])

    agent.child.kill("SIGTERM")
    await agent.exited
  }, 120_000)
})
