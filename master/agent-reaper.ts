import type { Command } from "../core/commands.ts"
import type { HostName } from "../core/ids.ts"
import type { HostRecord } from "../core/state.ts"

/*
 * Helios's DeadAgentReaper, run by the leader: a host DOWN for longer than
 * `--agent-reaping-timeout` is deregistered with the ordinary DeregisterHost command (its
 * deployments go with it, as `helios deregister` does), so the log records it like any other
 * deregistration, with the master as the actor.
 */

/** Helios's default: 336 hours (14 days). */
export const DEFAULT_AGENT_REAPING_TIMEOUT_HOURS = 336

export const HOUR_MS = 3_600_000

/**
 * The hosts to reap at `now`: DOWN, and DOWN since at least `timeoutMs` ago (`since` is the time
 * of the host's last up/down transition, or of its registration if it never came up). A timeout
 * of 0 or less reaps nothing (Helios: 0 disables the reaper). Sorted, so runs are reproducible.
 */
export const hostsToReap = (hosts: Iterable<HostRecord>, now: number, timeoutMs: number): HostName[] => {
  if (!(timeoutMs > 0)) return []
  const out: HostName[] = []
  for (const h of hosts) if (!h.up && now - h.since >= timeoutMs) out.push(h.name)
  return out.sort()
}

export interface AgentReaperOptions {
  readonly timeoutMs: number
  /**
   * Whether an agent ever reported facts about the host. Helios leaves a host alone whose agent
   * never did (pre-registered with PUT /hosts/{host} and waiting for it); absent: every DOWN host
   * past the timeout is reaped.
   */
  readonly agentReported?: (host: HostName) => Promise<boolean>
  /** The agent's up mark, checked again just before reaping (the fleet state may lag it). */
  readonly isUp?: (host: HostName) => Promise<boolean>
  /** Runs a command as this master (the actor recorded on the events); true when it was applied. */
  readonly run: (command: Command) => Promise<boolean>
  readonly log?: (line: string) => void
}

/** "2.5 s", "12 min", "336.0 h": for the log line. */
const roughly = (ms: number): string =>
  ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : ms < HOUR_MS ? `${Math.round(ms / 60_000)} min` : `${(ms / HOUR_MS).toFixed(1)} h`

/** One leader's reaper; `reap` is called from its housekeeping round. */
export class AgentReaper {
  /** Hosts found never reported, by `host@since`: asked once, not every round. */
  private readonly neverReported = new Set<string>()

  constructor(private readonly options: AgentReaperOptions) {}

  /** Deregisters the hosts due at `now`, one at a time; returns those it deregistered. */
  async reap(hosts: Iterable<HostRecord>, now: number): Promise<HostName[]> {
    const byName = new Map([...hosts].map((h) => [h.name, h]))
    const due = hostsToReap(byName.values(), now, this.options.timeoutMs)
    const dueKeys = new Set(due.map((host) => `${host}@${byName.get(host)!.since}`))
    for (const key of this.neverReported) if (!dueKeys.has(key)) this.neverReported.delete(key)
    const reaped: HostName[] = []
    for (const host of due) {
      const since = byName.get(host)!.since
      const key = `${host}@${since}`
      if (this.neverReported.has(key)) continue
      if (this.options.agentReported && !(await this.options.agentReported(host))) {
        this.neverReported.add(key)
        continue
      }
      if (this.options.isUp && (await this.options.isUp(host))) continue
      if (!(await this.options.run({ _tag: "DeregisterHost", host }))) continue
      this.options.log?.(`helios-master: reaped host ${host}: DOWN for ${roughly(now - since)} (--agent-reaping-timeout ${roughly(this.options.timeoutMs)})`)
      reaped.push(host)
    }
    return reaped
  }
}
