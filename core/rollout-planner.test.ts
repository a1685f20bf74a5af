import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { DEFAULT_ROLLOUT_OPTIONS, mergeRolloutOptions, type DeploymentGroup } from "./deployment-group.ts"
import type { HostSelector } from "./host-selector.ts"
import type { HostName, Position } from "./ids.ts"
import type { JobId } from "./job.ts"
import { sortedNaturally } from "./natural-order.ts"
import { matchingHosts, planRollout, type HostView } from "./rollout-planner.ts"
import { emptyState, type FleetState } from "./state.ts"

const group: DeploymentGroup = { name: "web", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] }
const h = (name: string, labels: Record<string, string> | undefined, up = true): HostView => ({ name: name as HostName, labels, up })

const withGroupDeployment = (state: FleetState, host: string, groupName: string): FleetState => {
  state.deployments.set(host as HostName, new Map([["old:v1:" + "0".repeat(40), { jobId: ("old:v1:" + "0".repeat(40)) as JobId, host: host as HostName, goal: "START", deploymentGroup: groupName, deployedAt: 1 as Position }]]))
  return state
}

describe("rollout options", () => {
  it("take each option from the request, else the job's rolloutOptions, else Helios's defaults", () => {
    expect(mergeRolloutOptions(undefined, {})).toEqual(DEFAULT_ROLLOUT_OPTIONS)
    expect(DEFAULT_ROLLOUT_OPTIONS).toEqual({ timeout: 300, parallelism: 1, migrate: false, overlap: false, token: "", ignoreFailures: false })
    expect(mergeRolloutOptions({ parallelism: 3, overlap: false }, { rolloutOptions: { parallelism: 2, overlap: true, timeout: 10 } })).toEqual({
      ...DEFAULT_ROLLOUT_OPTIONS,
      parallelism: 3,
      overlap: false,
      timeout: 10,
    })
  })
})

