import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import os from "node:os"
import Database from "better-sqlite3"
import { Result, Schema } from "effect"
import type { ContainerRuntime } from "../core/container-runtime.ts"
import { decodeInput, formatFieldErrors } from "../core/decode.ts"
import { ZK, zkCode, type ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"

/*
 * Latest-value facts about a host (design.md §2: periodic measurements are not events): what
 * `helios hosts` shows (cpus, memory, load, OS, Docker and agent versions, labels) and whether the
 * host is up. The agent writes them through a HostInfoStore; the master reads them through a
 * HostInfoReader. Two implementations: ZooKeeper (a data node per host plus the ephemeral `up`
 * node) and a local SQLite file for solo mode (up = the agent process is alive).
 */

const DockerVersionInfo = Schema.Struct({
  version: Schema.String,
  apiVersion: Schema.String,
  gitCommit: Schema.optionalKey(Schema.String),
  goVersion: Schema.optionalKey(Schema.String),
  kernelVersion: Schema.optionalKey(Schema.String),
  os: Schema.optionalKey(Schema.String),
  arch: Schema.optionalKey(Schema.String),
})

export const HostInfo = Schema.Struct({
  hostname: Schema.String,
  uname: Schema.String,
  architecture: Schema.String,
  osName: Schema.String,
  osVersion: Schema.String,
  cpus: Schema.Number,
  /** 1, 5 and 15 minute load averages. */
  loadAvg: Schema.Array(Schema.Number),
  memoryTotalBytes: Schema.Number,
  memoryFreeBytes: Schema.Number,
  swapTotalBytes: Schema.Number,
  swapFreeBytes: Schema.Number,
  dockerVersion: Schema.optionalKey(DockerVersionInfo),
  agentId: Schema.String,
  agentVersion: Schema.String,
  /** Epoch ms when the agent started, and how long it has been up. */
  startTime: Schema.Number,
  uptimeMs: Schema.Number,
  /** The agent's `--label`s (what deployment-group selectors match) and `--env`s. */
  labels: Schema.Record(Schema.String, Schema.String),
  environment: Schema.Record(Schema.String, Schema.String),
  /** Epoch ms of this write. */
  updatedAt: Schema.Number,
})
export type HostInfo = typeof HostInfo.Type

export const encodeHostInfo = (info: HostInfo): Buffer => Buffer.from(JSON.stringify(info))

export const decodeHostInfo = (bytes: Buffer | string): HostInfo | undefined => {
  let raw: unknown
  try {
    raw = JSON.parse(typeof bytes === "string" ? bytes : bytes.toString("utf8"))
  } catch {
    return undefined
  }
  const r = decodeInput(HostInfo, raw)
  return Result.isSuccess(r) ? r.success : undefined
}

export const checkHostInfo = (info: unknown): string | undefined => {
  const r = decodeInput(HostInfo, info)
  return Result.isFailure(r) ? formatFieldErrors(r.failure) : undefined
}

/** What the master reads. */
export interface HostInfoReader {
  get(host: string): Promise<HostInfo | undefined>
  isUp(host: string): Promise<boolean>
}

/** What the agent writes (and reads back). */
export interface HostInfoStore extends HostInfoReader {
  put(host: string, info: HostInfo): Promise<void>
  /**
   * Marks the host up for as long as this agent runs (ZooKeeper: an ephemeral node of this
   * session). Resolves true when the mark had to be created (first time, or after the session
   * that held it expired), false when this agent's mark was already there. Rejects with
   * HostHeldByAnotherAgent when a live agent with another id holds it.
   */
  markUp(host: string, agentId: string): Promise<boolean>
  /** Removes this agent's up mark (graceful stop). */
  markDown(host: string): Promise<void>
  close(): Promise<void>
}

export class HostHeldByAnotherAgent extends Error {
  constructor(
    readonly host: string,
    readonly agentId: string,
  ) {
    super(`host ${host} is up under another agent (${agentId})`)
    this.name = "HostHeldByAnotherAgent"
  }
}

interface UpMark {
  agentId: string
  /** Unique per store instance (agent process run): tells our mark from a dead predecessor's. */
  instance: string
  pid: number
  since: number
}

// ------------------------------------------------------------------------------------------------

/** ZooKeeper: `<root>/hosts/<h>/info` holds the JSON, `<root>/hosts/<h>/up` is ephemeral. */
export class ZkHostInfoStore implements HostInfoStore {
  private readonly paths
  private readonly instance = randomBytes(8).toString("hex")

  constructor(
    private readonly zk: ZkClient,
    root = "/helios",
  ) {
    this.paths = zkPaths(root)
  }

  async put(host: string, info: HostInfo): Promise<void> {
    const path = this.paths.hostInfo(host)
    try {
      await this.zk.setData(path, encodeHostInfo(info))
    } catch (e) {
      if (zkCode(e) !== ZK.Exception.NO_NODE) throw e
      await this.zk.ensurePath(path)
      await this.zk.setData(path, encodeHostInfo(info))
    }
  }

  async get(host: string): Promise<HostInfo | undefined> {
    const data = await this.zk.getDataIfExists(this.paths.hostInfo(host))
    return data === undefined || data.length === 0 ? undefined : decodeHostInfo(data)
  }

  async isUp(host: string): Promise<boolean> {
    return (await this.zk.exists(this.paths.hostUp(host))) !== undefined
  }

  async markUp(host: string, agentId: string): Promise<boolean> {
    const path = this.paths.hostUp(host)
    const mark: UpMark = { agentId, instance: this.instance, pid: process.pid, since: Date.now() }
    await this.zk.ensurePath(this.paths.host(host))
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.zk.create(path, Buffer.from(JSON.stringify(mark)), ZK.CreateMode.EPHEMERAL)
        return true
      } catch (e) {
        if (zkCode(e) !== ZK.Exception.NODE_EXISTS) throw e
      }
      const data = await this.zk.getDataIfExists(path)
      if (data === undefined) continue // vanished meanwhile: create again
      let held: Partial<UpMark> = {}
      try {
        held = JSON.parse(data.toString("utf8")) as Partial<UpMark>
      } catch {
        // unreadable: treat as someone else's stale mark below
      }
      if (held.instance === this.instance) return false
      if (held.agentId !== undefined && held.agentId !== agentId) throw new HostHeldByAnotherAgent(host, held.agentId)
      // Our own agent id from an earlier run (killed; its session not expired yet): take it over.
      try {
        await this.zk.remove(path)
      } catch (e) {
        if (zkCode(e) !== ZK.Exception.NO_NODE) throw e
      }
    }
    throw new Error(`could not create ${path}`)
  }

  async markDown(host: string): Promise<void> {
    const path = this.paths.hostUp(host)
    const data = await this.zk.getDataIfExists(path)
    if (data === undefined) return
    try {
      if ((JSON.parse(data.toString("utf8")) as Partial<UpMark>).instance !== this.instance) return
    } catch {
      return
    }
    try {
      await this.zk.remove(path)
    } catch (e) {
      if (zkCode(e) !== ZK.Exception.NO_NODE) throw e
    }
  }

  async close(): Promise<void> {}
}

