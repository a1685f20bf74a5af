/**
 * A real three-server ZooKeeper ensemble on loopback for fault tests.
 *
 *   const zk = await startEnsemble()          // 3 servers, free ports, fresh temp dirs, forceSync=yes
 *   zk.connectString                          // "127.0.0.1:A,127.0.0.1:B,127.0.0.1:C" (direct)
 *   const leader = await zk.leader()          // the member whose `srvr` says "Mode: leader"
 *   await leader.kill()                       // kill -9; .start() brings it back with its data
 *   await zk.member(2).pause()                // SIGSTOP; .resume() sends SIGCONT
 *   const gate = await zk.gate()              // a TCP gate in front of all three, for one client
 *   gate.connectString; gate.cut(); gate.freeze(); gate.restore()
 *   await zk.destroy()                        // kill all, close gates, delete the temp dir
 *
 * Each server is a test/zookeeper.ts server (ZooKeeper 3.9.5 unless `distribution` says otherwise, logback output in its own data dir,
 * `setpriv --pdeathsig KILL`, killed from the process 'exit' hook) with its own client, quorum and
 * election ports and a `myid`; `tickTime=500` (from test/zookeeper.ts) makes elections take about a
 * second and drops a silent follower after syncLimit (5) ticks. The temp dir holding all three is
 * removed on destroy() or process exit (kept with HELIOS_KEEP_ZK=1 for a post-mortem).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { tcpGate, type GateState, type TcpGate } from "./tcp-gate.ts"
import { freePort, makeTempDir, removeTempDir, serverMode, startZooKeeper, type ZooKeeperDistribution, type ZooKeeperServer } from "./zookeeper.ts"

export interface EnsembleOptions {
  /** Milliseconds for all three servers to form a quorum and serve. Default 60 000. */
  startTimeoutMs?: number
  /** JVM heap limit per server, default "256m". */
  maxHeap?: string
  /** Extra zoo.cfg lines for every server. */
  config?: Record<string, string | number>
  /** Which ZooKeeper to run (test/zookeeper.ts); default the installed ZK_VERSION. */
  distribution?: ZooKeeperDistribution
}

export interface EnsembleMember {
  /** The server's myid: 1, 2 or 3. */
  readonly id: number
  readonly clientPort: number
  /** "127.0.0.1:PORT" of this server alone. */
  readonly connectString: string
  readonly dataDir: string
  readonly pid: number | undefined
  readonly running: boolean
  /** Stopped with SIGSTOP and not resumed yet. */
  readonly paused: boolean
  /** kill -9; resolves when the process has exited. */
  kill(): Promise<void>
  /** SIGTERM (SIGKILL after 5 s). */
  stop(): Promise<void>
  /** (Re)start with the same ports and data; resolves once it serves requests (it has joined a quorum). */
  start(): Promise<void>
  /** SIGSTOP: the process freezes with its sockets open. */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** "leader" or "follower" from `srvr`; undefined while stopped, paused or not serving. */
  mode(): Promise<string | undefined>
}

export interface EnsembleGate {
  /** Connect string through this gate: one gate port per server. */
  readonly connectString: string
  readonly state: GateState
  /** Reset every connection and refuse new ones (the client sees a disconnect at once). */
  cut(): void
  /** Hold every byte in both directions, connections stay open (only timeouts tell). */
  freeze(): void
  /** Forward again (a frozen connection's held bytes are delivered first). */
  restore(): void
  close(): Promise<void>
}

export interface ZooKeeperEnsemble {
  readonly members: readonly EnsembleMember[]
  /** Member by myid (1-based). */
  member(id: number): EnsembleMember
  /** Connect string straight to all three servers. */
  readonly connectString: string
  /** Connect string straight to the given members only. */
  connectStringOf(members: readonly EnsembleMember[]): string
  /** Waits until exactly one running, unpaused member says "Mode: leader" and returns it. */
  leader(timeoutMs?: number): Promise<EnsembleMember>
  /** A new TCP gate in front of all three servers, for one client; closed by destroy(). */
  gate(): Promise<EnsembleGate>
  /** Kill every server, close every gate, delete the temp dir. */
  destroy(): Promise<void>
}

