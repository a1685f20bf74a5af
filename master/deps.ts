import type { EventLog } from "../core/event-log.ts"
import type { HostLabels } from "../core/commands.ts"
import type { HostName } from "../core/ids.ts"
import type { CommandBus } from "./command-bus.ts"
import type { Checkpoints } from "./checkpoints.ts"
import type { LiveProjection } from "./live-projection.ts"
import type { HostDetails } from "./responses.ts"

/** What the HTTP layer needs from a running master; wired in master/master.ts. */
export interface MasterDeps {
  readonly name: string
  readonly version: string
  readonly log: EventLog
  readonly projection: LiveProjection
  /** Checkpoints for temporal queries (`/state?at=`). */
  readonly checkpoints: Checkpoints
  readonly bus: CommandBus
  readonly now: () => number
  /** Names of the masters that are up. */
  readonly masters: () => Promise<ReadonlyArray<string>>
  /** Latest-value facts an agent reported about its host (not events). */
  readonly hostDetails: (host: HostName) => Promise<HostDetails | undefined>
  /** Labels of the registered hosts (host facts): what deployment-group selectors match. */
  readonly hostLabels: () => Promise<HostLabels>
  /** Capabilities a job may add (Helios's --whitelisted-capability; none by default). */
  readonly whitelistedCapabilities: ReadonlyArray<string>
}
