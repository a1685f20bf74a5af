import { describe, expect, it } from "vitest"
import { FAULT_KINDS, formatFigures, runRound } from "./nemesis.ts"

/*
 * Issue 17's fault test, one short round: a three-server ZooKeeper ensemble and two master
 * processes while clients create, deploy and undeploy with command ids (retrying everything), and
 * a nemesis kills the ZooKeeper leader, a follower, a master right after it sent an append, and
 * freezes a master's session past its timeout. The checker then reads the whole log: every
 * acknowledged command exactly once at the position it was answered with, the log dense, no batch
 * twice, and both masters' projections equal to a replay. `npm run soak -- --minutes N` runs it longer.
 */
describe("nemesis", () => {
  it("loses and duplicates no acknowledged command, and both masters converge on the log", { timeout: 240_000 }, async () => {
    const lines: string[] = []
    const result = await runRound({ durationMs: 36_000, clients: 4, log: (line) => lines.push(`${new Date().toISOString()} ${line}`) })
    console.log(`nemesis round (${(result.durationMs / 1000).toFixed(0)} s): ${formatFigures(result)}`)
    if (result.report.violations.length > 0) console.log([...lines, ...result.report.violations.slice(0, 20).map((v) => `${v.kind}: ${v.message}`)].join("\n"))
    expect(result.report.violations).toEqual([])
    expect(result.report).toMatchObject({ lost: 0, duplicated: 0, mastersConverged: true })
    for (const kind of FAULT_KINDS) expect(result.faults[kind], `${kind} injected`).toBeGreaterThanOrEqual(1)
    // Enough work went through the faults to mean something, and retries happened.
    expect(result.report.acknowledged).toBeGreaterThan(50)
    expect(result.report.retried).toBeGreaterThan(0)
  })
})
