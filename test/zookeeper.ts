/**
 * A real standalone ZooKeeper (3.9.5 from Maven Central, installed by scripts/setup.sh into
 * $HELIOS_ZK_LIB, default /opt/helios/zookeeper-3.9.5/lib) for tests and benchmarks.
 *
 *   const zk = await startZooKeeper()        // free port on 127.0.0.1, fresh temp data dir
 *   zk.connectString                         // "127.0.0.1:PORT"
 *   await zk.kill()                          // SIGKILL: simulate a crash
 *   await zk.start()                         // restart on the same port with the same data
 *   await zk.stop()                          // SIGTERM (SIGKILL after 5 s)
 *   await zk.destroy()                       // kill and delete the data dir if we created it
 *
 * The JVM's output goes to files in the data dir (`zookeeper.log` via logback, `zookeeper.out` for
 * stdout/stderr), never to the test output. Every server still running when the Node process exits
 * is SIGKILLed from a process 'exit' handler (which also deletes the temp data dirs it created,
 * unless HELIOS_KEEP_ZK is set); in addition the JVM is started through `setpriv --pdeathsig KILL`,
 * so the kernel kills it even if Node itself is SIGKILLed (measured: no orphan left).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { createServer, connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface ZooKeeperOptions {
  /** Client port on 127.0.0.1; a free one is picked when omitted. */
  port?: number
  /** Directory for zoo.cfg, logs and data; a fresh temp dir when omitted (then destroy() deletes it). */
  dataDir?: string
  /** fsync the transaction log (ZooKeeper's default). Off by default: the data still reaches the
   * OS page cache, so it survives a SIGKILL of the server (not a machine crash), and tests run faster. */
  fsync?: boolean
  /** Milliseconds to wait for `ruok` -> `imok` after starting. Default 30 000. */
  startTimeoutMs?: number
  /** Extra zoo.cfg lines, e.g. { "jute.maxbuffer": "4194304" }. */
  config?: Record<string, string | number>
  /** JVM heap limit, default "256m". */
  maxHeap?: string
  /** Which ZooKeeper to run; default installedZooKeeper() (ZK_VERSION from scripts/setup.sh). */
  distribution?: ZooKeeperDistribution
}

/**
 * A ZooKeeper build to run: its jars and how it is told where to log. The installed 3.9.5 is the
 * default everywhere; Debian 12's 3.8.0 (known to lose committed transactions, issue 17) is kept
 * only for test/nemesis-zk-versions.ts, which compares the two.
 */
export interface ZooKeeperDistribution {
  readonly version: string
  /** The java classpath (throws, naming what is missing, if it is not installed). */
  classpath(dataDir: string): string
  /** Writes the logging configuration into dataDir (everything at INFO to logFile) and returns the JVM flags naming it. */
  logging(dataDir: string, logFile: string): string[]
}

export interface ZooKeeperServer {
  /** "127.0.0.1:PORT" */
  readonly connectString: string
  readonly port: number
  readonly dataDir: string
  /** Pid of the running JVM, undefined while stopped. */
  readonly pid: number | undefined
  readonly running: boolean
  /** Graceful stop: SIGTERM, SIGKILL after 5 s; resolves when the process has exited. */
  stop(): Promise<void>
  /** Crash: SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>
  /** (Re)start with the same port and data dir; resolves once it answers `ruok` and serves. */
  start(): Promise<void>
  /** Kill the server and remove the data dir if startZooKeeper created it. */
  destroy(): Promise<void>
}

/** The ZooKeeper release scripts/setup.sh installs (also in scripts/zookeeper/pom.xml). */
export const ZK_VERSION = "3.9.5"

/** Directory holding the ZooKeeper server jar and its runtime jars (the same default as scripts/setup.sh). */
export function zooKeeperLib(): string {
  return process.env["HELIOS_ZK_LIB"] || `/opt/helios/zookeeper-${ZK_VERSION}/lib`
}

/** Version of the ZooKeeper jar in zooKeeperLib() (e.g. "3.9.5"), undefined when none is installed. */
export function installedZooKeeperVersion(): string | undefined {
  try {
    for (const name of readdirSync(zooKeeperLib())) {
      const m = /^zookeeper-(\d+\.\d+\.\d+)\.jar$/.exec(name)
      if (m) return m[1]
    }
  } catch {
    // no such directory
  }
  return undefined
}

/** ZooKeeper ZK_VERSION as scripts/setup.sh installs it: every jar in zooKeeperLib(), logback. */
export function installedZooKeeper(): ZooKeeperDistribution {
  return {
    version: ZK_VERSION,
    classpath: () => {
      const lib = zooKeeperLib()
      if (!existsSync(join(lib, `zookeeper-${ZK_VERSION}.jar`))) {
        throw new Error(`ZooKeeper ${ZK_VERSION} is not installed in ${lib}: run scripts/setup.sh (or set HELIOS_ZK_LIB)`)
      }
      return join(lib, "*")
    },
    logging: (dataDir, logFile) => {
      const file = join(dataDir, "logback.xml")
      writeFileSync(file, logbackConfig(logFile))
      return [`-Dlogback.configurationFile=${file}`]
    },
  }
}

