import { pack, unpack } from "msgpackr"
import type { HostName, Position } from "../core/ids.ts"
import type { StreamId } from "../core/events.ts"
import type { ReadModel } from "./read-model.ts"

/*
 * A snapshot is the read model as plain data, so a master's cold start reads it plus the log's
 * tail instead of the whole log. snapshot + tail == full replay (properties/ checks it).
 */

export const SNAPSHOT_FORMAT = 2

export const encodeSnapshot = (m: ReadModel): Uint8Array =>
  pack({
    format: SNAPSHOT_FORMAT,
    position: m.state.position,
    jobs: [...m.state.jobs],
    hosts: [...m.state.hosts],
    deployments: [...m.state.deployments].map(([h, byJob]) => [h, [...byJob]]),
    // Kept as is (not rebuilt from deployments) so listings iterate in the same order as a replay.
    jobHosts: [...m.state.jobHosts].map(([j, hosts]) => [j, [...hosts]]),
    tasks: [...m.state.tasks].map(([h, byJob]) => [h, [...byJob]]),
    versions: [...m.state.versions],
    history: [...m.history],
    commands: [...m.commands],
  })

export const decodeSnapshot = (bytes: Uint8Array): ReadModel => {
  const raw = unpack(bytes) as {
    format: number
    position: number
    jobs: Array<[string, never]>
    hosts: Array<[HostName, never]>
    deployments: Array<[HostName, Array<[string, never]>]>
    jobHosts: Array<[string, HostName[]]>
    tasks: Array<[HostName, Array<[string, never]>]>
    versions: Array<[StreamId, number]>
    history: Array<[string, never[]]>
    commands: Array<[string, number]>
  }
  if (raw?.format !== SNAPSHOT_FORMAT) throw new Error(`unknown snapshot format ${String(raw?.format)}`)
  const deployments = new Map(raw.deployments.map(([h, byJob]) => [h, new Map(byJob)]))
  const jobHosts = new Map(raw.jobHosts.map(([j, hosts]) => [j, new Set(hosts)]))
  return {
    state: {
      jobs: new Map(raw.jobs),
      hosts: new Map(raw.hosts),
      deployments,
      jobHosts,
      tasks: new Map(raw.tasks.map(([h, byJob]) => [h, new Map(byJob)])),
      versions: new Map(raw.versions),
      position: raw.position as Position,
    },
    history: new Map(raw.history),
    commands: new Map(raw.commands),
  }
}
