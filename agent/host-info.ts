import { readFileSync } from "node:fs"
import os from "node:os"
import type { ContainerRuntime } from "../core/container-runtime.ts"
import type { HostInfo } from "../core/host-info.ts"

/* What the agent measures about its machine for `helios hosts` (the schema is in core/host-info.ts). */

const meminfo = (): { swapTotal: number; swapFree: number } => {
  try {
    const text = readFileSync("/proc/meminfo", "utf8")
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0) * 1024
    return { swapTotal: kb("SwapTotal"), swapFree: kb("SwapFree") }
  } catch {
    return { swapTotal: 0, swapFree: 0 }
  }
}

/** Set by scripts/build.mjs (esbuild `define`) in the compiled programs, whose files are not next to package.json. */
declare const HELIOS_BUNDLED_VERSION: string | undefined

let cachedVersion: string | undefined
/** This build's version (package.json). */
export const agentVersion = (): string => {
  if (cachedVersion === undefined) {
    if (typeof HELIOS_BUNDLED_VERSION === "string") return (cachedVersion = HELIOS_BUNDLED_VERSION)
    try {
      cachedVersion = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string }).version ?? "0.0.0"
    } catch {
      cachedVersion = "0.0.0"
    }
  }
  return cachedVersion
}

export interface HostInfoInputs {
  readonly runtime: ContainerRuntime
  readonly agentId: string
  readonly startTime: number
  readonly now: number
  readonly labels: Readonly<Record<string, string>>
  readonly environment: Readonly<Record<string, string>>
}

/** Measures this machine now. The Docker version is left out when the engine does not answer. */
export const collectHostInfo = async (i: HostInfoInputs): Promise<HostInfo> => {
  const dockerVersion = await i.runtime.version().catch(() => undefined)
  const swap = meminfo()
  return {
    hostname: os.hostname(),
    uname: `${os.type()} ${os.hostname()} ${os.release()} ${os.version()} ${os.machine()}`,
    architecture: os.arch(),
    osName: os.type(),
    osVersion: os.release(),
    cpus: os.cpus().length,
    loadAvg: os.loadavg(),
    memoryTotalBytes: os.totalmem(),
    memoryFreeBytes: os.freemem(),
    swapTotalBytes: swap.swapTotal,
    swapFreeBytes: swap.swapFree,
    ...(dockerVersion !== undefined ? { dockerVersion } : {}),
    agentId: i.agentId,
    agentVersion: agentVersion(),
    startTime: i.startTime,
    uptimeMs: Math.max(0, i.now - i.startTime),
    labels: { ...i.labels },
    environment: { ...i.environment },
    updatedAt: i.now,
  }
}
