/**
 * `npm run soak -- --minutes N [--clients 4] [--round-seconds 60] [--json FILE]`: fault rounds
 * (test/nemesis.ts: a fresh three-server ZooKeeper ensemble and two master processes per round,
 * clients with command ids, the nemesis killing the ZooKeeper leader, a follower, a master right
 * after an append, and freezing a master's session) until N minutes have passed, each checked by
 * test/log-checker.ts. Prints the figures per round and in total; exits 1 on any violation.
 */
import { writeFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { FAULT_KINDS, formatFigures, runRound, type FaultKind, type RoundResult } from "./nemesis.ts"
import { ZK_VERSION } from "./zookeeper.ts"

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "5" },
    clients: { type: "string", default: "4" },
    "round-seconds": { type: "string", default: "60" },
    json: { type: "string" },
    verbose: { type: "boolean", default: false },
  },
})
const minutes = Number(values.minutes)
const clients = Number(values.clients)
const roundMs = Number(values["round-seconds"]) * 1000
if (!(minutes > 0) || !(clients >= 1) || !(roundMs >= 10_000)) {
  console.error("usage: npm run soak -- --minutes N [--clients C] [--round-seconds S (>= 10)] [--json FILE]")
  process.exit(2)
}

const stamp = () => new Date().toISOString().slice(11, 19)
const deadline = Date.now() + minutes * 60_000
const rounds: RoundResult[] = []
let failed = false
console.log(`soak: ${minutes} min of ${roundMs / 1000} s rounds, ${clients} clients, ZooKeeper ${ZK_VERSION} (3 servers), 2 masters`)
while (Date.now() < deadline) {
  const n = rounds.length + 1
  let result: RoundResult
  try {
    result = await runRound({ durationMs: roundMs, clients, ...(values.verbose ? { log: (line) => console.log(`  ${stamp()} ${line}`) } : {}) })
  } catch (error) {
    // A round that could not run (e.g. a server that would not start on a busy machine) is a failure too.
    console.log(`${stamp()} round ${n}: did not complete: ${(error as Error).stack ?? error}`)
    failed = true
    break
  }
  rounds.push(result)
  console.log(`${stamp()} round ${n} (${(result.durationMs / 1000).toFixed(0)} s): ${formatFigures(result)}`)
  for (const v of result.report.violations.slice(0, 20)) console.log(`  ${v.kind}: ${v.message}`)
  if (result.report.violations.length > 0) failed = true
}

const sum = (f: (r: RoundResult) => number) => rounds.reduce((n, r) => n + f(r), 0)
const total = {
  report: {
    acknowledged: sum((r) => r.report.acknowledged),
    retried: sum((r) => r.report.retried),
    lost: sum((r) => r.report.lost),
    duplicated: sum((r) => r.report.duplicated),
    mastersConverged: rounds.every((r) => r.report.mastersConverged),
    violations: rounds.flatMap((r) => r.report.violations),
  },
  faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, sum((r) => r.faults[k])])) as Record<FaultKind, number>,
  refused: sum((r) => r.refused),
  unresolved: sum((r) => r.unresolved),
}
console.log(`total: ${rounds.length} rounds in ${((Date.now() - deadline) / 60_000 + minutes).toFixed(1)} min: ${formatFigures(total)}`)
if (values.json)
  writeFileSync(
    values.json,
    JSON.stringify({ zookeeper: ZK_VERSION, minutes, clients, roundSeconds: roundMs / 1000, rounds: rounds.map((r) => ({ ...r, report: { ...r.report, violations: r.report.violations.slice(0, 20) } })), total: { ...total, report: { ...total.report, violations: total.report.violations.length } } }, null, 2) + "\n",
  )
process.exit(failed ? 1 : 0)
