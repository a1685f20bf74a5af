/**
 * Several hosts on one machine: five agents with their own host names share the one engine. One
 * job deployed to all five at once runs five times; undeployed from all, every container is gone.
 * Each agent touches only its own containers.
 */
import { afterAll, describe, expect, it } from "vitest"
import type { HostName } from "../core/ids.ts"
import { TEST_IMAGE_TEXT } from "../test/docker.ts"
import { envelope, host } from "../test/event-fixtures.ts"
import { aJob } from "../test/fixtures.ts"
import { waitFor } from "../test/services.ts"
import type { Agent } from "./agent.ts"
import { dockerAgentFixture, httpGet, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import { lastTask } from "../test/agent-helpers.ts"

let fx: DockerAgentFixture | undefined
afterAll(async () => {
  await fx?.cleanup()
})

describe("five agents on one engine", () => {
  it("runs one job on all five hosts and removes it from all", async () => {
    fx = await dockerAgentFixture("agent-fleet")
    const f = fx
    const hosts: HostName[] = [1, 2, 3, 4, 5].map((i) => host(`fleet-h${i}`))
    const agents: Agent[] = await Promise.all(hosts.map((h) => f.start(h)))
    await Promise.all(agents.map((a) => a.registered))
    expect(new Set(agents.map((a) => a.agentId)).size).toBe(5)

    const job = aJob({ id: "fleet-web:v1" })
    const t0 = performance.now()
    await f.log.append(hosts.map((h) => envelope({ _tag: "JobDeployed", job, host: h, goal: "START" }, "master")))
    const statuses = await Promise.all(
      hosts.map((h) =>
        waitFor(
          async () => {
            const t = await lastTask(f.log, h, job.id)
            return t?.state === "RUNNING" ? t : undefined
          },
          { what: `RUNNING on ${h}` },
        ),
      ),
    )
    console.log(`one job on 5 hosts → all RUNNING: ${(performance.now() - t0).toFixed(0)} ms`)
    const ports = statuses.map((s) => s.ports!["http"]!.externalPort!)
    expect(new Set(ports).size).toBe(5)
    for (const port of ports) expect(await waitFor(() => httpGet(port))).toContain(TEST_IMAGE_TEXT)

    // Every host has exactly its own container, labelled with its own agent.
    const containers = await f.containers()
    expect(containers).toHaveLength(5)
    expect(containers.map((c) => c.host).sort()).toEqual([...hosts].sort())
    for (const [i, a] of agents.entries()) {
      const own = await f.runtime.list({ "helios.agent": a.agentId })
      expect(own.map((c) => c.id)).toEqual([statuses[i]!.containerId])
    }
    // Reconciling every agent again changes nothing (nobody reaps another host's container).
    await Promise.all(agents.map((a) => a.reconcile()))
    expect((await f.containers()).filter((c) => c.running)).toHaveLength(5)

    const t1 = performance.now()
    await f.log.append(hosts.map((h) => envelope({ _tag: "JobUndeployed", jobId: job.id, host: h }, "master")))
    await waitFor(async () => ((await f.containers()).length === 0 ? true : undefined), { what: "all containers gone" })
    console.log(`undeploy from 5 hosts → all containers gone: ${(performance.now() - t1).toFixed(0)} ms`)
    // Each agent forgets the execution once it has seen its container removed (Docker's event may
    // reach it just after the container is gone from the list above).
    await waitFor(() => (agents.every((a) => a.executions().size === 0) ? true : undefined), { what: "every agent's executions forgotten" })
    for (const a of agents) expect(a.executions().size).toBe(0)
  })
})
