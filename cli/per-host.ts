import type { Context } from "./command.ts"
import { ApiError } from "./errors.ts"

/**
 * Runs one change per host (deploy, undeploy, start, stop), printing `host: done` on stdout or
 * `host: failed: STATUS (HTTP n): detail` on stderr for each, as Helios does. With --json it
 * prints `{job, hosts: {host: answer}}` instead. Returns the exit code: 1 if any host failed.
 */
export const forEachHost = async (
  ctx: Context,
  jobId: string,
  hosts: ReadonlyArray<string>,
  change: (host: string) => Promise<unknown>,
): Promise<number> => {
  const results: Record<string, unknown> = {}
  let failed = 0
  for (const host of hosts) {
    try {
      results[host] = await change(host)
      if (!ctx.json) ctx.print(`${host}: done`)
    } catch (e) {
      if (!(e instanceof ApiError)) throw e
      failed++
      results[host] = e.body ?? { status: e.status }
      ctx.io.stderr(`${host}: failed: ${e.message}\n`)
    }
  }
  if (ctx.json) ctx.printJson({ job: jobId, hosts: results })
  return failed > 0 ? 1 : 0
}

/** `?token=` when given. */
export const tokenQuery = (token: string | undefined) => (token !== undefined ? { token } : {})

export const hostJobPath = (host: string, jobId: string) => `/hosts/${encodeURIComponent(host)}/jobs/${encodeURIComponent(jobId)}`
