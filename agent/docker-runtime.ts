import Docker from "dockerode"
import {
  ContainerNotFound,
  ImageNotFound,
  ImagePullFailed,
  PortInUse,
  RuntimeFailure,
  RuntimeUnavailable,
  type ContainerInfo,
  type ContainerRuntime,
  type ContainerSpec,
  type ContainerStatus,
  type ExecResult,
  type RuntimeError,
  type RuntimeEvent,
  type RuntimeVersion,
  type Unwatch,
} from "../core/container-runtime.ts"
import { MAX_TIMER_MS } from "../core/timers.ts"

/*
 * The ContainerRuntime port on a real Docker engine, through dockerode (Engine API 1.41 here).
 * Every call carries a timeout (an AbortSignal), so a wedged daemon gives RuntimeUnavailable
 * instead of a hang; `docker stop` gets its grace period on top.
 */

export interface DockerRuntimeOptions {
  /** Timeout of ordinary API calls (inspect, list, create, start, remove...). Default 30 s. */
  readonly callTimeoutMs?: number
  /** How long to wait before re-opening a broken event stream. Default 1 s. */
  readonly eventsRetryMs?: number
}

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ENOENT", "ECONNRESET", "EPIPE", "EACCES", "ETIMEDOUT", "EHOSTUNREACH"])

interface DockerError {
  statusCode?: number
  code?: string
  name?: string
  message?: string
  json?: { message?: string } | null
  reason?: string
}

const messageOf = (e: DockerError): string => {
  const json = e.json
  if (json && typeof json === "object" && typeof json.message === "string") return json.message
  if (Buffer.isBuffer(json)) return json.toString("utf8").trim()
  return e.message ?? String(e)
}

/** Maps a dockerode error to the port's error types. */
export const toRuntimeError = (operation: string, error: unknown, id?: string): RuntimeError => {
  const e = (error ?? {}) as DockerError
  if (e.name === "AbortError" || e.name === "TimeoutError")
    return new RuntimeUnavailable({ reason: `docker ${operation} timed out` })
  if (e.code !== undefined && CONNECTION_CODES.has(e.code))
    return new RuntimeUnavailable({ reason: `docker ${operation}: ${e.code} ${e.message ?? ""}`.trim() })
  const reason = messageOf(e)
  if (e.statusCode === 404 && id !== undefined && operation !== "create") return new ContainerNotFound({ id })
  if (/port is already allocated|address already in use/i.test(reason)) return new PortInUse({ reason })
  return new RuntimeFailure({ operation, reason, ...(e.statusCode !== undefined ? { statusCode: e.statusCode } : {}) })
}

/*
 * The engine's words for "the registry answered: no such image or tag" (distribution's
 * MANIFEST_UNKNOWN / NAME_UNKNOWN / DENIED, which the engine reports as 404 "manifest for … not
 * found", "repository … not found", "pull access denied … repository does not exist"). Older
 * engines answer 500 for everything and errors inside the progress stream carry no status, so the
 * text counts too.
 */
const MISSING_IMAGE_TEXT = /manifest unknown|name unknown|manifest for \S+ not found|repository \S+ not found|repository does not exist|pull access denied/i

/**
 * Whether a failed pull means the image does not exist (IMAGE_MISSING) or the pull itself failed
 * (IMAGE_PULL_FAILED: registry unreachable, refused, unknown host, 5xx, authentication, timeout).
 */
export const classifyPullError = (statusCode: number | undefined, message: string): "missing" | "failed" =>
  statusCode === 404 || MISSING_IMAGE_TEXT.test(message) ? "missing" : "failed"

const toMs = (iso: string | undefined): number | undefined => {
  if (iso === undefined || iso.startsWith("0001-")) return undefined
  const t = Date.parse(iso)
  return Number.isNaN(t) ? undefined : t
}

const labelFilters = (labels: Readonly<Record<string, string>>): string[] => Object.entries(labels).map(([k, v]) => `${k}=${v}`)

export class DockerRuntime implements ContainerRuntime {
  private readonly callTimeoutMs: number
  private readonly eventsRetryMs: number

