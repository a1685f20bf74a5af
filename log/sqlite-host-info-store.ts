import { randomBytes } from "node:crypto"
import Database from "better-sqlite3"
import { HostHeldByAnotherAgent, decodeHostInfo, type HostInfo, type HostInfoStore } from "../core/host-info.ts"

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
