import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Counter, Gauge, Histogram, type Registry } from "prom-client"
import type { ContainerRuntime } from "../core/container-runtime.ts"
import { TaskState } from "../core/ids.ts"

/*
 * An agent's Prometheus metrics, all prefixed `helios_agent_` (a solo process serves them on its
 * master's /metrics next to the master's `helios_` ones): reconcile passes, Docker calls, tasks by
 * the state this agent last reported, facts waiting for the log. The log's appends and ZooKeeper
 * round trips come from log/log-metrics.ts with the same prefix. `helios agent --metrics-port N`
 * serves them (serveMetrics below); off by default.
 */

export const AGENT_PREFIX = "helios_agent_"

/** Seconds; from an inspect (~2 ms) to an image pull. */
const DOCKER_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
const RECONCILE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface AgentMetrics {
  readonly registry: Registry
  /** `runtime` with every call timed and every failure counted. */
  meterRuntime(runtime: ContainerRuntime): ContainerRuntime
  /** Called after each reconcile pass with its duration. */
  reconciled(seconds: number): void
  /** What the gauges read at scrape time. */
  observe(sources: { readonly tasks: () => Iterable<{ readonly state: string }>; readonly pendingFacts: () => number }): void
}

/** The error's tag (RuntimeUnavailable, ImageNotFound, PortInUse...) or its constructor's name. */
const errorKind = (e: unknown): string => {
  const tag = (e as { _tag?: unknown })?._tag
  if (typeof tag === "string") return tag
  return e instanceof Error ? e.name : "unknown"
}

export const agentMetrics = (registry: Registry, host: string): AgentMetrics => {
  const registers = [registry]
  const p = AGENT_PREFIX
  const dockerLatency = new Histogram({
    name: `${p}docker_request_duration_seconds`,
    help: "Docker engine calls by operation (pullImage, create, start, stop, inspect, list...) and the time they took",
    labelNames: ["op"],
    buckets: DOCKER_BUCKETS,
    registers,
  })
  const dockerErrors = new Counter({
    name: `${p}docker_errors_total`,
    help: "Docker engine calls that failed, by operation and error (RuntimeUnavailable, ImageNotFound, PortInUse...)",
    labelNames: ["op", "error"],
    registers,
  })
  const reconcile = new Histogram({
    name: `${p}reconcile_duration_seconds`,
    help: "Reconcile passes (desired deployments against the engine's containers) and the time each took",
    buckets: RECONCILE_BUCKETS,
    registers,
  })
  new Gauge({
    name: `${p}info`,
    help: "This agent's host name (always 1)",
    labelNames: ["host"],
    registers,
    collect() {
      this.set({ host }, 1)
    },
  })
  let sources: Parameters<AgentMetrics["observe"]>[0] | undefined
  new Gauge({
    name: `${p}tasks`,
    help: "Jobs on this host by the task state this agent last reported",
    labelNames: ["state"],
    registers,
    collect() {
      const counts = new Map<string, number>(TaskState.literals.map((s) => [s, 0]))
      for (const t of sources?.tasks() ?? []) counts.set(t.state, (counts.get(t.state) ?? 0) + 1)
      for (const [state, n] of counts) this.set({ state }, n)
    },
  })
  new Gauge({
    name: `${p}pending_facts`,
    help: "Task transitions waiting to be appended to the log (e.g. while ZooKeeper and the masters are away)",
    registers,
    collect() {
      this.set(sources?.pendingFacts() ?? 0)
    },
  })

  const timed = <A extends unknown[], R>(op: string, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const end = dockerLatency.startTimer({ op })
      try {
        return await call(...args)
      } catch (e) {
        dockerErrors.inc({ op, error: errorKind(e) })
        throw e
      } finally {
        end()
      }
    }

  return {
    registry,
    meterRuntime: (r) => ({
      pullImage: timed("pullImage", (image: string, timeoutMs: number) => r.pullImage(image, timeoutMs)),
      imageExists: timed("imageExists", (image: string) => r.imageExists(image)),
      create: timed("create", (spec: Parameters<ContainerRuntime["create"]>[0]) => r.create(spec)),
      start: timed("start", (id: string) => r.start(id)),
      stop: timed("stop", (id: string, timeoutSeconds: number) => r.stop(id, timeoutSeconds)),
      kill: timed("kill", (id: string, signal?: string) => r.kill(id, signal)),
      remove: timed("remove", (id: string) => r.remove(id)),
      inspect: timed("inspect", (id: string) => r.inspect(id)),
      list: timed("list", (labels: Readonly<Record<string, string>>) => r.list(labels)),
      exec: timed("exec", (id: string, command: ReadonlyArray<string>, timeoutMs: number) => r.exec(id, command, timeoutMs)),
      // A stream, not a call: only its interruptions are counted.
      watch: (labels, onEvent, onError) =>
        r.watch(labels, onEvent, (e) => {
          dockerErrors.inc({ op: "watch", error: errorKind(e) })
          onError?.(e)
        }),
      version: timed("version", () => r.version()),
    }),
    reconciled: (seconds) => reconcile.observe(seconds),
    observe: (s) => {
      sources = s
    },
  }
}

export interface MetricsServer {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/** GET /metrics on `host:port` (port 0: any free one); anything else is a 404. */
export const serveMetrics = (registry: Registry, port: number, host = "127.0.0.1"): Promise<MetricsServer> =>
  new Promise((resolve, reject) => {
    const server: Server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?", 1)[0]
      if (req.method !== "GET" || path !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found: GET /metrics\n")
        return
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(e)}\n`),
      )
    })
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      const bound = (server.address() as AddressInfo).port
      const shown = host.includes(":") ? `[${host}]` : host
      resolve({
        url: `http://${shown}:${bound}/metrics`,
        port: bound,
        close: () => new Promise<void>((done) => server.close(() => done())),
      })
    })
  })
