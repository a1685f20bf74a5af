import type { ContainerRuntime, ContainerSpec } from "../core/container-runtime.ts"
import { sleep } from "./clock.ts"
import type { Logger } from "./logger.ts"

/*
 * For fault tests only: pauses the agent at a known point of a container's creation, so a test can
 * kill -9 it inside that window deterministically. Off unless one of these is set (agent/main.ts
 * reads them; never set them in production):
 *   HELIOS_TEST_PAUSE_AFTER_CREATE_MS=N  the engine has created the container, the agent has not
 *                                        yet learnt its id (nor recorded it)
 *   HELIOS_TEST_PAUSE_BEFORE_START_MS=N  the agent has recorded the container and reported
 *                                        STARTING, `docker start` is not sent yet
 * Each pause first logs "test hook: paused" with `point` and `containerId`.
 */

export interface TestPauses {
  readonly afterCreateMs?: number
  readonly beforeStartMs?: number
}

/** The pauses set in the environment, or undefined when none is (the production case). */
export const testPausesFromEnv = (env: NodeJS.ProcessEnv): TestPauses | undefined => {
  const ms = (name: string): number | undefined => {
    const text = env[name]
    if (text === undefined || text === "") return undefined
    const n = Number(text)
    if (!Number.isInteger(n) || n <= 0) throw new Error(`bad ${name} "${text}": expected a positive integer`)
    return n
  }
  const afterCreateMs = ms("HELIOS_TEST_PAUSE_AFTER_CREATE_MS")
  const beforeStartMs = ms("HELIOS_TEST_PAUSE_BEFORE_START_MS")
  if (afterCreateMs === undefined && beforeStartMs === undefined) return undefined
  return { ...(afterCreateMs !== undefined ? { afterCreateMs } : {}), ...(beforeStartMs !== undefined ? { beforeStartMs } : {}) }
}

/** `runtime` with the pauses added around create and start; every other call passes through. */
export const withTestPauses = (runtime: ContainerRuntime, pauses: TestPauses, logger: Logger): ContainerRuntime => {
  const pause = async (point: string, containerId: string, ms: number) => {
    logger.log("warn", "test hook: paused", { point, containerId, ms })
    await sleep(ms)
  }
  return {
    pullImage: (image, timeoutMs) => runtime.pullImage(image, timeoutMs),
    imageExists: (image) => runtime.imageExists(image),
    async create(spec: ContainerSpec) {
      const id = await runtime.create(spec)
      if (pauses.afterCreateMs !== undefined) await pause("after-create", id, pauses.afterCreateMs)
      return id
    },
    async start(id: string) {
      if (pauses.beforeStartMs !== undefined) await pause("before-start", id, pauses.beforeStartMs)
      return runtime.start(id)
    },
    stop: (id, timeoutSeconds) => runtime.stop(id, timeoutSeconds),
    kill: (id, signal) => runtime.kill(id, signal),
    remove: (id) => runtime.remove(id),
    inspect: (id) => runtime.inspect(id),
    list: (labels) => runtime.list(labels),
    exec: (id, command, timeoutMs) => runtime.exec(id, command, timeoutMs),
    watch: (labels, onEvent, onError) => runtime.watch(labels, onEvent, onError),
    version: () => runtime.version(),
  }
}
