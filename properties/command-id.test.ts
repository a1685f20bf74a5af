import fc from "fast-check"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { isLastEventOf } from "../core/decide.ts"
import type { Command } from "../core/commands.ts"
import type { DomainEvent } from "../core/events.ts"
import { FleetWorld, jobPoolArb, setupStepsArb, weightedStepArb } from "./arbitraries.ts"
import { check } from "./support.ts"

/*
 * A retried command id is answered with its first outcome only when it names the same command
 * (master/command-bus.ts): isLastEventOf must recognise every command's own last event, and no
 * other accepted command's.
 */

/** What a command is about: two commands with the same key write the same last event. */
const keyOf = (c: Command): string => {
  switch (c._tag) {
    case "CreateJob":
      return `${c._tag} ${c.job.id}`
    case "RemoveJob":
      return `${c._tag} ${c.jobId}`
    case "DeployJob":
    case "SetGoal":
      return `${c._tag} ${c.jobId} ${c.host} ${c.goal}`
    case "UndeployJob":
    case "ReportTaskState":
      return `${c._tag} ${c.jobId} ${c.host}`
    case "RegisterHost":
      return `${c._tag} ${c.host} ${c.agentId}`
    case "DeregisterHost":
    case "MarkHostUp":
    case "MarkHostDown":
      return `${c._tag} ${c.host}`
    case "CreateDeploymentGroup":
      return `${c._tag} ${c.group.name}`
    case "RemoveDeploymentGroup":
    case "StopRollout":
    case "PromoteRollout":
    case "Rollback":
    case "RolloutOnHostsChange":
    case "AdvanceRollout":
      return `${c._tag} ${c.group}`
    case "StartRollout":
      return `${c._tag} ${c.group} ${c.jobId}`
  }
}

describe("command ids name one command", () => {
  it("every accepted command's last event is recognised as its own, and no other command's", () => {
    check(
      fc.property(jobPoolArb, setupStepsArb, fc.array(weightedStepArb, { maxLength: 40 }), (pool, setup, steps) => {
        const world = new FleetWorld(pool)
        const written: Array<{ command: Command; last: DomainEvent }> = []
        for (const s of [...setup, ...steps]) {
          const { command, result, stored } = world.step(s)
          if (Result.isSuccess(result) && stored.length > 0) written.push({ command, last: stored[stored.length - 1]!.envelope.event })
        }
        for (const a of written)
          for (const b of written) expect(isLastEventOf(a.command, b.last), `${keyOf(a.command)} vs ${keyOf(b.command)}`).toBe(keyOf(a.command) === keyOf(b.command))
      }),
      { runs: 200, seed: 4711 },
    )
  })
})
