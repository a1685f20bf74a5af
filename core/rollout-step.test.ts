/**
 * Rolling-update decisions on a fleet in memory (test/rollout-sim.ts: the real decide and fold):
 * what each step does, when a rollout waits, fails, or finishes, and what a user sees recorded.
 */
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { aJob } from "../test/fixtures.ts"
import { RolloutSim } from "../test/rollout-sim.ts"
import type { JobId } from "./job.ts"

const web = { role: "web" }
const group = { name: "web", hostSelectors: [{ label: "role", operator: "EQUALS" as const, operand: "web" }] }

const fleet = (hosts: Record<string, Record<string, string> | undefined> = { h10: web, h2: web, db1: { role: "db" } }) => {
  const sim = new RolloutSim()
  for (const [name, labels] of Object.entries(hosts)) sim.addHost(name, labels)
  const v1 = sim.createJob(aJob({ id: "web:v1" }))
  const v2 = sim.createJob(aJob({ id: "web:v2" }))
  sim.ok({ _tag: "CreateDeploymentGroup", group })
  return { sim, v1, v2 }
}

const rollingUpdate = (sim: RolloutSim, jobId: JobId, options = {}) =>
  sim.ok({ _tag: "StartRollout", group: "web", jobId, options, labels: sim.hostLabels })

/** Which jobs of the group each host has, as `host:job-name:version`. */
const deployedBy = (sim: RolloutSim, name = "web") =>
  [...sim.state.deployments]
    .flatMap(([h, m]) => [...m.values()].filter((d) => d.deploymentGroup === name).map((d) => `${h}:${d.jobId.split(":").slice(0, 2).join(":")}`))
    .sort()

