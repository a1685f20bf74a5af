import { Result, Schema } from "effect"
import { decodeInput, formatFieldErrors } from "./decode.ts"

/*
 * Latest-value facts about a host (periodic measurements, not events): what
 * `helios hosts` shows (cpus, memory, load, OS, Docker and agent versions, labels) and whether the
 * host is up. The agent writes them through a HostInfoStore; the master reads them through a
 * HostInfoReader. Two implementations beside the log adapters: ZooKeeper (log/zk-host-info-store.ts:
 * a data node per host plus the ephemeral `up` node) and a local SQLite file for solo mode
 * (log/sqlite-host-info-store.ts: up = the agent process is alive). agent/host-info.ts measures.
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