describe("rollout planner", () => {
  it("matches no host for a group without selectors, and never a host lacking a label or whose labels are unknown", () => {
    const hosts = [h("a", { role: "web" }), h("b", {}), h("c", undefined)]
    expect(matchingHosts({ name: "g", hostSelectors: [] }, hosts)).toEqual([])
    expect(matchingHosts({ name: "g", hostSelectors: [{ label: "role", operator: "NOT_EQUALS", operand: "db" }] }, hosts)).toEqual(["a"])
  })

  it("plans up hosts in natural order (h2 before h10): per partition undeploy+deploy each host, then await each; with overlap deploy, await, undeploy", () => {
    const hosts = [h("h10", { role: "web" }), h("h2", { role: "web" }), h("h3", { role: "web" }, false), h("h1", { role: "db" })]
    const plan = planRollout(group, hosts, emptyState(), { parallelism: 2, overlap: false })
    expect(plan.hosts).toEqual(["h2", "h3", "h10"])
    expect(plan.targets).toEqual(["h2", "h10"])
    expect(plan.steps.map((s) => `${s.kind} ${s.host}`)).toEqual([
      "UNDEPLOY_OLD_JOBS h2",
      "DEPLOY_NEW_JOB h2",
      "UNDEPLOY_OLD_JOBS h10",
      "DEPLOY_NEW_JOB h10",
      "AWAIT_RUNNING h2",
      "AWAIT_RUNNING h10",
    ])
    const overlap = planRollout(group, hosts, emptyState(), { parallelism: 1, overlap: true })
    expect(overlap.steps.map((s) => `${s.kind} ${s.host}`)).toEqual([
      "DEPLOY_NEW_JOB h2",
      "AWAIT_RUNNING h2",
      "UNDEPLOY_OLD_JOBS h2",
      "DEPLOY_NEW_JOB h10",
      "AWAIT_RUNNING h10",
      "UNDEPLOY_OLD_JOBS h10",
    ])
  })

  it("undeploys first the up hosts that carry the group's deployments but no longer match; not down ones, not unknown ones, not other groups'", () => {
    const state = emptyState()
    for (const host of ["gone", "down", "unknown"]) withGroupDeployment(state, host, "web")
    withGroupDeployment(state, "other", "api")
    const hosts = [h("h1", { role: "web" }), h("gone", { role: "db" }), h("down", {}, false), h("unknown", undefined), h("other", {})]
    const plan = planRollout(group, hosts, state, { parallelism: 1, overlap: false })
    expect(plan.leaving).toEqual(["gone"])
    expect(plan.steps[0]).toEqual({ host: "gone", kind: "FORCE_UNDEPLOY_JOBS" })
  })

  it("property: every matching up host appears in exactly one partition, in natural order; partitions hold at most `parallelism` hosts and only their hosts' steps; no host outside the group is deployed to; hosts that left are only undeployed", () => {
    const name = fc.stringMatching(/^[a-c]{1,2}[0-9]{0,3}$/)
    const hostsArb = fc.uniqueArray(
      fc.record({ name, labels: fc.option(fc.record({ role: fc.constantFrom("web", "db") }, { requiredKeys: [] }), { nil: undefined }), up: fc.boolean(), deployed: fc.constantFrom("web", "api", undefined) }),
      { selector: (x) => x.name, maxLength: 25 },
    )
    fc.assert(
      fc.property(hostsArb, fc.integer({ min: 1, max: 6 }), fc.boolean(), (raw, parallelism, overlap) => {
        const state = emptyState()
        for (const r of raw) if (r.deployed !== undefined) withGroupDeployment(state, r.name, r.deployed)
        const hosts = raw.map((r) => h(r.name, r.labels, r.up))
        const plan = planRollout(group, hosts, state, { parallelism, overlap })
        const wanted = sortedNaturally(raw.filter((r) => r.up && r.labels?.role === "web").map((r) => r.name))
        expect(plan.targets).toEqual(wanted)
        const targetParts = plan.partitions.filter((p) => p.steps.some((s) => s.kind !== "FORCE_UNDEPLOY_JOBS"))
        expect(targetParts.flatMap((p) => p.hosts)).toEqual(wanted)
        expect(plan.steps).toEqual(plan.partitions.flatMap((p) => p.steps))
        for (const p of plan.partitions) {
          expect(p.hosts.length).toBeGreaterThan(0)
          expect(p.hosts.length).toBeLessThanOrEqual(parallelism)
          expect(new Set(p.steps.map((s) => s.host))).toEqual(new Set(p.hosts))
        }
        for (const s of plan.steps) if (s.kind === "DEPLOY_NEW_JOB") expect(wanted).toContain(s.host)
        for (const host of wanted) expect(plan.steps.filter((s) => s.host === host).map((s) => s.kind).sort()).toEqual(["AWAIT_RUNNING", "DEPLOY_NEW_JOB", "UNDEPLOY_OLD_JOBS"])
        for (const host of plan.leaving) {
          expect(wanted).not.toContain(host)
          expect(plan.steps.filter((s) => s.host === host)).toEqual([{ host, kind: "FORCE_UNDEPLOY_JOBS" }])
        }
        expect(plan.leaving).toEqual(sortedNaturally(raw.filter((r) => r.deployed === "web" && r.up && r.labels !== undefined && r.labels.role !== "web").map((r) => r.name)))
      }),
      { numRuns: 300, seed: 1101 },
    )
  })

  it("property: with any selectors (=, !=, in, notin over labels a host may lack, several at once), the targets are exactly the UP hosts whose known labels carry every selector's label and satisfy it, each once, in natural order (a group without selectors has none); partitions are full but the last", () => {
    const values = ["x", "y", "z"]
    const selectorArb: fc.Arbitrary<HostSelector> = fc.oneof(
      fc.record({ label: fc.constantFrom("a", "b"), operator: fc.constantFrom("EQUALS" as const, "NOT_EQUALS" as const), operand: fc.constantFrom(...values) }),
      fc.record({ label: fc.constantFrom("a", "b"), operator: fc.constantFrom("IN" as const, "NOT_IN" as const), operand: fc.subarray(values, { minLength: 1 }) }),
    )
    const labelsArb = fc.option(fc.record({ a: fc.constantFrom(...values), b: fc.constantFrom(...values) }, { requiredKeys: [] }), { nil: undefined, freq: 8 })
    const hostsArb = fc.uniqueArray(fc.record({ name: fc.stringMatching(/^(h|web-)[1-9][0-9]{0,2}$/), labels: labelsArb, up: fc.boolean() }), { selector: (x) => x.name, maxLength: 30 })
    // The model: Helios's rule written out (a selector on a label the host lacks never matches).
    const satisfies = (s: HostSelector, labels: Record<string, string>): boolean => {
      if (!(s.label in labels)) return false
      const v = labels[s.label]!
      return s.operator === "EQUALS" ? v === s.operand : s.operator === "NOT_EQUALS" ? v !== s.operand : s.operator === "IN" ? s.operand.includes(v) : !s.operand.includes(v)
    }
    // Natural order of these names: prefix, then the number.
    const order = (a: string, b: string) => {
      const [, pa, na] = /^(\D+)(\d+)$/.exec(a)!
      const [, pb, nb] = /^(\D+)(\d+)$/.exec(b)!
      return pa! < pb! ? -1 : pa! > pb! ? 1 : Number(na) - Number(nb)
    }
    fc.assert(
      fc.property(hostsArb, fc.array(selectorArb, { maxLength: 3 }), fc.integer({ min: 1, max: 7 }), fc.boolean(), (raw, hostSelectors, parallelism, overlap) => {
        const g: DeploymentGroup = { name: "g", hostSelectors }
        const plan = planRollout(g, raw.map((r) => h(r.name, r.labels, r.up)), emptyState(), { parallelism, overlap })
        const matching = raw.filter((r) => hostSelectors.length > 0 && r.labels !== undefined && hostSelectors.every((s) => satisfies(s, r.labels!))).map((r) => r.name).sort(order)
        expect(plan.hosts).toEqual(matching)
        expect(plan.targets).toEqual(matching.filter((n) => raw.find((r) => r.name === n)!.up))
        expect(plan.partitions.flatMap((p) => p.hosts)).toEqual(plan.targets)
        plan.partitions.forEach((p, i) => expect(p.hosts.length).toBe(i < plan.partitions.length - 1 ? parallelism : p.hosts.length))
        for (const p of plan.partitions) expect(p.hosts.length).toBeLessThanOrEqual(parallelism)
        expect(plan.steps.length).toBe(plan.targets.length * 3)
      }),
      { numRuns: 500, seed: 1103 },
    )
  })
})
