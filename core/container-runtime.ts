import { Data } from "effect"

/*
 * The container runtime port: what the agent needs from a container engine. The dockerode adapter
 * (agent/docker-runtime.ts) drives the real engine; the in-memory adapter (agent/memory-runtime.ts)
 * serves property tests and fleet simulations. Nothing here knows about jobs: the agent turns a job
 * into a ContainerSpec (agent/container-spec.ts).
 */

export type PortProtocol = "tcp" | "udp"

/** One published port: container port/protocol reachable on hostIp:hostPort. */
export interface PortBinding {
  readonly containerPort: number
  readonly protocol: PortProtocol
  readonly hostIp: string
  readonly hostPort: number
}

/** Everything needed to create one container. Empty arrays/records mean "nothing of that kind". */
export interface ContainerSpec {
  readonly name: string
  readonly image: string
  /** Replaces the image's CMD; the image's ENTRYPOINT is kept. Empty: the image's default. */
  readonly command: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly labels: Readonly<Record<string, string>>
  readonly hostname?: string
  readonly ports: ReadonlyArray<PortBinding>
  /** `source:target[:ro|rw]`, source a host path or a named volume. */
  readonly binds: ReadonlyArray<string>
  /** Container paths that get an anonymous volume. */
  readonly anonymousVolumes: ReadonlyArray<string>
  /** Mount point → tmpfs options (ramdisks). */
  readonly tmpfs: Readonly<Record<string, string>>
  /** `bridge`, `host`, `container:<id>`...; the engine's default when absent. */
  readonly networkMode?: string
  readonly capAdd: ReadonlyArray<string>
  readonly capDrop: ReadonlyArray<string>
  readonly securityOpt: ReadonlyArray<string>
  /** Bytes. */
  readonly memory?: number
  /** Bytes (memory + swap), -1 for unlimited swap. */
  readonly memorySwap?: number
  readonly cpuShares?: number
  /** CPUs the container may use, e.g. "0-1" or "0,2". */
  readonly cpuset?: string
  /** OCI runtime, e.g. `nvidia`. */
  readonly runtime?: string
  /** DNS servers for the container's /etc/resolv.conf; absent: the engine's. */
  readonly dns?: ReadonlyArray<string>
  /** `name:ip` entries added to the container's /etc/hosts. */
  readonly extraHosts?: ReadonlyArray<string>
  /** Run an init process as PID 1 (forwards signals, reaps zombies). */
  readonly init: boolean
}

export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead"

export interface ContainerInfo {
  readonly id: string
  /** Without the leading slash Docker puts in front. */
  readonly name: string
  readonly image: string
  readonly labels: Readonly<Record<string, string>>
  readonly status: ContainerStatus
  readonly running: boolean
  /** Only from inspect: */
  readonly exitCode?: number
  /** The engine's error text for a container that failed to run, if any. */
  readonly error?: string
  readonly oomKilled?: boolean
  /** Epoch ms; absent when never started. */
  readonly startedAt?: number
  readonly finishedAt?: number
  /** The container's address on its network (bridge), for probes that must bypass port publishing. */
  readonly ipAddress?: string
  readonly networkMode?: string
}

/** A change the engine reports about one container (Docker's `start`, `die`, `destroy`, ...). */
export interface RuntimeEvent {
  readonly containerId: string
  readonly action: string
  readonly labels: Readonly<Record<string, string>>
  /** Epoch ms. */
  readonly at: number
}

export interface RuntimeVersion {
  readonly version: string
  readonly apiVersion: string
  readonly gitCommit?: string
  readonly goVersion?: string
  readonly kernelVersion?: string
  readonly os?: string
  readonly arch?: string
}

export interface ExecResult {
  readonly exitCode: number
  readonly output: string
}

export type Unwatch = () => void

/** The engine cannot be reached (socket missing, daemon down, timeouts). Worth retrying later. */
export class RuntimeUnavailable extends Data.TaggedError("RuntimeUnavailable")<{ readonly reason: string }> {}
/** The image is not in any registry we can reach (and not local). */
export class ImageNotFound extends Data.TaggedError("ImageNotFound")<{ readonly image: string; readonly reason: string }> {}
/** The pull failed for another reason (timeout, registry error). */
export class ImagePullFailed extends Data.TaggedError("ImagePullFailed")<{ readonly image: string; readonly reason: string }> {}
export class ContainerNotFound extends Data.TaggedError("ContainerNotFound")<{ readonly id: string }> {}
/** Start failed because a published host port is taken. */
export class PortInUse extends Data.TaggedError("PortInUse")<{ readonly reason: string }> {}
/** Any other refusal of the engine (bad config, name conflict, ...). */
export class RuntimeFailure extends Data.TaggedError("RuntimeFailure")<{
  readonly operation: string
  readonly reason: string
  readonly statusCode?: number
}> {}

export type RuntimeError = RuntimeUnavailable | ImageNotFound | ImagePullFailed | ContainerNotFound | PortInUse | RuntimeFailure

/**
 * A container engine. Every method rejects with a RuntimeError. Containers are addressed by id;
 * `list` and `watch` select by labels (all of `labels` must match, like `docker ps --filter label=`).
 */
export interface ContainerRuntime {
  /** Pulls an image from its registry; rejects with ImageNotFound or ImagePullFailed. */
  pullImage(image: string, timeoutMs: number): Promise<void>
  /** Whether the image is present locally. */
  imageExists(image: string): Promise<boolean>
  /** Creates (does not start) a container; resolves with its id. */
  create(spec: ContainerSpec): Promise<string>
  start(id: string): Promise<void>
  /** SIGTERM, then SIGKILL after `timeoutSeconds`; resolves once stopped. A stopped container is fine. */
  stop(id: string, timeoutSeconds: number): Promise<void>
  kill(id: string, signal?: string): Promise<void>
  /** Force-removes a container and its anonymous volumes. A missing container is fine. */
  remove(id: string): Promise<void>
  /** undefined when there is no such container. */
  inspect(id: string): Promise<ContainerInfo | undefined>
  /** All containers (running or not) carrying every one of `labels`. */
  list(labels: Readonly<Record<string, string>>): Promise<ReadonlyArray<ContainerInfo>>
  /** Runs a command in a running container. */
  exec(id: string, command: ReadonlyArray<string>, timeoutMs: number): Promise<ExecResult>
  /**
   * Follows container events for containers carrying every one of `labels`. Reconnects by itself;
   * `onError` hears about interruptions (events may have been missed: reconcile).
   */
  watch(labels: Readonly<Record<string, string>>, onEvent: (e: RuntimeEvent) => void, onError?: (e: unknown) => void): Unwatch
  version(): Promise<RuntimeVersion>
}
