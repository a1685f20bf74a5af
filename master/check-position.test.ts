/**
 * `rolling-update --check-position P` (Nomad's `run -check-index`) is checked against the state the
 * update is decided on: a change that lands while the update waits for its turn (the group's lock,
 * a seat, the event loop running late) refuses it, as one before the request does. And a command
 * is decided with the time of its turn, not of its request. On the embedded (SQLite) log.
 */
import { Result } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { CommandContext } from "../core/commands.ts"
import { DEFAULT_CONTAINER_POLICY } from "../core/container-policy.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { wrapLog, type EventLog } from "../core/event-log.ts"
import { aJob } from "../test/fixtures.ts"
import { agentId, envelope, host } from "../test/event-fixtures.ts"
import { CommandBus } from "./command-bus.ts"
import type { MasterDeps } from "./deps.ts"
import { LiveProjection } from "./live-projection.ts"
import { deploymentGroupRoutes } from "./routes/deployment-groups.ts"

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const ctx: CommandContext = { now: 1_700_000_000_000, actor: { kind: "user", name: "alice" }, master: "m1" }

/** A gate every command waits at once its turn has come (as a master's commands wait while its event loop runs late). */
const gate = () => {
  let open = true
  let waiting: Array<() => void> = []
  return {
    pass: () => (open ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    close: () => (open = false),
    open: () => {
      open = true
      for (const resolve of waiting.splice(0)) resolve()
    },
    get waiting() {
      return waiting.length
    },
  }
}

/** A projection of `log` and a command bus over it whose commands wait at `beforeStart`; both closed after the test. */
const busOver = (log: EventLog, beforeStart: () => Promise<void>) => {
  const projection = new LiveProjection(log)
  projection.start()
  cleanups.push(async () => {
    projection.stop()
    await log.close()
  })
  return { projection, bus: new CommandBus(log, projection, { applyTimeoutMs: 5_000, beforeStart }) }
}

/** The job deployed by hand in the staged change (fleet creates it). */
const otherJob = aJob({ id: "other:v1", ports: {} })

/** A log, its projection, a bus whose commands wait at `turn`, and two registered web hosts in group `g` running web:v1's rollout. */
const fleet = async (options: { beforeRolloutAppend?: (bus: CommandBus) => Promise<void> } = {}) => {
  const sqlite = new SqliteEventLog(":memory:")
  let bus!: CommandBus
  // The log the master writes through: what happens just before a rollout's events are appended can be staged.
  const log = wrapLog(sqlite, {
    append: async (events, appendOptions) => {
      if (events.some((e) => e.event._tag === "RolloutStarted") && options.beforeRolloutAppend) {
        const staged = options.beforeRolloutAppend
        delete options.beforeRolloutAppend
        await staged(bus)
      }
      return sqlite.append(events, appendOptions)
    },
  })
  const turn = gate()
  const wired = busOver(log, turn.pass)
  const projection = wired.projection
  bus = wired.bus
  const labels = new Map([
    ["h1", { role: "web" }],
    ["h2", { role: "web" }],
  ])
  const ok = async (command: Parameters<CommandBus["execute"]>[0]) => {
    const r = await bus.execute(command, ctx)
    if (Result.isFailure(r)) throw new Error(`${command._tag}: ${String(r.failure)}`)
  }
  for (const h of ["h1", "h2"]) await ok({ _tag: "RegisterHost", host: host(h), agentId: agentId(`a-${h}`) })
  const v1 = aJob({ id: "web:v1" })
  const v2 = aJob({ id: "web:v2" })
  await ok({ _tag: "CreateJob", job: v1 })
  await ok({ _tag: "CreateJob", job: v2 })
  await ok({ _tag: "CreateJob", job: otherJob })
  await ok({ _tag: "CreateDeploymentGroup", group: { name: "g", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] } })
  const deps = {
    log,
    projection,
    bus,
    checkpoints: { skipped: new Set<number>() },
    now: () => ctx.now,
    name: "m1",
    hostLabels: async () => labels,
    containerPolicy: DEFAULT_CONTAINER_POLICY,
  } as unknown as MasterDeps
  const app = deploymentGroupRoutes(deps)
  const rollingUpdate = (body: unknown, headers: Record<string, string> = {}) =>
    app.request("/deployment-group/g/rolling-update", { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } })
  return { log, projection, turn, v2, rollingUpdate, bus }
}