// ------------------------------------------------------------------------------------------------

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Solo mode: one SQLite file in the data dir. "Up" means the agent process that marked the host
 * is alive (and has not marked it down), which is all "up" can mean without ZooKeeper.
 */
export class LocalHostInfoStore implements HostInfoStore {
  private readonly db: Database.Database
  private readonly instance = randomBytes(8).toString("hex")

  constructor(file: string) {
    this.db = new Database(file)
    this.db.pragma("journal_mode = WAL")
    this.db.pragma("busy_timeout = 5000")
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS host_info (host TEXT PRIMARY KEY, info TEXT NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS host_up (host TEXT PRIMARY KEY, agent_id TEXT NOT NULL, instance TEXT NOT NULL,
        pid INTEGER NOT NULL, since INTEGER NOT NULL);
    `)
  }

  async put(host: string, info: HostInfo): Promise<void> {
    this.db
      .prepare("INSERT INTO host_info (host, info, updated_at) VALUES (?, ?, ?) ON CONFLICT(host) DO UPDATE SET info = excluded.info, updated_at = excluded.updated_at")
      .run(host, JSON.stringify(info), info.updatedAt)
  }

  async get(host: string): Promise<HostInfo | undefined> {
    const row = this.db.prepare("SELECT info FROM host_info WHERE host = ?").get(host) as { info: string } | undefined
    return row === undefined ? undefined : decodeHostInfo(row.info)
  }

  private upRow(host: string): { agent_id: string; instance: string; pid: number } | undefined {
    return this.db.prepare("SELECT agent_id, instance, pid FROM host_up WHERE host = ?").get(host) as
      | { agent_id: string; instance: string; pid: number }
      | undefined
  }

  async isUp(host: string): Promise<boolean> {
    const row = this.upRow(host)
    return row !== undefined && pidAlive(row.pid)
  }

  async markUp(host: string, agentId: string): Promise<boolean> {
    const row = this.upRow(host)
    if (row !== undefined && row.instance === this.instance) return false
    if (row !== undefined && row.agent_id !== agentId && pidAlive(row.pid))
      throw new HostHeldByAnotherAgent(host, row.agent_id)
    this.db
      .prepare("INSERT OR REPLACE INTO host_up (host, agent_id, instance, pid, since) VALUES (?, ?, ?, ?, ?)")
      .run(host, agentId, this.instance, process.pid, Date.now())
    return true
  }

  async markDown(host: string): Promise<void> {
    this.db.prepare("DELETE FROM host_up WHERE host = ? AND instance = ?").run(host, this.instance)
  }

  async close(): Promise<void> {
    this.db.close()
  }
}

// ------------------------------------------------------------------------------------------------

const meminfo = (): { swapTotal: number; swapFree: number } => {
  try {
    const text = readFileSync("/proc/meminfo", "utf8")
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0) * 1024
    return { swapTotal: kb("SwapTotal"), swapFree: kb("SwapFree") }
  } catch {
    return { swapTotal: 0, swapFree: 0 }
  }
}

let cachedVersion: string | undefined
/** This build's version (package.json). */
export const agentVersion = (): string => {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string }).version ?? "0.0.0"
    } catch {
      cachedVersion = "0.0.0"
    }
  }
  return cachedVersion
}

export interface HostInfoInputs {
  readonly runtime: ContainerRuntime
  readonly agentId: string
  readonly startTime: number
  readonly now: number
  readonly labels: Readonly<Record<string, string>>
  readonly environment: Readonly<Record<string, string>>
}

/** Measures this machine now. The Docker version is left out when the engine does not answer. */
export const collectHostInfo = async (i: HostInfoInputs): Promise<HostInfo> => {
  const dockerVersion = await i.runtime.version().catch(() => undefined)
  const swap = meminfo()
  return {
    hostname: os.hostname(),
    uname: `${os.type()} ${os.hostname()} ${os.release()} ${os.version()} ${os.machine()}`,
    architecture: os.arch(),
    osName: os.type(),
    osVersion: os.release(),
    cpus: os.cpus().length,
    loadAvg: os.loadavg(),
    memoryTotalBytes: os.totalmem(),
    memoryFreeBytes: os.freemem(),
    swapTotalBytes: swap.swapTotal,
    swapFreeBytes: swap.swapFree,
    ...(dockerVersion !== undefined ? { dockerVersion } : {}),
    agentId: i.agentId,
    agentVersion: agentVersion(),
    startTime: i.startTime,
    uptimeMs: Math.max(0, i.now - i.startTime),
    labels: { ...i.labels },
    environment: { ...i.environment },
    updatedAt: i.now,
  }
}