describe("a rolling update", () => {
  it("deploys to the matching hosts in natural order, waits for RUNNING on each, and finishes ACTIVE", () => {
    const { sim, v1 } = fleet()
    rollingUpdate(sim, v1)
    const started = sim.events("RolloutStarted")[0]!
    expect(started.hosts).toEqual(["h2", "h10"])
    expect(started.steps.map((s) => `${s.kind} ${s.host}`)).toEqual([
      "UNDEPLOY_OLD_JOBS h2",
      "DEPLOY_NEW_JOB h2",
      "AWAIT_RUNNING h2",
      "UNDEPLOY_OLD_JOBS h10",
      "DEPLOY_NEW_JOB h10",
      "AWAIT_RUNNING h10",
    ])
    sim.advance("web")
    // Deployed to h2 only, waiting for it to run: h10 untouched (parallelism 1).
    expect(deployedBy(sim)).toEqual(["h2:web:v1"])
    expect(sim.state.groups.get("web")!.rollout!.status).toBe("ROLLING_OUT")
    sim.report("h2", v1, "RUNNING")
    sim.advance("web")
    expect(deployedBy(sim)).toEqual(["h10:web:v1", "h2:web:v1"])
    sim.report("h10", v1, "RUNNING")
    sim.advance("web")
    const r = sim.state.groups.get("web")!.rollout!
    expect(r.status).toBe("ACTIVE")
    expect(sim.events("RolloutFinished")).toEqual([{ _tag: "RolloutFinished", group: "web", jobId: v1, status: "ACTIVE" }])
    // Every step started and succeeded once, in order.
    expect(sim.events("RolloutStepStarted").map((e) => e.step)).toEqual([0, 1, 2, 3, 4, 5])
    expect(sim.events("RolloutStepSucceeded").map((e) => e.step)).toEqual([0, 1, 2, 3, 4, 5])
    // The deployments name the group and the master; the deployer is no user.
    const d = sim.state.deployments.get("h2" as never)!.get(v1)!
    expect(d.deploymentGroup).toBe("web")
    expect(d.deployerMaster).toBe("sim-master")
  })

  it("replaces version 1 with version 2 on every host, never both on one host without overlap", () => {
    const { sim, v1, v2 } = fleet()
    rollingUpdate(sim, v1, { parallelism: 2 })
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(deployedBy(sim)).toEqual(["h10:web:v1", "h2:web:v1"])
    rollingUpdate(sim, v2, { parallelism: 2 })
    sim.advance("web")
    expect(deployedBy(sim)).toEqual(["h10:web:v2", "h2:web:v2"])
    sim.runEverything()
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollout!.status).toBe("ACTIVE")
  })

  it("with overlap deploys the new job and waits for it to run before undeploying the old one", () => {
    const { sim, v1, v2 } = fleet({ h1: web })
    rollingUpdate(sim, v1)
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    rollingUpdate(sim, v2, { overlap: true })
    sim.advance("web")
    expect(deployedBy(sim)).toEqual(["h1:web:v1", "h1:web:v2"])
    sim.report("h1", v2, "RUNNING")
    sim.advance("web")
    expect(deployedBy(sim)).toEqual(["h1:web:v2"])
  })

  it("fails at a host whose task does not run within the timeout, naming the host, the error and the evidence", () => {
    const { sim, v1 } = fleet({ h1: web, h2: web })
    rollingUpdate(sim, v1, { timeout: 5 })
    sim.advance("web")
    sim.report("h1", v1, "PULLING_IMAGE")
    sim.report("h1", v1, "FAILED", "IMAGE_MISSING", "image not found")
    sim.now += 5_000
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollout!.status).toBe("ROLLING_OUT")
    sim.now += 1
    sim.advance("web")
    const failed = sim.events("RolloutStepFailed")[0]!
    expect(failed).toMatchObject({ host: "h1", kind: "AWAIT_RUNNING", error: "IMAGE_MISSING" })
    expect(failed.evidence).toMatchObject({ state: "FAILED", throttled: "IMAGE_MISSING", containerError: "image not found" })
    expect(failed.evidence!.previousStates!.map((p) => p.state)).toEqual(["PULLING_IMAGE", "FAILED"])
    const r = sim.state.groups.get("web")!.rollout!
    expect(r.status).toBe("FAILED")
    expect(r.error).toMatch(/^h1: timed out waiting for job web:v1:\w+ to reach state RUNNING due to missing Docker image/)
    // h2 was never touched.
    expect(deployedBy(sim)).toEqual(["h1:web:v1"])
  })

  it("with ignoreFailures records the failed step and goes on to the next host", () => {
    const { sim, v1 } = fleet({ h1: web, h2: web })
    rollingUpdate(sim, v1, { timeout: 1, ignoreFailures: true })
    sim.advance("web")
    sim.now += 1_001
    sim.advance("web")
    expect(sim.events("RolloutStepFailed").map((e) => `${e.host} ${e.error}`)).toEqual(["h1 TIMED_OUT_RETRIEVING_JOB_STATUS"])
    expect(deployedBy(sim)).toEqual(["h1:web:v1", "h2:web:v1"])
    sim.report("h2", v1, "RUNNING")
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollout!).toMatchObject({ status: "ACTIVE", failures: [{ host: "h1", error: "TIMED_OUT_RETRIEVING_JOB_STATUS" }] })
  })

  it("takes over a hand-made deployment of the same job only with migrate", () => {
    const { sim, v1 } = fleet({ h1: web })
    sim.ok({ _tag: "DeployJob", jobId: v1, host: "h1" as never, goal: "START" })
    sim.report("h1", v1, "RUNNING")
    rollingUpdate(sim, v1)
    sim.advance("web")
    expect(sim.events("RolloutStepFailed").map((e) => e.error)).toEqual(["JOB_ALREADY_DEPLOYED"])
    rollingUpdate(sim, v1, { migrate: true })
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollout!.status).toBe("ACTIVE")
    expect(deployedBy(sim)).toEqual(["h1:web:v1"])
  })

  it("fails a step with JOB_UNEXPECTEDLY_UNDEPLOYED when someone undeploys the job while the rollout waits", () => {
    const { sim, v1 } = fleet({ h1: web })
    rollingUpdate(sim, v1)
    sim.advance("web")
    sim.ok({ _tag: "UndeployJob", jobId: v1, host: "h1" as never })
    sim.advance("web")
    expect(sim.events("RolloutStepFailed").map((e) => e.error)).toEqual(["JOB_UNEXPECTEDLY_UNDEPLOYED"])
  })

  it("refuses a token that differs from the job's, writing nothing", () => {
    const sim = new RolloutSim()
    sim.addHost("h1", web)
    const job = sim.createJob(aJob({ id: "secret:v1", token: "s3cret" }))
    sim.ok({ _tag: "CreateDeploymentGroup", group })
    const before = sim.log.length
    const r = sim.exec({ _tag: "StartRollout", group: "web", jobId: job, options: { token: "wrong" }, labels: sim.hostLabels })
    expect(Result.isFailure(r) && r.failure.status).toBe("FORBIDDEN")
    expect(Result.isFailure(r) && r.failure.errors?.[0]?.field).toBe("rolloutOptions.token")
    expect(sim.log.length).toBe(before)
    rollingUpdate(sim, job, { token: "s3cret" })
    sim.advance("web")
    expect(deployedBy(sim)).toEqual(["h1:secret:v1"])
  })

  it("finishes an empty plan at once", () => {
    const { sim, v1 } = fleet({ db: { role: "db" } })
    rollingUpdate(sim, v1)
    expect(sim.state.groups.get("web")!.rollout!.status).toBe("ACTIVE")
  })

  it("a stop leaves the group FAILED 'Stopped by user' with what was deployed still deployed", () => {
    const { sim, v1 } = fleet()
    rollingUpdate(sim, v1)
    sim.advance("web")
    sim.ok({ _tag: "StopRollout", group: "web" })
    sim.report("h2", v1, "RUNNING")
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollout).toMatchObject({ status: "FAILED", error: "Stopped by user" })
    expect(deployedBy(sim)).toEqual(["h2:web:v1"])
  })

  it("a stop after the rollout finished marks only the group FAILED: its history stays ACTIVE, so a later revert restores its job", () => {
    const { sim, v1, v2 } = fleet({ h1: web })
    for (const job of [v1, v2]) {
      rollingUpdate(sim, job)
      sim.advance("web")
      sim.runEverything()
      sim.advance("web")
    }
    const finished = sim.state.groups.get("web")!.rollouts[1]!
    sim.ok({ _tag: "StopRollout", group: "web" })
    const g = sim.state.groups.get("web")!
    expect(g.rollout).toMatchObject({ status: "FAILED", error: "Stopped by user" })
    expect(g.rollouts[1]).toEqual(finished)
    // v3 fails: autoRevert goes back to v2, the job the group ran, not to v1.
    rollingUpdate(sim, sim.createJob(aJob({ id: "web:v3" })), { timeout: 1, autoRevert: true })
    sim.advance("web")
    sim.now += 1_001
    sim.advance("web")
    expect(sim.events("RolloutStarted").at(-1)).toMatchObject({ reason: "ROLLBACK", jobId: v2, rollbackTo: 2 })
    sim.runEverything()
    sim.advance("web")
    expect(deployedBy(sim)).toEqual(["h1:web:v2"])
  })
})

