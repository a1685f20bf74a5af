/*
 * `helios-master archive --through POSITION --dir DIR`: moves the global log's oldest packed
 * segments out of ZooKeeper into an archive file (README "Retention and archiving";
 * log/zk-archive.ts says what is checked and in which order). Run it on a machine that reaches
 * ZooKeeper with the masters' identity; copy the file to the masters that should still answer
 * queries about those events and give them `--archive-dir`.
 */
import { parseArgs } from "node:util"
import { EventsArchived, type EventLog } from "../core/event-log.ts"
import { position } from "../core/ids.ts"

const USAGE = `usage: helios-master archive (--through POSITION | --before ISO-TIME) --dir DIR [options]
  --through POSITION           archive whole packed segments at or before this log position (only
                               those a shared snapshot has passed: see README "Retention and archiving")
  --before ISO-TIME            the same, through the last event stamped before this time
  --dir DIR                    where the archive file is written (log-FIRST-LAST.helios-archive)
  --zk HOST:PORT[,HOST:PORT]   ZooKeeper ensemble, default 127.0.0.1:2181 (HELIOS_ZK)
  --zk-root PATH               the cluster's root path, default /helios (HELIOS_ZK_ROOT)
  --zk-auth-file FILE          ZooKeeper digest identities: the masters' (HELIOS_ZK_AUTH_FILE)
  -h, --help                   show this help
`

const fail = (message: string): number => {
  process.stderr.write(`helios-master archive: ${message}\n\n${USAGE}`)
  return 2
}

/**
 * The last position whose event is stamped before `time` (0: none), by bisection over the log:
 * event times rise with positions (give or take the clock skew between masters). Archived
 * positions are older than anything still in the log.
 */
export const lastPositionBefore = async (log: EventLog, time: number): Promise<number> => {
  let [low, high] = [0, Number(await log.head())]
  while (low < high) {
    const mid = Math.ceil((low + high) / 2)
    const stampedBefore = await log.read(position(mid - 1), 1).then(
      ([e]) => e !== undefined && e.envelope.at < time,
      (error: unknown) => {
        if (error instanceof EventsArchived) return true
        throw error
      },
    )
    if (stampedBefore) low = mid
    else high = mid - 1
  }
  return low
}

/** Runs the command; its exit code. */
export const runArchiveCommand = async (args: ReadonlyArray<string>): Promise<number> => {
  let values
  try {
    values = parseArgs({
      args: [...args],
      options: {
        through: { type: "string" },
        before: { type: "string" },
        dir: { type: "string" },
        zk: { type: "string", default: process.env.HELIOS_ZK ?? "127.0.0.1:2181" },
        "zk-root": { type: "string", default: process.env.HELIOS_ZK_ROOT ?? "/helios" },
        "zk-auth-file": { type: "string", default: process.env.HELIOS_ZK_AUTH_FILE },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values
  } catch (e) {
    return fail((e as Error).message)
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  if ((values.through === undefined) === (values.before === undefined)) return fail("give one of --through POSITION and --before ISO-TIME")
  if (values.through !== undefined && !/^[1-9]\d{0,15}$/.test(values.through.trim())) return fail(`--through: expected a log position (a positive integer), got ${values.through}`)
  const before = values.before === undefined ? undefined : Date.parse(values.before)
  if (before !== undefined && (Number.isNaN(before) || /^\d+$/.test(values.before!.trim()))) return fail(`--before: expected an ISO-8601 time, got ${values.before}`)
  if (values.dir === undefined || values.dir.trim() === "") return fail("--dir: expected the directory to write the archive file in")
  const [{ ZkClient }, { ZooKeeperEventLog }, { aclPolicy, readZkAuthFile }] = await Promise.all([
    import("../log/zk-client.ts"),
    import("../log/zookeeper-log.ts"),
    import("../log/zk-acl.ts"),
  ])
  const root = values["zk-root"]!
  const zkAuth = values["zk-auth-file"] ? readZkAuthFile(values["zk-auth-file"]) : undefined
  if (zkAuth instanceof Error) {
    console.error(`helios-master archive: --zk-auth-file: ${zkAuth.message}`)
    return 1
  }
  let zk
  try {
    zk = await ZkClient.connect(values.zk!, zkAuth ? { auth: zkAuth, aclFor: aclPolicy(root, zkAuth) } : {})
  } catch (e) {
    console.error(`helios-master archive: cannot reach ZooKeeper at ${values.zk}: ${(e as { reason?: string }).reason ?? ((e as Error).message || String(e))}`)
    return 1
  }
  const log = await ZooKeeperEventLog.open(zk, { root })
  try {
    const throughPosition = before === undefined ? Number(values.through) : await lastPositionBefore(log, before)
    if (before !== undefined) console.log(`helios-master archive: the last event stamped before ${values.before} is at position ${throughPosition}`)
    const report = await log.archive({ throughPosition, dir: values.dir, now: new Date() })
    if (report.file === undefined) {
      console.log(`helios-master archive: ${report.reason}${report.znodesRemoved > 0 ? ` (removed ${report.znodesRemoved} znodes an earlier run left)` : ""}`)
      return 0
    }
    console.log(
      `helios-master archive: positions ${report.firstPosition}..${report.lastPosition} (${report.segments} segments, ${report.bytes} bytes) archived to ${report.file}; ` +
        `${report.hostsRebased} host streams rebased, ${report.znodesRemoved} znodes removed. ` +
        `Keep the file: masters given --archive-dir with it answer queries about those positions, the others answer 410 Gone.` +
        (report.removalLeft !== undefined ? ` (${report.removalLeft}.)` : ""),
    )
    return 0
  } catch (e) {
    console.error(`helios-master archive: ${(e as { reason?: string }).reason ?? ((e as Error).message || String(e))}`)
    return 1
  } finally {
    await log.close()
    await zk.close()
  }
}