/** Debian 12's ZooKeeper 3.8.0 package jars (log4j 1.2), for comparing versions only (issue 17). */
export const DEBIAN_ZK_380_JARS = [
  "/usr/share/java/zookeeper.jar",
  "/usr/share/java/zookeeper-jute.jar",
  "/usr/share/java/slf4j-log4j12.jar",
  "/usr/share/java/log4j-1.2.jar",
]

export function debianZooKeeper380(): ZooKeeperDistribution {
  return {
    version: "3.8.0",
    classpath: () => {
      const missing = DEBIAN_ZK_380_JARS.filter((jar) => !existsSync(jar))
      if (missing.length > 0) throw new Error(`Debian's ZooKeeper 3.8.0 is not installed (missing ${missing.join(", ")})`)
      return DEBIAN_ZK_380_JARS.join(":")
    },
    logging: (dataDir, logFile) => {
      const file = join(dataDir, "log4j.properties")
      writeFileSync(
        file,
        [
          "log4j.rootLogger=INFO, FILE",
          "log4j.appender.FILE=org.apache.log4j.FileAppender",
          `log4j.appender.FILE.File=${logFile}`,
          "log4j.appender.FILE.Append=true",
          "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout",
          "log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n",
          "",
        ].join("\n"),
      )
      return [`-Dlog4j.configuration=file:${file}`]
    },
  }
}

/** A distribution by version: "3.8.0" (Debian's jars) or the installed ZK_VERSION. */
export function zooKeeperDistribution(version: string = ZK_VERSION): ZooKeeperDistribution {
  if (version === ZK_VERSION) return installedZooKeeper()
  if (version === "3.8.0") return debianZooKeeper380()
  throw new Error(`no ZooKeeper ${version} here: ${ZK_VERSION} (installed) or 3.8.0 (Debian's jars)`)
}

/** A logback configuration sending everything at INFO and above to `logFile`. */
function logbackConfig(logFile: string): string {
  const xmlText = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
  return [
    "<configuration>",
    '  <appender name="FILE" class="ch.qos.logback.core.FileAppender">',
    `    <file>${xmlText(logFile)}</file>`,
    "    <append>true</append>",
    "    <encoder><pattern>%d{ISO8601} %-5level [%thread:%logger{0}] - %msg%n</pattern></encoder>",
    "  </appender>",
    '  <root level="INFO"><appender-ref ref="FILE"/></root>',
    "</configuration>",
    "",
  ].join("\n")
}

/** All servers currently running in this process, killed on process exit. */
const live = new Set<ChildProcess>()
/** Temp data dirs created here and not destroyed yet, removed on process exit (unless HELIOS_KEEP_ZK). */
const ownDirs = new Set<string>()

/** A fresh temp dir that is removed on process exit (unless HELIOS_KEEP_ZK) if removeTempDir has not removed it. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  ownDirs.add(dir)
  installExitHook()
  return dir
}

/** Remove a dir from makeTempDir (kept with HELIOS_KEEP_ZK, like the exit hook does). */
export async function removeTempDir(dir: string): Promise<void> {
  ownDirs.delete(dir)
  if (process.env["HELIOS_KEEP_ZK"]) return
  await rm(dir, { recursive: true, force: true, maxRetries: 3 })
}
let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on("exit", () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL")
      } catch {
        // already gone
      }
    }
    if (process.env["HELIOS_KEEP_ZK"]) return
    for (const dir of ownDirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 5 })
      } catch {
        // best effort: the killed JVM may still be closing its files
      }
    }
  })
}

/** A TCP port that is free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port)
        else reject(new Error("could not determine a free port"))
      })
    })
  })
}

/** Send a four-letter-word command (ruok, srvr, stat, mntr) and return the whole answer. */
export function fourLetterWord(port: number, command: string, timeoutMs = 2_000, host = "127.0.0.1"): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect({ host, port })
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`${command}: timed out after ${timeoutMs} ms`)))
    socket.on("connect", () => socket.end(command))
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", reject)
    socket.on("close", (hadError) => {
      if (!hadError) resolve(Buffer.concat(chunks).toString("utf8"))
    })
  })
}

/** The server's version from `srvr` ("Zookeeper version: 3.9.5-<commit>, built on ..."), e.g. "3.9.5". */
export async function serverVersion(port: number, host = "127.0.0.1"): Promise<string> {
  const answer = await fourLetterWord(port, "srvr", 2_000, host)
  const m = /^Zookeeper version: (\d+\.\d+\.\d+)/m.exec(answer)
  if (!m) throw new Error(`no version in srvr's answer: ${JSON.stringify(answer.slice(0, 200))}`)
  return m[1]!
}

