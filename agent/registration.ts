import { AppendConflict, LogBusy, type EventLog } from "../core/event-log.ts"
import { envelopeOf } from "../core/envelope.ts"
import { hostStream, type DomainEvent } from "../core/events.ts"
import { HostHeldByAnotherAgent, type HostInfoStore } from "../core/host-info.ts"
import type { AgentId, HostName } from "../core/ids.ts"
import { sleep, type Clock } from "./clock.ts"
import { hostStreamVersion } from "../core/desired-state.ts"
import type { HostStreamFollower } from "./host-stream.ts"
import { errorText, type Logger } from "./logger.ts"

/*
 * Registration: the host's HostRegistered names this agent id, its `up` node is this agent's, and
 * HostWentUp is in the log. Done at start and again after every reconnect, retried with backoff
 * until it holds. A host held by another agent id is taken over only once that agent has been
 * silent (not up, no fresh host info) for the registration TTL.
 */

export interface RegistrationOptions {
  readonly log: EventLog
  readonly hostInfo: HostInfoStore
  readonly follower: HostStreamFollower
  readonly hostName: HostName
  readonly agentId: AgentId
  /** How long a host held by another agent id must have been silent before we take it over. */
  readonly ttlMs: number
  readonly clock: Clock
  readonly logger: Logger
  /**
   * Once the host is this agent's and before it is marked up: writes the host info (labels among
   * it), so that whoever sees the host UP can read its labels (a deployment group's rollout planned
   * right after would otherwise leave it out). Not before registering: another agent's fresh info
   * is what keeps a held host from being taken over.
   */
  readonly beforeUp?: () => Promise<void>
  /** After each successful registration (the host is this agent's and up). */
  readonly onRegistered: () => void
}

export class Registration {
  /** Resolves once the host is registered to this agent and marked up. */
  readonly registered: Promise<void>
  private resolveRegistered!: () => void
  private registering: Promise<void> | undefined
  private again = false
  private stopped = false
  private readonly stopping = new AbortController()

  constructor(private readonly o: RegistrationOptions) {
    this.registered = new Promise<void>((r) => (this.resolveRegistered = r))
  }

  /** Registers (once more if a registration is under way); retries until it holds or stop(). */
  register(): Promise<void> {
    if (this.registering) {
      this.again = true
      return this.registering
    }
    this.registering = (async () => {
      let backoff = 250
      while (!this.stopped) {
        try {
          this.again = false
          await this.registerOnce()
          this.resolveRegistered()
          if (!this.again) return
        } catch (e) {
          this.o.logger.log(e instanceof HostHeldByAnotherAgent ? "error" : "info", "registration pending", {
            error: errorText(e),
          })
          // Jittered, and no sooner than a busy relay asked (Retry-After): a fleet restarting at once spreads out.
          const wait = e instanceof LogBusy ? e.retryAfterMs * (1 + Math.random()) : backoff / 2 + (Math.random() * backoff) / 2
          await sleep(wait, this.stopping.signal)
          backoff = Math.min(5_000, backoff * 2)
        }
      }
    })().finally(() => (this.registering = undefined))
    return this.registering
  }

  /** Stops retrying; resolves when the attempt under way, if any, is over. */
  stop(): Promise<void> {
    this.stopped = true
    this.stopping.abort()
    return this.registering?.catch(() => undefined) ?? Promise.resolve()
  }

  private async registerOnce(): Promise<void> {
    const { log, hostInfo, follower, hostName, agentId, clock, logger } = this.o
    const envelope = (event: DomainEvent) => envelopeOf(event, { at: clock.now(), actor: { kind: "agent", name: agentId } })
    for (let attempt = 0; ; attempt++) {
      await follower.catchUp()
      const s = follower.state
      if (s.registeredAgentId === agentId) break
      if (s.registeredAgentId !== undefined) {
        const [up, info] = await Promise.all([hostInfo.isUp(hostName), hostInfo.get(hostName)])
        const recent = info !== undefined && info.agentId === s.registeredAgentId && clock.now() - info.updatedAt < this.o.ttlMs
        if (up || recent) throw new HostHeldByAnotherAgent(hostName, s.registeredAgentId)
        logger.log("warn", "taking over a host registered to another agent", { previous: s.registeredAgentId })
      }
      try {
        await log.append([envelope({ _tag: "HostRegistered", host: hostName, agentId })], {
          expected: { [hostStream(hostName)]: hostStreamVersion(s) },
        })
        break
      } catch (e) {
        // Someone else touched the host meanwhile (or our retried append landed): look again.
        if (!(e instanceof AppendConflict) || attempt >= 20) throw e
      }
    }
    await this.o.beforeUp?.()
    const created = await hostInfo.markUp(hostName, agentId)
    await follower.catchUp()
    if (created || follower.state.upAgentId !== agentId)
      await log.append([envelope({ _tag: "HostWentUp", host: hostName, agentId })])
    this.o.onRegistered()
    logger.log("info", "registered", { agentId, created })
  }
}
