/**
 * Issue 17's cause, confirmed by running its nemesis many times against two ZooKeeper versions:
 *
 *   npx tsx test/nemesis-zk-versions.ts --zk 3.9.5,3.8.0 --target project,raw --runs 5 [--kills 9] [--json bench/results/nemesis.json]
 *
 * The nemesis (as the issue ran it): a three-server ensemble (forceSync=yes, tickTime=500) on
 * loopback; 400 creates with one leader kill, then 8 clients creating 1,200 more while the servers
 * are killed -9 and restarted one after another every 5 s. Then every server is up, and the log
 * is checked against what the writers were told. With --kills K the second phase's writers go on
 * (past 1,200) until K rolling kills have happened: on a fast machine the 1,200 writes take only
 * two to five kills. With --overlap the next kill does not wait for the restarted server to have
 * rejoined (the harness otherwise waits until it serves): on a busy machine a server can then be
 * killed while another is still synchronising with the leader.
 *
 * --target project: one master process (master/main.ts); 8 clients POST /jobs with a
 *   Helios-Command-Id, retrying every error and timeout; checked by test/log-checker.ts (every
 *   acknowledged create once, at its position; the log dense; the master's projection equal to a
 *   replay). Also noted: how many 503s the clients saw, and whether /healthz ever said DIVERGED.
 * --target raw: no Helios code but the ZooKeeper client: 8 writers on one session append to a
 *   chain of sequential znodes with multis shaped like the log's (check that p-1 exists, create p
 *   with a ~400-byte payload, setData a per-writer version node at its expected version); after a
 *   lost reply a writer syncs and reads p back to learn whether it landed. Checked the same way:
 *   every acknowledged append at its position, once, positions dense.
 *
 * --project-dir DIR runs the master of another checkout (e.g. `git archive eb973fa`, the code issue
 * 17 was filed against, with node_modules linked in); it has no /projection/digest, so only its
 * position is compared with the log's head.
 *
 * 3.9.5 is the installed ZooKeeper (scripts/setup.sh); 3.8.0 runs Debian 12's jars
 * (/usr/share/java), present on some machines only. Prints a table; --json merges the runs into FILE.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { randomBytes } from "node:crypto"
import { parseArgs } from "node:util"
import { ZK, ZkClient } from "../log/zk-client.ts"
import { LogUnavailable } from "../core/event-log.ts"
import { checkLog } from "./log-checker.ts"
import { readWholeLog } from "./log-reader.ts"
import { masterProcess } from "./master-process.ts"
import { emptyClientRecord, sendCommand } from "./nemesis.ts"
import { startEnsemble, type ZooKeeperEnsemble } from "./zk-ensemble.ts"
import { makeTempDir, removeTempDir, zooKeeperDistribution } from "./zookeeper.ts"

const WRITERS = 8
const FIRST_PHASE = 400
const SECOND_PHASE = 1_200
const KILL_EVERY_MS = 5_000
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface RunFigures {
  readonly target: "project" | "raw"
  readonly zookeeper: string
  readonly acknowledged: number
  readonly lost: number
  readonly duplicated: number
  /** Positions missing below the head, or other density violations. */
  readonly holes: number
  /** Project only: the master's projection equals a replay of the log at the head. */
  readonly converged?: boolean
  /** Project only: /healthz said DIVERGED at some point. */
  readonly divergedSeen?: boolean
  /** Errors the writers saw and retried (503s for the project). */
  readonly errorsRetried: number
  readonly serverKills: number
  /** Project only, with --project-dir: the checkout run instead of this one (e.g. the code the issue saw). */
  readonly project?: string
  /** With --project-dir: whether the master's position ended at the log's head, and that position. */
  readonly masterAtHead?: boolean
  readonly masterPosition?: number
  /** The next rolling kill did not wait for the previous server to rejoin (--overlap). */
  readonly overlap?: boolean
  /** The second phase went on until this many rolling kills (0: the issue's 1,200 writes only). */
  readonly minKills: number
  readonly head: number
  readonly seconds: number
  readonly startedAt: string
  readonly violations?: Record<string, number>
  /** What else loaded the machine, when the run was made under load on purpose (noted by hand). */
  readonly load?: string
}

/**
 * Writes `n` items with WRITERS writers, and more while `more()` says so; resolves with how many
 * were written.
 */
type Phase = (n: number, more: () => boolean) => Promise<number>

/**
 * Runs the two phases' writers with the nemesis: one leader kill in the first, rolling kills in the
 * second. With minKills > 0 the second phase's writers go on past SECOND_PHASE until that many
 * rolling kills have happened (the issue's 1,200 creates take only a few kill cycles on a fast
 * machine; more cycles, more chances to crash a server while it synchronises).
 */