/** The server's role from `srvr`: "leader", "follower", "standalone"...; undefined while it serves no requests. */
export async function serverMode(port: number, host = "127.0.0.1"): Promise<string | undefined> {
  const answer = await fourLetterWord(port, "srvr", 1_000, host)
  return /^Mode: (\S+)/m.exec(answer)?.[1]
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n")
  } catch {
    return ""
  }
}

export async function startZooKeeper(opts: ZooKeeperOptions = {}): Promise<ZooKeeperServer> {
  const distribution = opts.distribution ?? installedZooKeeper()
  const port = opts.port ?? (await freePort())
  const ownDir = opts.dataDir === undefined
  const dataDir = opts.dataDir ?? (await makeTempDir("helios-zk-"))
  installExitHook()
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000
  mkdirSync(join(dataDir, "data"), { recursive: true })

  const cfg: Record<string, string | number> = {
    tickTime: 500,
    initLimit: 10,
    syncLimit: 5,
    minSessionTimeout: 1_000,
    maxSessionTimeout: 60_000,
    dataDir: join(dataDir, "data"),
    clientPort: port,
    clientPortAddress: "127.0.0.1",
    maxClientCnxns: 0,
    "admin.enableServer": "false",
    "4lw.commands.whitelist": "ruok,srvr,stat,mntr",
    forceSync: opts.fsync === true ? "yes" : "no",
    ...opts.config,
  }
  const cfgFile = join(dataDir, "zoo.cfg")
  writeFileSync(cfgFile, Object.entries(cfg).map(([k, v]) => `${k}=${v}`).join("\n") + "\n")
  const logFile = join(dataDir, "zookeeper.log")
  const loggingFlags = distribution.logging(dataDir, logFile)
  const outFile = join(dataDir, "zookeeper.out")

  const javaArgs = [
    `-Xmx${opts.maxHeap ?? "256m"}`,
    "-XX:+UseSerialGC",
    "-Djava.net.preferIPv4Stack=true",
    ...loggingFlags,
    "-Dzookeeper.admin.enableServer=false",
    "-cp",
    distribution.classpath(dataDir),
    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
    cfgFile,
  ]
  const usePdeathsig = existsSync("/usr/bin/setpriv")

  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()

  const launch = async (): Promise<void> => {
    if (child !== undefined) return
    installExitHook()
    const out = openSync(outFile, "a")
    const proc = usePdeathsig
      ? spawn("/usr/bin/setpriv", ["--pdeathsig", "KILL", "--", "java", ...javaArgs], { stdio: ["ignore", out, out] })
      : spawn("java", javaArgs, { stdio: ["ignore", out, out] })
    closeSync(out)
    child = proc
    live.add(proc)
    let exitInfo: string | undefined
    exited = new Promise<void>((resolve) => {
      const done = (info: string) => {
        exitInfo ??= info
        live.delete(proc)
        if (child === proc) child = undefined
        resolve()
      }
      proc.once("exit", (code, signal) => done(`exited with ${signal ?? `code ${code}`}`))
      proc.once("error", (err) => done(`failed to spawn: ${err.message}`))
    })

    const deadline = Date.now() + startTimeoutMs
    for (;;) {
      if (exitInfo !== undefined) {
        throw new Error(`ZooKeeper on port ${port} ${exitInfo} during startup:\n${tail(outFile)}\n${tail(logFile)}`)
      }
      try {
        // ruok answers as soon as the port is open; srvr says whether requests are being served.
        if ((await fourLetterWord(port, "ruok", 1_000)) === "imok" && (await fourLetterWord(port, "srvr", 1_000)).includes("Mode:")) {
          return
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        proc.kill("SIGKILL")
        await exited
        throw new Error(`ZooKeeper on port ${port} did not answer ruok within ${startTimeoutMs} ms:\n${tail(logFile)}`)
      }
      await sleep(50)
    }
  }

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child
    if (proc === undefined) return
    proc.kill(signal)
    if (signal !== "SIGKILL") {
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000)
      await exited
      clearTimeout(timer)
    } else {
      await exited
    }
  }

  const server: ZooKeeperServer = {
    connectString: `127.0.0.1:${port}`,
    port,
    dataDir,
    get pid() {
      return child?.pid
    },
    get running() {
      return child !== undefined
    },
    stop: () => terminate("SIGTERM"),
    kill: () => terminate("SIGKILL"),
    start: launch,
    destroy: async () => {
      await terminate("SIGKILL")
      if (ownDir) {
        ownDirs.delete(dataDir)
        await rm(dataDir, { recursive: true, force: true, maxRetries: 3 })
      }
    },
  }
  await launch()
  return server
}