describe("hosts joining and leaving a group", () => {
  const rolledOut = () => {
    const f = fleet({ h1: web, h2: web })
    rollingUpdate(f.sim, f.v1)
    f.sim.advance("web")
    f.sim.runEverything()
    f.sim.advance("web")
    f.sim.runEverything()
    f.sim.advance("web")
    expect(f.sim.state.groups.get("web")!.rollout!.status).toBe("ACTIVE")
    return f
  }
  const hostsChanged = (sim: RolloutSim) => sim.ok({ _tag: "RolloutOnHostsChange", group: "web", labels: sim.hostLabels }, "master")

  it("starts nothing while no host joined or left", () => {
    const { sim } = rolledOut()
    expect(hostsChanged(sim)).toEqual([])
  })

  it("starts nothing for a host whose agent's clock runs ahead of the masters' (its registration stamped later than the rollout that covered it)", () => {
    const sim = new RolloutSim()
    const masterTime = sim.now
    sim.now = masterTime + 10 * 60_000 // h1 registers with a clock 10 minutes ahead
    sim.addHost("h1", web)
    sim.now = masterTime
    const v1 = sim.createJob(aJob({ id: "web:v1" }))
    sim.ok({ _tag: "CreateDeploymentGroup", group })
    rollingUpdate(sim, v1)
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollout!.status).toBe("ACTIVE")
    expect(hostsChanged(sim)).toEqual([])
  })

  it("a host gaining the label gets the job, one losing it is undeployed (HOSTS_CHANGED)", () => {
    const { sim, v1 } = rolledOut()
    sim.addHost("h3", web)
    sim.labels.set("h1", { role: "db" })
    expect(hostsChanged(sim)[0]!.envelope.event).toMatchObject({ _tag: "RolloutStarted", reason: "HOSTS_CHANGED", jobId: v1 })
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(deployedBy(sim)).toEqual(["h2:web:v1", "h3:web:v1"])
    expect(sim.state.groups.get("web")!.rollout!.status).toBe("ACTIVE")
    expect(hostsChanged(sim)).toEqual([])
  })

  it("a host joining after a promoted canary rollout gets the job without waiting for another promote", () => {
    const { sim, v2 } = rolledOut()
    rollingUpdate(sim, v2, { canary: 1 })
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    sim.ok({ _tag: "PromoteRollout", group: "web" })
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollout!.status).toBe("ACTIVE")
    sim.addHost("h3", web)
    hostsChanged(sim)
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollout).toMatchObject({ reason: "HOSTS_CHANGED", status: "ACTIVE" })
    expect(sim.state.groups.get("web")!.rollout!.options.canary).toBeUndefined()
    expect(deployedBy(sim)).toEqual(["h1:web:v2", "h2:web:v2", "h3:web:v2"])
  })

  it("after a FAILED manual rollout new hosts are not given the broken job", () => {
    const { sim, v2 } = rolledOut()
    rollingUpdate(sim, v2, { timeout: 1 })
    sim.advance("web")
    sim.now += 2_000
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollout!.status).toBe("FAILED")
    sim.addHost("h3", web)
    expect(hostsChanged(sim)).toEqual([])
  })
})

