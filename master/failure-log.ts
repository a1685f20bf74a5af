/*
 * Failures of the master's repeated background work (the leader's housekeeping every 2 s), said on
 * stderr once each instead of once per round: a task's failure is said when its reason differs from
 * the last one said for that task; when the task succeeds again that is said once, and its next
 * failure is said again.
 */

/** An error in words: its name and reason (the log's errors carry one) or its message. */
export const failureText = (error: unknown): string => {
  if (error instanceof Error) {
    const reason = (error as { reason?: unknown }).reason
    const text = typeof reason === "string" ? reason : error.message
    return text ? `${error.name}: ${text}` : error.name
  }
  return String(error)
}

export class RepeatedFailureLog {
  /** The reason last said per failing task, oldest first (a Map keeps insertion order). */
  private readonly failing = new Map<string, string>()

  constructor(
    private readonly write: (line: string) => void = (line) => console.error(line),
    /** Most failing tasks remembered; past it the oldest is forgotten (and said again if it fails again). */
    private readonly maxTasks = 1000,
  ) {}

  /** `task` failed: said unless it is the reason already said for it; `retry` says when it is tried again. */
  failed(task: string, reason: string, retry = "retried every round"): void {
    if (this.failing.get(task) === reason) return
    this.failing.delete(task)
    if (this.failing.size >= this.maxTasks) this.failing.delete(this.failing.keys().next().value!)
    this.failing.set(task, reason)
    this.write(`helios-master: ${task} failed: ${reason} (said once; ${retry})`)
  }

  /** `task` succeeded: said when it had failed. */
  succeeded(task: string): void {
    if (!this.failing.delete(task)) return
    this.write(`helios-master: ${task} succeeded again`)
  }

  /** Runs `work` as `task`: its failure is said (once) and swallowed, its success clears it. */
  async run(task: string, work: () => Promise<void>): Promise<void> {
    try {
      await work()
      this.succeeded(task)
    } catch (error) {
      this.failed(task, failureText(error))
    }
  }
}
