import type { HostLabels } from "../core/commands.ts"
import type { StoredEvent } from "../core/events.ts"
import type { FleetState } from "../core/state.ts"
import { mapLimit } from "../log/map-limit.ts"

/*
 * The labels of the registered hosts, for deployment-group selectors. They are host facts (the
 * agent's --label flags, written with its host info), not events, so reading them is one
 * ZooKeeper read per host: cached here, each host's entry re-read when older than what the caller
 * accepts, and forgotten when the host registers, comes up or is deregistered (an agent's labels
 * change only when it restarts).
 */

type InfoReader = (host: string) => Promise<{ readonly labels: Readonly<Record<string, string>> } | undefined>

interface Entry {
  readonly labels: Readonly<Record<string, string>> | undefined
  readonly readAt: number
}

export class HostLabelsCache {
  private readonly entries = new Map<string, Entry>()

  constructor(
    private readonly state: () => FleetState,
    private readonly read: InfoReader | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Labels of every registered host whose agent reported them, each at most `maxAgeMs` old (default: read now). */
  async labels(maxAgeMs = 0): Promise<HostLabels> {
    const out = new Map<string, Readonly<Record<string, string>>>()
    const read = this.read
    if (read === undefined) return out
    const hosts = [...this.state().hosts.keys()]
    const now = this.now()
    const stale = hosts.filter((h) => {
      const e = this.entries.get(h)
      return e === undefined || now - e.readAt > maxAgeMs
    })
    await mapLimit(stale, 32, async (h) => {
      const info = await read(h).catch(() => undefined)
      this.entries.set(h, { labels: info?.labels, readAt: now })
    })
    for (const h of hosts) {
      const labels = this.entries.get(h)?.labels
      if (labels !== undefined) out.set(h, labels)
    }
    return out
  }

  /** Forgets the hosts whose agent (re)registered, came up or went away in these events. */
  onEvents(events: ReadonlyArray<StoredEvent>): void {
    for (const e of events) {
      const event = e.envelope.event
      if (event._tag === "HostRegistered" || event._tag === "HostWentUp" || event._tag === "HostDeregistered") this.entries.delete(event.host)
    }
  }
}