const SIZE = 3
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export async function startEnsemble(opts: EnsembleOptions = {}): Promise<ZooKeeperEnsemble> {
  const root = await makeTempDir("helios-zk-ensemble-")
  const ids = Array.from({ length: SIZE }, (_, i) => i + 1)
  // Nine distinct free ports: client, quorum and election port for each server.
  const ports = new Set<number>()
  while (ports.size < SIZE * 3) ports.add(await freePort())
  const [clientPorts, quorumPorts, electionPorts] = [0, 1, 2].map((k) => [...ports].slice(k * SIZE, (k + 1) * SIZE))
  const serverLines = Object.fromEntries(ids.map((id, i) => [`server.${id}`, `127.0.0.1:${quorumPorts![i]}:${electionPorts![i]}`]))

  const started = await Promise.allSettled(
    ids.map((id, i) => {
      const dataDir = join(root, `zk${id}`)
      mkdirSync(join(dataDir, "data"), { recursive: true })
      writeFileSync(join(dataDir, "data", "myid"), `${id}\n`)
      return startZooKeeper({
        port: clientPorts![i]!,
        dataDir,
        fsync: true,
        startTimeoutMs: opts.startTimeoutMs ?? 60_000,
        ...(opts.maxHeap === undefined ? {} : { maxHeap: opts.maxHeap }),
        ...(opts.distribution === undefined ? {} : { distribution: opts.distribution }),
        config: { ...serverLines, ...opts.config },
      })
    }),
  )
  const servers = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []))
  const failure = started.find((r) => r.status === "rejected")
  if (failure !== undefined) {
    await Promise.all(servers.map((s) => s.destroy()))
    await removeTempDir(root)
    throw failure.reason
  }

  const members = servers.map((server, i) => member(ids[i]!, server))
  const gates = new Set<TcpGate[]>()
  const connectStringOf = (ms: readonly EnsembleMember[]) => ms.map((m) => m.connectString).join(",")

  return {
    members,
    member: (id) => {
      const m = members.find((x) => x.id === id)
      if (m === undefined) throw new Error(`no ensemble member ${id}`)
      return m
    },
    connectString: connectStringOf(members),
    connectStringOf,
    leader: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs
      let modes: (string | undefined)[] = []
      for (;;) {
        modes = await Promise.all(members.map((m) => m.mode().catch(() => undefined)))
        const leaders = members.filter((_, i) => modes[i] === "leader")
        if (leaders.length === 1) return leaders[0]!
        if (Date.now() > deadline) {
          throw new Error(`no single leader within ${timeoutMs} ms: ${members.map((m, i) => `${m.id}=${modes[i] ?? "-"}`).join(" ")}`)
        }
        await sleep(100)
      }
    },
    gate: async () => {
      const perServer = await Promise.all(members.map((m) => tcpGate(m.clientPort)))
      gates.add(perServer)
      return {
        connectString: perServer.map((g) => `127.0.0.1:${g.port}`).join(","),
        get state() {
          return perServer[0]!.state
        },
        cut: () => perServer.forEach((g) => g.cut()),
        freeze: () => perServer.forEach((g) => g.freeze()),
        restore: () => perServer.forEach((g) => g.restore()),
        close: async () => {
          gates.delete(perServer)
          await Promise.all(perServer.map((g) => g.close()))
        },
      }
    },
    destroy: async () => {
      await Promise.all([...gates].flatMap((g) => g.map((x) => x.close())))
      gates.clear()
      await Promise.all(servers.map((s) => s.destroy()))
      await removeTempDir(root)
    },
  }
}

function member(id: number, server: ZooKeeperServer): EnsembleMember {
  let paused = false
  const signal = (sig: NodeJS.Signals) => {
    const pid = server.pid
    if (pid === undefined) throw new Error(`ZooKeeper ${id} is not running`)
    process.kill(pid, sig)
  }
  return {
    id,
    clientPort: server.port,
    connectString: server.connectString,
    dataDir: server.dataDir,
    get pid() {
      return server.pid
    },
    get running() {
      return server.running
    },
    get paused() {
      return paused && server.running
    },
    // SIGKILL ends a stopped process too; SIGTERM would wait for SIGCONT, so resume first.
    kill: async () => {
      await server.kill()
      paused = false
    },
    stop: async () => {
      if (paused && server.running) signal("SIGCONT")
      paused = false
      await server.stop()
    },
    start: async () => {
      paused = false
      await server.start()
    },
    pause: () => {
      signal("SIGSTOP")
      paused = true
    },
    resume: () => {
      signal("SIGCONT")
      paused = false
    },
    mode: async () => (server.running && !paused ? serverMode(server.port) : undefined),
  }
}