describe("rolling-update --check-position", () => {
  it("a host of the group that goes down while the update waits for its turn refuses it (409 CHANGED_SINCE_POSITION naming the change); nothing is written", async () => {
    const { log, projection, turn, v2, rollingUpdate } = await fleet()
    const checked = projection.position
    turn.close()
    const answer = rollingUpdate({ job: v2.id, checkPosition: checked })
    // The update holds the group's lock and waits for its turn; another master records h2 down.
    await expect.poll(() => turn.waiting, { timeout: 10_000 }).toBe(1)
    const down = await log.append([envelope({ _tag: "HostWentDown", host: host("h2") })])
    expect(await projection.waitFor(down.lastPosition, 5_000)).toBe(true)
    turn.open()
    const res = await answer
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ status: "CHANGED_SINCE_POSITION", checkPosition: checked, changes: [{ position: down.lastPosition, type: "HostWentDown", host: "h2" }] })
    expect(await log.head()).toBe(down.lastPosition)
  })

  it("a deployment to a host of the group landing between the decision and its append refuses the update too (the append holds the group's host streams unchanged)", async () => {
    let deployedAt = 0
    const { log, projection, v2, rollingUpdate } = await fleet({
      beforeRolloutAppend: async (bus) => {
        const r = await bus.execute({ _tag: "DeployJob", jobId: otherJob.id as never, host: host("h1"), goal: "START" }, ctx)
        if (Result.isFailure(r)) throw new Error(String(r.failure))
        deployedAt = r.success.position
      },
    })
    const checked = projection.position
    const res = await rollingUpdate({ job: v2.id, checkPosition: checked })
    expect(deployedAt).toBeGreaterThan(checked)
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ status: "CHANGED_SINCE_POSITION", checkPosition: checked, changes: [{ position: deployedAt, type: "JobDeployed", host: "h1" }] })
    expect(await log.head()).toBe(deployedAt)
  })

  it("a host of the group deregistered after the position refuses the update (its labels went with it, so it is no longer known as the group's)", async () => {
    const { log, projection, v2, rollingUpdate, bus } = await fleet()
    const checked = projection.position
    const r = await bus.execute({ _tag: "DeregisterHost", host: host("h2") }, ctx)
    if (Result.isFailure(r)) throw new Error(String(r.failure))
    const res = await rollingUpdate({ job: v2.id, checkPosition: checked })
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ status: "CHANGED_SINCE_POSITION", changes: [{ type: "HostDeregistered", host: "h2" }] })
    expect(await log.head()).toBe(r.success.position)
  })

  it("with nothing changed it is accepted; sent again with the same Helios-Command-Id it answers its first outcome (its own events since the position do not refuse it)", async () => {
    const { log, projection, v2, rollingUpdate } = await fleet()
    const checked = projection.position
    const first = await rollingUpdate({ job: v2.id, checkPosition: checked }, { "helios-command-id": "ru-1" })
    expect(first.status).toBe(200)
    const { position } = (await first.json()) as { position: number }
    expect(position).toBeGreaterThan(checked)
    const again = await rollingUpdate({ job: v2.id, checkPosition: checked }, { "helios-command-id": "ru-1" })
    expect(again.status).toBe(200)
    expect(await again.json()).toMatchObject({ status: "OK", position })
    expect(await log.head()).toBe(position)
  })
})

describe("the command bus", () => {
  it("takes a command's context (its time) when its turn comes, not when it was asked for", async () => {
    const held = gate()
    const { bus } = busOver(new SqliteEventLog(":memory:"), held.pass)
    held.close()
    let asked = 0
    const outcome = bus.execute({ _tag: "RegisterHost", host: host("h1"), agentId: agentId("a1") }, () => (asked++, ctx))
    await expect.poll(() => held.waiting, { timeout: 10_000 }).toBe(1)
    expect(asked).toBe(0)
    held.open()
    expect(Result.isSuccess(await outcome)).toBe(true)
    expect(asked).toBe(1)
  })
})
