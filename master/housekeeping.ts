import { Result } from "effect"
import type { Command } from "../core/commands.ts"
import type { HostInfoReader } from "../core/host-info.ts"
import type { HostName } from "../core/ids.ts"
import type { Job } from "../core/job.ts"
import { isExpired } from "../core/job-expiry.ts"
import type { FleetState, HostRecord } from "../core/state.ts"
import { AgentReaper } from "./agent-reaper.ts"
import type { CommandBus } from "./command-bus.ts"
import { failureText, RepeatedFailureLog } from "./failure-log.ts"

/*
 * The leader's housekeeping round: record hosts' up/down transitions, deregister hosts DOWN too long
 * (Helios's DeadAgentReaper), undeploy and remove expired jobs (Helios's ExpiredJobReaper). Each
 * change is an ordinary command run as this master, so the log records it like any other.
 */

/**
 * The event a host's agent up mark calls for: MarkHostUp or MarkHostDown when the mark (`up`, the
 * truth) disagrees with the fleet state, nothing when they agree.
 */
export const livenessTransition = (host: HostRecord, up: boolean): Command | undefined =>
  up === host.up ? undefined : up ? { _tag: "MarkHostUp", host: host.name, agentId: host.agentId } : { _tag: "MarkHostDown", host: host.name }

/**
 * What removing `job` at `now` takes: nothing while it has not expired; once it has, an undeploy
 * from each host it is deployed on, then its removal (with its token, if it has one).
 */
export const expiredJobRemoval = (job: Job, deployedOn: Iterable<HostName>, now: number): Command[] => {
  if (!isExpired(job, now)) return []
  const token = job.token ? { token: job.token } : {}
  return [
    ...[...deployedOn].map((host): Command => ({ _tag: "UndeployJob", jobId: job.id, host, ...token })),
    { _tag: "RemoveJob", jobId: job.id, ...token },
  ]
}

export interface HousekeepingOptions {
  /** This master's name: the actor of the commands it runs. */
  readonly name: string
  readonly bus: Pick<CommandBus, "execute">
  /** The fleet state now (the projection's model may be swapped for a rebuilt one). */
  readonly state: () => FleetState
  readonly now: () => number
  /** Whether this master leads; only the leader does housekeeping. */
  readonly isLeader: () => Promise<boolean>
  /** The agents' up marks and facts; absent: no liveness transitions, and the reaper does not ask. */
  readonly liveness?: HostInfoReader
  /** Deregister hosts DOWN longer than this; 0: never. */
  readonly agentReapingTimeoutMs: number
  /** Where a failing command is said (once per distinct failure); default stderr. */
  readonly failures?: RepeatedFailureLog
}

/** A housekeeping command in words, for the log (never its token). */
const describeCommand = (command: Command): string =>
  [command._tag, "jobId" in command ? command.jobId : undefined, "host" in command ? `on ${command.host}` : undefined].filter((w) => w !== undefined).join(" ")

export class Housekeeping {
  private readonly reaper: AgentReaper
  private readonly failures: RepeatedFailureLog

  constructor(private readonly options: HousekeepingOptions) {
    this.failures = options.failures ?? new RepeatedFailureLog()
    const liveness = options.liveness
    this.reaper = new AgentReaper({
      timeoutMs: options.agentReapingTimeoutMs,
      ...(liveness ? { isUp: (host) => liveness.isUp(host), agentReported: async (host) => (await liveness.get(host)) !== undefined } : {}),
      run: (command) => this.run(command),
      log: (line) => console.log(line),
    })
  }

  /** One round; does nothing unless this master leads. */
  async round(): Promise<void> {
    const { options } = this
    if (!(await options.isLeader())) return
    const state = options.state()
    if (options.liveness) {
      // The agent's up mark (a ZooKeeper ephemeral node) is the truth; record transitions as events.
      for (const [, record] of state.hosts) {
        const command = livenessTransition(record, await options.liveness.isUp(record.name))
        if (command) await this.run(command)
      }
    }
    await this.failures.run("housekeeping: agent reaper", async () => void (await this.reaper.reap(options.state().hosts.values(), options.now())))
    for (const job of [...state.jobs.values()])
      for (const command of expiredJobRemoval(job, state.jobHosts.get(job.id) ?? [], options.now())) await this.run(command)
  }

  /**
   * Runs a command as this master; true when it was applied. A failure (the log unreachable, a
   * refusal) is said once and tried again next round; losing a race with another command is not a
   * failure (the next round decides again on the new state).
   */
  private async run(command: Command): Promise<boolean> {
    // Taken when the command's turn comes (the reaper's "DOWN for longer than" is judged then).
    const ctx = () => ({ now: this.options.now(), actor: { kind: "master" as const, name: this.options.name }, master: this.options.name })
    const task = `housekeeping: ${describeCommand(command)}`
    try {
      const outcome = await this.options.bus.execute(command, ctx)
      if (Result.isSuccess(outcome)) this.failures.succeeded(task)
      else if (outcome.failure._tag !== "ConcurrentChange")
        this.failures.failed(task, `refused: ${outcome.failure._tag === "Rejection" ? outcome.failure.status : "COMMAND_ID_REUSED"}: ${outcome.failure.message}`)
      return Result.isSuccess(outcome)
    } catch (error) {
      this.failures.failed(task, failureText(error))
      return false
    }
  }
}