  constructor(
    readonly docker: Docker = new Docker(),
    options: DockerRuntimeOptions = {},
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000
    this.eventsRetryMs = options.eventsRetryMs ?? 1_000
  }

  private signal(extraMs = 0): AbortSignal {
    // A stop waiting for a job's secondsToWaitBeforeKill can be longer than a timer may be: past
    // Node's longest, AbortSignal.timeout throws (or fires at once), and the stop was never sent.
    return AbortSignal.timeout(Math.min(MAX_TIMER_MS, this.callTimeoutMs + extraMs))
  }

  private async call<T>(operation: string, run: (signal: AbortSignal) => Promise<T>, id?: string, extraMs = 0): Promise<T> {
    try {
      return await run(this.signal(extraMs))
    } catch (error) {
      throw toRuntimeError(operation, error, id)
    }
  }

  async pullImage(image: string, timeoutMs: number): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs)
    let stream: NodeJS.ReadableStream
    try {
      stream = await this.docker.pull(image, { abortSignal: signal })
    } catch (error) {
      const e = error as DockerError
      if (e.name === "AbortError" || e.name === "TimeoutError")
        throw new ImagePullFailed({ image, reason: `pull timed out after ${timeoutMs} ms` })
      if (e.code !== undefined && CONNECTION_CODES.has(e.code)) throw toRuntimeError("pull", error)
      const reason = messageOf(e)
      throw classifyPullError(e.statusCode, reason) === "missing" ? new ImageNotFound({ image, reason }) : new ImagePullFailed({ image, reason })
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new ImagePullFailed({ image, reason: `pull timed out after ${timeoutMs} ms` }))
      signal.addEventListener("abort", onAbort, { once: true })
      this.docker.modem.followProgress(
        stream,
        (err: unknown, output: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
          signal.removeEventListener("abort", onAbort)
          const failed = output?.find((o) => o.error !== undefined)
          if (err) reject(new ImagePullFailed({ image, reason: messageOf(err as DockerError) }))
          else if (failed) {
            const reason = failed.errorDetail?.message ?? failed.error ?? "pull failed"
            reject(classifyPullError(undefined, reason) === "missing" ? new ImageNotFound({ image, reason }) : new ImagePullFailed({ image, reason }))
          } else resolve()
        },
      )
    })
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      // The typings lack the options argument dockerode accepts.
      const img = this.docker.getImage(image) as unknown as { inspect(opts: object): Promise<unknown> }
      await img.inspect({ abortSignal: this.signal() })
      return true
    } catch (error) {
      if ((error as DockerError).statusCode === 404) return false
      throw toRuntimeError("image inspect", error)
    }
  }

  create(spec: ContainerSpec): Promise<string> {
    const exposed: Record<string, object> = {}
    const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {}
    for (const p of spec.ports) {
      const key = `${p.containerPort}/${p.protocol}`
      exposed[key] = {}
      ;(bindings[key] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) })
    }
    const volumes: Record<string, object> = {}
    for (const path of spec.anonymousVolumes) volumes[path] = {}
    const options: Docker.ContainerCreateOptions = {
      name: spec.name,
      Image: spec.image,
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      Labels: { ...spec.labels },
      ExposedPorts: exposed,
      Volumes: volumes,
      ...(spec.command.length > 0 ? { Cmd: [...spec.command] } : {}),
      ...(spec.hostname !== undefined ? { Hostname: spec.hostname } : {}),
      HostConfig: {
        PortBindings: bindings,
        Binds: [...spec.binds],
        Tmpfs: { ...spec.tmpfs },
        CapAdd: [...spec.capAdd],
        CapDrop: [...spec.capDrop],
        SecurityOpt: [...spec.securityOpt],
        Init: spec.init,
        ...(spec.networkMode !== undefined ? { NetworkMode: spec.networkMode } : {}),
        ...(spec.memory !== undefined ? { Memory: spec.memory } : {}),
        ...(spec.memorySwap !== undefined ? { MemorySwap: spec.memorySwap } : {}),
        ...(spec.cpuShares !== undefined ? { CpuShares: spec.cpuShares } : {}),
        ...(spec.cpuset !== undefined ? { CpusetCpus: spec.cpuset } : {}),
        ...(spec.runtime !== undefined ? { Runtime: spec.runtime } : {}),
        ...(spec.dns !== undefined ? { Dns: [...spec.dns] } : {}),
        ...(spec.extraHosts !== undefined ? { ExtraHosts: [...spec.extraHosts] } : {}),
      },
    }
    return this.call("create", async (abortSignal) => (await this.docker.createContainer({ ...options, abortSignal })).id)
  }

  start(id: string): Promise<void> {
    return this.call("start", async (abortSignal) => void (await this.docker.getContainer(id).start({ abortSignal })), id)
  }

  async stop(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: timeoutSeconds, abortSignal: this.signal(timeoutSeconds * 1000) })
    } catch (error) {
      if ((error as DockerError).statusCode === 304) return // already stopped
      throw toRuntimeError("stop", error, id)
    }
  }

  async kill(id: string, signal = "SIGKILL"): Promise<void> {
    try {
      await this.docker.getContainer(id).kill({ signal, abortSignal: this.signal() })
    } catch (error) {
      const e = error as DockerError
      if (e.statusCode === 409) return // not running
      throw toRuntimeError("kill", error, id)
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true, abortSignal: this.signal() })
    } catch (error) {
      const e = error as DockerError
      if (e.statusCode === 404) return
      if (e.statusCode === 409 && /already in progress/i.test(messageOf(e))) return
      throw toRuntimeError("remove", error, id)
    }
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    let info: Docker.ContainerInspectInfo
    try {
      info = await this.docker.getContainer(id).inspect({ abortSignal: this.signal() })
    } catch (error) {
      if ((error as DockerError).statusCode === 404) return undefined
      throw toRuntimeError("inspect", error, id)
    }
    const state = info.State
    const networks = Object.values(info.NetworkSettings?.Networks ?? {})
    const ip = networks.find((n) => n.IPAddress)?.IPAddress
    const startedAt = toMs(state.StartedAt)
    const finishedAt = toMs(state.FinishedAt)
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ""),
      image: info.Config.Image,
      labels: info.Config.Labels ?? {},
      status: state.Status as ContainerStatus,
      running: state.Running,
      exitCode: state.ExitCode,
      ...(state.Error ? { error: state.Error } : {}),
      oomKilled: state.OOMKilled,
      ...(startedAt !== undefined ? { startedAt } : {}),
      ...(finishedAt !== undefined ? { finishedAt } : {}),
      ...(ip ? { ipAddress: ip } : {}),
      ...(info.HostConfig?.NetworkMode ? { networkMode: info.HostConfig.NetworkMode } : {}),
    }
  }

  list(labels: Readonly<Record<string, string>>): Promise<ReadonlyArray<ContainerInfo>> {
    return this.call("list", async (abortSignal) => {
      const containers = await this.docker.listContainers({ all: true, filters: { label: labelFilters(labels) }, abortSignal })
      return containers.map(
        (c): ContainerInfo => ({
          id: c.Id,
          name: (c.Names[0] ?? "").replace(/^\//, ""),
          image: c.Image,
          labels: c.Labels ?? {},
          status: c.State as ContainerStatus,
          running: c.State === "running",
        }),
      )
    })
  }

  async exec(id: string, command: ReadonlyArray<string>, timeoutMs: number): Promise<ExecResult> {
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const container = this.docker.getContainer(id)
      const exec = await container.exec({ Cmd: [...command], AttachStdout: true, AttachStderr: true, abortSignal: signal })
      const stream = await exec.start({ hijack: true, stdin: false, abortSignal: signal })
      const chunks: Buffer[] = []
      await new Promise<void>((resolve, reject) => {
        stream.on("data", (c: Buffer) => chunks.push(c))
        stream.on("end", resolve)
        stream.on("close", resolve)
        stream.on("error", reject)
        signal.addEventListener(
          "abort",
          () => {
            // The hijacked connection is ours to close: left open, each timed-out check (a hanging
            // readiness command, retried for ever) kept a socket.
            stream.destroy()
            reject(Object.assign(new Error("exec timed out"), { name: "TimeoutError" }))
          },
          { once: true },
        )
      })
      const inspected = await exec.inspect({ abortSignal: this.signal() })
      return { exitCode: inspected.ExitCode ?? -1, output: demux(Buffer.concat(chunks)) }
    } catch (error) {
      throw toRuntimeError("exec", error, id)
    }
  }

  watch(labels: Readonly<Record<string, string>>, onEvent: (e: RuntimeEvent) => void, onError?: (e: unknown) => void): Unwatch {
    let stopped = false
    let controller: AbortController | undefined
    let retry: NodeJS.Timeout | undefined
    // When the stream broke (seconds): a reopened stream resumes from there, so what the engine did
    // meanwhile is not missed, e.g. a restarted dockerd stopping its containers before it answers.
    // Its buffer keeps the recent events; whole seconds, one back (duplicates are harmless), on our
    // clock: the engine runs on this host.
    let brokeAt: number | undefined
    const broke = () => {
      brokeAt ??= Math.floor(Date.now() / 1000) - 1
    }
    const open = async () => {
      if (stopped) return
      controller = new AbortController()
      try {
        const stream = await this.docker.getEvents({
          filters: { type: ["container"], label: labelFilters(labels) },
          ...(brokeAt !== undefined ? { since: brokeAt } : {}),
          abortSignal: controller.signal,
        })
        brokeAt = undefined
        let buffer = ""
        stream.on("data", (chunk: Buffer) => {
          buffer += chunk.toString("utf8")
          let nl: number
          while ((nl = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, nl).trim()
            buffer = buffer.slice(nl + 1)
            if (line === "") continue
            try {
              const raw = JSON.parse(line) as { id?: string; Action?: string; status?: string; timeNano?: number; time?: number; Actor?: { ID?: string; Attributes?: Record<string, string> } }
              const containerId = raw.Actor?.ID ?? raw.id
              if (containerId === undefined) continue
              onEvent({
                containerId,
                action: (raw.Action ?? raw.status ?? "").split(":")[0]!,
                labels: raw.Actor?.Attributes ?? {},
                at: raw.timeNano !== undefined ? Math.floor(raw.timeNano / 1e6) : (raw.time ?? 0) * 1000,
              })
            } catch {
              // not an event line
            }
          }
        })
        const reopen = (why: unknown) => {
          if (stopped) return
          broke()
          onError?.(why)
          retry = setTimeout(() => void open(), this.eventsRetryMs)
          retry.unref()
        }
        stream.on("error", reopen)
        stream.on("end", () => reopen(new RuntimeUnavailable({ reason: "docker event stream ended" })))
      } catch (error) {
        if (stopped) return
        broke()
        onError?.(toRuntimeError("events", error))
        retry = setTimeout(() => void open(), this.eventsRetryMs)
        retry.unref()
      }
    }
    void open()
    return () => {
      stopped = true
      if (retry) clearTimeout(retry)
      controller?.abort()
    }
  }

  version(): Promise<RuntimeVersion> {
    return this.call("version", async (abortSignal) => {
      const docker = this.docker as unknown as { version(opts: object): Promise<Docker.DockerVersion> }
      const v = await docker.version({ abortSignal })
      return {
        version: v.Version,
        apiVersion: v.ApiVersion,
        ...(v.GitCommit ? { gitCommit: v.GitCommit } : {}),
        ...(v.GoVersion ? { goVersion: v.GoVersion } : {}),
        ...(v.KernelVersion ? { kernelVersion: v.KernelVersion } : {}),
        ...(v.Os ? { os: v.Os } : {}),
        ...(v.Arch ? { arch: v.Arch } : {}),
      }
    })
  }
}

/** Docker's multiplexed stdout/stderr frames (8-byte headers) to text; plain text passes through. */
const demux = (buf: Buffer): string => {
  const parts: Buffer[] = []
  let i = 0
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const size = buf.readUInt32BE(i + 4)
    parts.push(buf.subarray(i + 8, i + 8 + size))
    i += 8 + size
  }
  return (i === 0 ? buf : Buffer.concat(parts)).toString("utf8")
}