async function withNemesis(ensemble: ZooKeeperEnsemble, phase: Phase, minKills: number, overlap: boolean): Promise<{ kills: number; written: number }> {
  let kills = 0
  // Phase 1: FIRST_PHASE writes, the leader killed -9 once early on and restarted.
  const first = phase(FIRST_PHASE, () => false)
  await sleep(1_000)
  const leader = await ensemble.leader()
  await leader.kill()
  kills++
  await leader.start()
  const written = await first
  // Phase 2: SECOND_PHASE writes while servers 1, 2, 3, 1... are killed -9 and restarted every 5 s.
  let done = false
  let rolling = 0
  const second = phase(SECOND_PHASE, () => rolling < minKills).finally(() => (done = true))
  const restarts: Array<Promise<void>> = []
  for (let turn = 0; !done; turn++) {
    const tick = Date.now()
    const member = ensemble.members[turn % ensemble.members.length]!
    await member.kill()
    kills++
    // With overlap the next kill comes 5 s after this one whether or not this server has rejoined
    // (on a busy machine a JVM takes seconds to start and sync): a server may be killed while
    // another is still synchronising with the leader, and the quorum may be lost for a while.
    if (overlap) restarts.push(member.start().catch(() => undefined))
    else await member.start()
    rolling++
    while (!done && Date.now() - tick < KILL_EVERY_MS) await sleep(100)
  }
  const total = written + (await second)
  await Promise.all(restarts)
  for (const m of ensemble.members) if (!m.running) await m.start()
  return { kills, written: total }
}