describe("deployment groups", () => {
  it("recreating a group with the same selectors changes nothing; with others is a CONFLICT", () => {
    const { sim } = fleet()
    expect(sim.ok({ _tag: "CreateDeploymentGroup", group })).toEqual([])
    const r = sim.exec({ _tag: "CreateDeploymentGroup", group: { name: "web", hostSelectors: [] } })
    expect(Result.isFailure(r) && r.failure.status).toBe("CONFLICT")
  })

  it("removing a group leaves its deployments", () => {
    const { sim, v1 } = fleet({ h1: web })
    rollingUpdate(sim, v1)
    sim.advance("web")
    sim.ok({ _tag: "RemoveDeploymentGroup", group: "web" })
    expect(sim.state.groups.has("web")).toBe(false)
    expect(deployedBy(sim)).toEqual(["h1:web:v1"])
  })
})

describe("rollouts you can undo", () => {
  /** A fleet of four web hosts with v1 rolled out ACTIVE. */
  const onV1 = () => {
    const f = fleet({ h1: web, h2: web, h3: web, h4: web })
    rollingUpdate(f.sim, f.v1, { parallelism: 4 })
    f.sim.advance("web")
    f.sim.runEverything()
    f.sim.advance("web")
    expect(f.sim.state.groups.get("web")!.rollout!.status).toBe("ACTIVE")
    return f
  }
  const status = (sim: RolloutSim) => sim.state.groups.get("web")!.rollout!

  it("with autoRevert a FAILED rollout is followed by a ROLLBACK to the last ACTIVE job on the same hosts", () => {
    const { sim, v1, v2 } = onV1()
    rollingUpdate(sim, v2, { timeout: 1, autoRevert: true })
    sim.advance("web")
    sim.now += 1_001
    sim.advance("web")
    const g = sim.state.groups.get("web")!
    expect(g.rollouts.map((r) => `${r.number} ${r.reason} ${r.status} ${r.jobId.split(":")[1]}`)).toEqual([
      "1 MANUAL ACTIVE v1",
      "2 MANUAL FAILED v2",
      "3 ROLLBACK ROLLING_OUT v1",
    ])
    expect(g.rollouts[2]!.rollbackTo).toBe(1)
    sim.runEverything()
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(status(sim).status).toBe("ACTIVE")
    expect(deployedBy(sim)).toEqual(["h1:web:v1", "h2:web:v1", "h3:web:v1", "h4:web:v1"])
    void v1
  })

  it("maxFailures 1 goes on past one failed host and fails at the second", () => {
    const { sim, v2 } = onV1()
    rollingUpdate(sim, v2, { timeout: 1, maxFailures: 1 })
    sim.advance("web")
    sim.now += 1_001 // h1 never runs v2
    sim.advance("web")
    expect(status(sim).status).toBe("ROLLING_OUT")
    sim.report("h2", v2, "RUNNING")
    sim.advance("web")
    sim.report("h3", v2, "RUNNING")
    sim.advance("web")
    sim.report("h4", v2, "RUNNING")
    sim.advance("web")
    expect(status(sim)).toMatchObject({ status: "ACTIVE", failures: [{ host: "h1" }] })
    expect(sim.state.groups.get("web")!.rollouts.at(-1)!.failedSteps).toBe(1)

    rollingUpdate(sim, sim.createJob(aJob({ id: "web:v3" })), { timeout: 1, maxFailures: 1 })
    sim.advance("web")
    sim.now += 1_001
    sim.advance("web") // h1 fails
    sim.now += 1_001
    sim.advance("web") // h2 fails: more than one
    expect(status(sim)).toMatchObject({ status: "FAILED" })
    expect(status(sim).failures.map((f) => f.host)).toEqual(["h1", "h2"])
  })

  it("a canary of 1 changes only the first host until promoted", () => {
    const { sim, v2 } = onV1()
    rollingUpdate(sim, v2, { canary: 1 })
    sim.advance("web")
    sim.report("h1", v2, "RUNNING")
    sim.advance("web")
    expect(status(sim).status).toBe("AWAITING_PROMOTION")
    expect(deployedBy(sim)).toEqual(["h1:web:v2", "h2:web:v1", "h3:web:v1", "h4:web:v1"])
    // Nothing moves while it waits, however long.
    sim.now += 3_600_000
    expect(sim.advance("web")).toBe(0)
    sim.ok({ _tag: "PromoteRollout", group: "web" })
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(status(sim).status).toBe("ACTIVE")
    expect(deployedBy(sim)).toEqual(["h1:web:v2", "h2:web:v2", "h3:web:v2", "h4:web:v2"])
  })

  it("rollback abandons a canary and restores its host", () => {
    const { sim, v2 } = onV1()
    rollingUpdate(sim, v2, { canary: 1 })
    sim.advance("web")
    sim.report("h1", v2, "RUNNING")
    sim.advance("web")
    sim.ok({ _tag: "Rollback", group: "web", labels: sim.hostLabels })
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(status(sim)).toMatchObject({ status: "ACTIVE", reason: "ROLLBACK" })
    expect(deployedBy(sim)).toEqual(["h1:web:v1", "h2:web:v1", "h3:web:v1", "h4:web:v1"])
    expect(sim.state.groups.get("web")!.rollouts.map((r) => r.status)).toEqual(["ACTIVE", "SUPERSEDED", "ACTIVE"])
  })

  /** v1 then v2 rolled out ACTIVE (v2 with `options`), then h5 joins: a HOSTS_CHANGED rollout of v2 starts. */
  const v2ThenHostJoins = (options = {}) => {
    const f = onV1()
    rollingUpdate(f.sim, f.v2, { parallelism: 4, ...options })
    f.sim.advance("web")
    f.sim.runEverything()
    f.sim.advance("web")
    f.sim.addHost("h5", web)
    expect(f.sim.ok({ _tag: "RolloutOnHostsChange", group: "web", labels: f.sim.hostLabels }, "master")[0]!.envelope.event).toMatchObject({ reason: "HOSTS_CHANGED", jobId: f.v2 })
    f.sim.advance("web")
    return f
  }

  it("rollback after a HOSTS_CHANGED rollout of the same job goes back to the job before it", () => {
    const { sim, v1 } = v2ThenHostJoins()
    sim.runEverything()
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollouts.map((r) => `${r.reason} ${r.status} ${r.jobId.split(":")[1]}`)).toEqual([
      "MANUAL ACTIVE v1",
      "MANUAL ACTIVE v2",
      "HOSTS_CHANGED ACTIVE v2",
    ])
    sim.ok({ _tag: "Rollback", group: "web", labels: sim.hostLabels })
    expect(status(sim)).toMatchObject({ reason: "ROLLBACK", jobId: v1 })
    expect(sim.state.groups.get("web")!.rollouts.at(-1)!.rollbackTo).toBe(1)
    sim.advance("web")
    sim.runEverything()
    sim.advance("web")
    expect(deployedBy(sim)).toEqual(["h1:web:v1", "h2:web:v1", "h3:web:v1", "h4:web:v1", "h5:web:v1"])
  })

  it("with autoRevert a failed HOSTS_CHANGED rollout (a host that joined never ran the job) does not take the group back to an older job", () => {
    const { sim, v2 } = v2ThenHostJoins({ timeout: 1, autoRevert: true })
    sim.now += 1_001 // h5 never runs v2
    sim.advance("web")
    expect(sim.state.groups.get("web")!.rollouts.map((r) => `${r.reason} ${r.status} ${r.jobId.split(":")[1]}`)).toEqual([
      "MANUAL ACTIVE v1",
      "MANUAL ACTIVE v2",
      "HOSTS_CHANGED FAILED v2",
    ])
    expect(status(sim)).toMatchObject({ jobId: v2, reason: "HOSTS_CHANGED", status: "FAILED" })
  })

  it("failureRatio 0.57 goes on past 57 failed hosts of 100 and fails at the 58th", () => {
    const ratio = (failing: number) => {
      const sim = new RolloutSim()
      const hosts = Array.from({ length: 100 }, (_, i) => sim.addHost(`h${i + 1}`, web))
      const v1 = sim.createJob(aJob({ id: "web:v1" }))
      sim.ok({ _tag: "CreateDeploymentGroup", group })
      rollingUpdate(sim, v1, { parallelism: 100, timeout: 1, failureRatio: 0.57 })
      sim.advance("web")
      // The first `failing` hosts (in rollout order) never run it: each times out in turn.
      for (const h of hosts.slice(failing)) sim.report(h, v1, "RUNNING")
      while (status(sim).status === "ROLLING_OUT") {
        sim.now += 1_001
        sim.advance("web")
      }
      return status(sim)
    }
    const at57 = ratio(57)
    expect(at57.status).toBe("ACTIVE")
    expect(at57.failures).toHaveLength(57)
    const at58 = ratio(58)
    expect(at58.status).toBe("FAILED")
    expect(at58.failures).toHaveLength(58)
  })

  it("rollback without an earlier successful rollout, or to a rollout that does not exist, is refused", () => {
    const { sim, v1 } = fleet({ h1: web })
    rollingUpdate(sim, v1)
    const none = sim.exec({ _tag: "Rollback", group: "web", labels: sim.hostLabels })
    expect(Result.isFailure(none) && none.failure.status).toBe("NO_ROLLBACK_TARGET")
    const nine = sim.exec({ _tag: "Rollback", group: "web", toRollout: 9, labels: sim.hostLabels })
    expect(Result.isFailure(nine) && nine.failure.status).toBe("ROLLOUT_NOT_FOUND")
    const promote = sim.exec({ _tag: "PromoteRollout", group: "web" })
    expect(Result.isFailure(promote) && promote.failure.status).toBe("NOT_AWAITING_PROMOTION")
  })
})