async function projectRun(ensemble: ZooKeeperEnsemble, zookeeper: string, minKills: number, projectDir: string | undefined): Promise<Omit<RunFigures, "seconds" | "startedAt" | "minKills">> {
  const dir = await makeTempDir("helios-nemesis-versions-")
  const root = `/versions-${randomBytes(4).toString("hex")}`
  const master = await masterProcess({ name: "master-1", zkConnect: ensemble.connectString, root, dir, ...(projectDir === undefined ? {} : { repo: projectDir }) })
  let reader: ZkClient | undefined
  let monitoring = true
  let divergedSeen = false
  const monitor = (async () => {
    while (monitoring) {
      const res = await fetch(`${master.url}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined)
      if (res?.status === 503 && (await res.text()).includes("DIVERGED")) divergedSeen = true
      await sleep(250)
    }
  })()
  try {
    const record = emptyClientRecord()
    let created = 0
    let giveUpAt = Number.POSITIVE_INFINITY
    const phase: Phase = async (n, more) => {
      const start = created
      giveUpAt = Number.POSITIVE_INFINITY
      await Promise.all(
        Array.from({ length: WRITERS }, async () => {
          while (created < start + n || more()) {
            const i = created++
            await sendCommand(record, [master.url], 0, `create-${i}`, { method: "POST", path: "/jobs", body: { id: `job-${i}:1`, image: "busybox:latest" } }, () => giveUpAt)
          }
        }),
      )
      return created - start
    }
    const { kills } = await withNemesis(ensemble, phase, minKills, overlap)
    reader = await ZkClient.connect(ensemble.connectString, {}, 30_000)
    // The master settles: healthy and at the log's head (after a rebuild, if it found the log behind).
    const settleBy = Date.now() + 60_000
    for (;;) {
      const entries = await readWholeLog(reader, root)
      const res = await fetch(`${master.url}/projection/digest`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)
      const digest = res?.ok ? ((await res.json()) as { position: number; sha256: string; diverged: boolean }) : undefined
      // An older checkout (--project-dir) has no digest endpoint: only its position is compared.
      const health = projectDir === undefined ? undefined : await fetch(`${master.url}/healthz`).then((r) => r.json() as Promise<{ position: number }>, () => undefined)
      const head = entries.length === 0 ? 0 : entries[entries.length - 1]!.position
      const settled = projectDir === undefined ? digest !== undefined && !digest.diverged && digest.position === head : health?.position === head
      if (settled || Date.now() > settleBy) {
        const report = checkLog({
          entries,
          acknowledged: record.acknowledged,
          refused: record.refused,
          masters: projectDir !== undefined ? [] : [digest === undefined ? { name: master.name, position: -1, sha256: "unreachable" } : { name: master.name, ...digest }],
        })
        const violations: Record<string, number> = {}
        for (const v of report.violations) violations[v.kind] = (violations[v.kind] ?? 0) + 1
        return {
          target: "project",
          zookeeper,
          acknowledged: report.acknowledged,
          lost: report.lost,
          duplicated: report.duplicated,
          holes: (violations["hole"] ?? 0) + (violations["orphan-marker"] ?? 0) + (violations["short-batch"] ?? 0),
          ...(projectDir === undefined ? { converged: report.mastersConverged } : { masterAtHead: health?.position === head, masterPosition: health?.position ?? -1 }),
          divergedSeen,
          errorsRetried: Object.values(record.retriedBecause).reduce((a, b) => a + b, 0),
          serverKills: kills,
          head: report.head,
          violations,
        }
      }
      await sleep(500)
    }
  } finally {
    monitoring = false
    await monitor
    await reader?.close()
    await master.kill()
    await removeTempDir(dir)
  }
}

/** Plain multis shaped like the log's, on one shared session, with the same read-back after a lost reply. */
async function rawRun(ensemble: ZooKeeperEnsemble, zookeeper: string, minKills: number): Promise<Omit<RunFigures, "seconds" | "startedAt" | "minKills">> {
  const root = `/raw-${randomBytes(4).toString("hex")}`
  const chain = `${root}/log`
  const entry = (p: number) => `${chain}/${String(p).padStart(16, "0")}`
  const versionNode = (w: number) => `${root}/streams/w${w}`
  const zk = await ZkClient.connect(ensemble.connectString, {}, 30_000)
  let reader: ZkClient | undefined
  const acked: Array<{ id: string; position: number }> = []
  let errorsRetried = 0
  try {
    await zk.ensurePath(chain)
    for (let w = 0; w < WRITERS; w++) await zk.ensurePath(versionNode(w))
    const payload = (id: string) => Buffer.from(JSON.stringify({ id, pad: "x".repeat(400) }))
    let head = 0 // shared cursor of this "writer process", like the log's ChainCursor
    let total = 0

    const rawHead = async () => {
      await zk.sync(chain)
      return (await zk.exists(chain))!.numChildren
    }
    const versionOf = async (w: number) => (await zk.exists(versionNode(w)))!.version
    /** Retries `f` while ZooKeeper is away (connection lost, not reconnected yet). */
    const patiently = async <T>(f: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await f()
        } catch (e) {
          if (!(e instanceof LogUnavailable)) throw e
          errorsRetried++
          await zk.waitConnected(60_000).catch(() => undefined)
          await sleep(100)
        }
      }
    }

    /** One append by writer w: claim the next position, send the multi, learn the outcome of a lost reply. */
    const appendOne = async (w: number, id: string, version: { v: number }) => {
      const mine = payload(id)
      for (;;) {
        const p = ++head
        let refused
        try {
          refused = await zk.multi((tx) => {
            if (p > 1) tx.check(entry(p - 1), -1)
            tx.create(entry(p), mine)
            tx.setData(versionNode(w), mine, version.v)
          })
        } catch (error) {
          if (!(error instanceof LogUnavailable)) throw error
          errorsRetried++
          // The reply was lost: did it land? Sync first (the session may now be on a lagging follower).
          const landed = await patiently(async () => {
            await zk.waitConnected(60_000)
            await zk.sync(chain)
            const data = await zk.getDataIfExists(entry(p))
            version.v = await versionOf(w)
            return data !== undefined && data.equals(mine)
          })
          if (landed) {
            acked.push({ id, position: p })
            return
          }
          head = await patiently(rawHead)
          continue
        }
        if (refused === undefined) {
          version.v++
          acked.push({ id, position: p })
          return
        }
        // Someone took p, or p-1 is not there yet, or our version is stale: look again.
        head = await patiently(rawHead)
        if (refused.code === ZK.Exception.BAD_VERSION) version.v = await patiently(() => versionOf(w))
      }
    }

    const phase: Phase = async (n, more) => {
      const start = total
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, w) => {
          const version = { v: await patiently(() => versionOf(w)) }
          while (total < start + n || more()) await appendOne(w, `append-${total++}`, version)
        }),
      )
      return total - start
    }
    // Writers on one session: each tracks its own version node's version.
    const { kills } = await withNemesis(ensemble, phase, minKills, overlap)

    reader = await ZkClient.connect(ensemble.connectString, {}, 30_000)
    await reader.sync(chain)
    const names = await reader.getChildren(chain)
    const positions = names.map(Number).sort((a, b) => a - b)
    const at = new Map<number, string>()
    const ids = new Map<string, number>()
    let duplicated = 0
    for (const p of positions) {
      const { id } = JSON.parse((await reader.getData(entry(p))).data.toString()) as { id: string }
      at.set(p, id)
      ids.set(id, (ids.get(id) ?? 0) + 1)
    }
    for (const count of ids.values()) if (count > 1) duplicated += count - 1
    const lastPosition = positions.length === 0 ? 0 : positions[positions.length - 1]!
    const lost = new Set(acked.filter((a) => at.get(a.position) !== a.id).map((a) => a.id)).size
    return {
      target: "raw",
      zookeeper,
      acknowledged: new Set(acked.map((a) => a.id)).size,
      lost,
      duplicated,
      holes: lastPosition - positions.length,
      errorsRetried,
      serverKills: kills,
      head: lastPosition,
    }
  } finally {
    await reader?.close()
    await zk.close()
  }
}

// ---------------------------------------------------------------------------------------------

const { values } = parseArgs({
  options: {
    zk: { type: "string", default: "3.9.5" },
    target: { type: "string", default: "project" },
    runs: { type: "string", default: "1" },
    kills: { type: "string", default: "0" },
    "project-dir": { type: "string" },
    overlap: { type: "boolean", default: false },
    json: { type: "string" },
  },
})
const versions = values.zk!.split(",")
const targets = values.target!.split(",") as Array<"project" | "raw">
const runs = Number(values.runs)
const minKills = Number(values.kills)
const overlap = values.overlap === true
const results: RunFigures[] = []
const row = (r: RunFigures) =>
  [r.target.padEnd(8), r.zookeeper.padEnd(6), String(r.acknowledged).padStart(6), String(r.lost).padStart(5), String(r.duplicated).padStart(5), String(r.holes).padStart(5),
    ((r.converged ?? r.masterAtHead) === undefined ? "-" : (r.converged ?? r.masterAtHead) ? "yes" : "NO").padStart(9), (r.divergedSeen === undefined ? "-" : r.divergedSeen ? "yes" : "no").padStart(8),
    String(r.errorsRetried).padStart(7), String(r.serverKills).padStart(5), String(r.head).padStart(6), r.seconds.toFixed(0).padStart(5)].join(" ")
const header = "target   zk       acked  lost  dupl holes converged diverged retried kills   head  secs"

console.log(header)
for (let run = 0; run < runs; run++)
  for (const zookeeper of versions)
    for (const target of targets) {
      const startedAt = new Date().toISOString()
      const t0 = Date.now()
      const ensemble = await startEnsemble({ maxHeap: "256m", distribution: zooKeeperDistribution(zookeeper) })
      try {
        const figures = await (target === "project" ? projectRun(ensemble, zookeeper, minKills, values["project-dir"]) : rawRun(ensemble, zookeeper, minKills))
        const r: RunFigures = { ...figures, minKills, overlap, ...(values["project-dir"] ? { project: values["project-dir"] } : {}), seconds: (Date.now() - t0) / 1000, startedAt }
        results.push(r)
        console.log(row(r) + (r.violations && Object.keys(r.violations).length > 0 ? `  ${JSON.stringify(r.violations)}` : ""))
        if (values.json) {
          const file = values.json
          const previous = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { runs: RunFigures[] }).runs : []
          writeFileSync(file, JSON.stringify(summarise([...previous, r]), null, 2) + "\n")
        }
      } catch (error) {
        console.log(`${target} on ${zookeeper}: run failed: ${(error as Error).stack ?? error}`)
      } finally {
        await ensemble.destroy()
      }
    }

function summarise(all: RunFigures[]) {
  const groups = new Map<string, RunFigures[]>()
  const keyOf = (r: RunFigures) =>
    `${r.target}${r.project ? ` (${r.project})` : ""} on ZooKeeper ${r.zookeeper}${r.minKills > 0 ? `, at least ${r.minKills} rolling kills` : ""}${r.overlap ? ", kills not waiting for the restarted server to rejoin" : ""}${r.load ? ", under CPU load" : ""}`
  for (const r of all) groups.set(keyOf(r), [...(groups.get(keyOf(r)) ?? []), r])
  const summary = Object.fromEntries(
    [...groups].map(([key, rs]) => [
      key,
      {
        runs: rs.length,
        runsLosingAcknowledgedWrites: rs.filter((r) => r.lost > 0).length,
        runsDuplicating: rs.filter((r) => r.duplicated > 0).length,
        runsWithHoles: rs.filter((r) => r.holes > 0).length,
        runsNotConverged: rs.filter((r) => r.converged === false || r.masterAtHead === false).length,
        runsWhereMasterSaidDiverged: rs.filter((r) => r.divergedSeen === true).length,
        acknowledged: rs.reduce((n, r) => n + r.acknowledged, 0),
        lost: rs.reduce((n, r) => n + r.lost, 0),
        duplicated: rs.reduce((n, r) => n + r.duplicated, 0),
      },
    ]),
  )
  return {
    nemesis: `issue 17: 3-server ensemble (forceSync=yes, tickTime=500); ${FIRST_PHASE} creates with one leader kill, then ${WRITERS} writers x ${SECOND_PHASE} creates while servers are killed -9 and restarted in turn every ${KILL_EVERY_MS / 1000} s`,
    summary,
    runs: all,
  }
}
process.exit(0)
