import type { RolloutStatus } from "../core/state.ts"
import type { MiddlewareHandler } from "hono"
import { matchedRoutes } from "hono/route"
import { Counter, Gauge, Histogram, type Registry } from "prom-client"
import type { EventLog } from "../core/event-log.ts"
import { TaskState } from "../core/ids.ts"
import type { LiveProjection } from "./live-projection.ts"

/*
 * A master's Prometheus metrics (GET /metrics, master/routes/metrics.ts). Counters that move with
 * the work (appends, ZooKeeper round trips: log/log-metrics.ts; API requests: the middleware below)
 * and gauges read from the read model at scrape time (tasks, hosts, rollouts, projection lag), so a
 * scrape costs one pass over the state and one head() of the log, and nothing is kept twice.
 */

/** Seconds; an API answer from the read model is ~1 ms, a command waits for ZooKeeper. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** The rollout statuses of a deployment group; IDLE: never rolled out. */
export const ROLLOUT_STATUSES = ["IDLE", "ROLLING_OUT", "AWAITING_PROMOTION", "ACTIVE", "FAILED"] as const satisfies ReadonlyArray<"IDLE" | RolloutStatus>

export interface MasterMetricsOptions {
  readonly registry: Registry
  readonly projection: LiveProjection
  /** For the log's head (projection lag). */
  readonly log: EventLog
  readonly name: string
  readonly version: string
  /** Whether this master leads (background work, rollouts) as of its last housekeeping round. */
  readonly isLeader: () => boolean
  /** Longest a scrape waits for the log's head; past it the lag is left out of that scrape. */
  readonly headTimeoutMs?: number
  /** Other registries of this process served on the same /metrics (solo mode: its agent's). */
  readonly alsoServe?: ReadonlyArray<Registry>
  /** How many jobs' statuses are being polled, kept ready between polls (master/status-warmer.ts). */
  readonly polledJobs?: () => number
}

/** The route pattern a request matched (`/jobs/:id`), or `unmatched`: never the raw path (bounded label values). */
export const routeOf = (c: Parameters<MiddlewareHandler>[0]): string => {
  const routes = matchedRoutes(c)
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!
    // Middleware is registered with app.use ("ALL" with a wildcard path); a handler names its method.
    if (r.method !== "ALL") return r.path
  }
  return "unmatched"
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T | undefined> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms)
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      () => (clearTimeout(timer), resolve(undefined)),
    )
  })

export interface MasterMetrics {
  readonly registry: Registry
  /** Times every API request by method, route pattern and status. */
  readonly http: MiddlewareHandler
  /** The Prometheus text exposition of this master's registry and the ones it also serves. */
  text(): Promise<string>
  readonly contentType: string
  /** A write was held this long (ms) before it started, the event loop running late (master/loop-lag.ts). */
  writeHeld(ms: number): void
  /** A round keeping polled statuses ready took this long (ms), slices and turns of the event loop between them included (master/status-warmer.ts). */
  statusesWarmed(ms: number): void
}

export const masterMetrics = (o: MasterMetricsOptions): MasterMetrics => {
  const { registry, projection } = o
  const registers = [registry]
  const state = () => projection.model.state

  const writesHeld = new Counter({
    name: "helios_writes_held_total",
    help: "Writes (commands, agents' relayed facts) held before they started because the event loop ran late, so reads went first",
    registers,
  })
  const writesHeldSeconds = new Counter({
    name: "helios_writes_held_seconds_total",
    help: "Time writes spent held because the event loop ran late, in all",
    registers,
  })
  const warmRounds = new Counter({
    name: "helios_status_warm_rounds_total",
    help: "Rounds that rendered and compressed what changed in the polled job statuses ahead of the next poll",
    registers,
  })
  const warmSeconds = new Counter({
    name: "helios_status_warm_seconds_total",
    help: "Time those rounds took, in all (at most a fifth of the master's time)",
    registers,
  })
  new Gauge({
    name: "helios_polled_jobs",
    help: "Jobs whose status is being polled (asked for twice within 10 s), kept ready between polls",
    registers,
    collect() {
      this.set(o.polledJobs?.() ?? 0)
    },
  })
  const requests = new Histogram({
    name: "helios_http_request_duration_seconds",
    help: "API requests by method, route pattern and status, and the time to answer them (to the first byte of a streamed answer)",
    labelNames: ["method", "route", "status"],
    buckets: HTTP_BUCKETS,
    registers,
  })

  new Gauge({
    name: "helios_master_info",
    help: "This master: its name and version (always 1)",
    labelNames: ["name", "version"],
    registers,
    collect() {
      this.set({ name: o.name, version: o.version }, 1)
    },
  })
  new Gauge({
    name: "helios_master_leader",
    help: "1 when this master leads background work (host liveness, reaping, rollouts), else 0",
    registers,
    collect() {
      this.set(o.isLeader() ? 1 : 0)
    },
  })
  new Gauge({
    name: "helios_projection_position",
    help: "Last log position this master's read model applied",
    registers,
    collect() {
      this.set(projection.position)
    },
  })
  const headTimeoutMs = o.headTimeoutMs ?? 1_000
  // One read of the head per scrape, shared by the two gauges below: prom-client collects the
  // metrics of a scrape in the order they were registered, each collect starting before the
  // previous one's promise settles, so the lag's collect finds the head's read of the same scrape.
  let headOfScrape: Promise<number | undefined> = Promise.resolve(undefined)
  new Gauge({
    name: "helios_log_head_position",
    help: "Position of the last event in the log, read at scrape time (absent when the log does not answer within a second)",
    registers,
    async collect() {
      this.reset()
      headOfScrape = withTimeout(o.log.head(), headTimeoutMs)
      const h = await headOfScrape
      if (h !== undefined) this.set(h)
    },
  })
  new Gauge({
    name: "helios_projection_lag_events",
    help: "Events in the log that this master's read model has not applied yet (head - applied)",
    registers,
    async collect() {
      this.reset()
      const applied = projection.position
      const h = await headOfScrape
      if (h !== undefined) this.set(Math.max(0, h - applied))
    },
  })
  new Gauge({
    name: "helios_jobs",
    help: "Jobs defined",
    registers,
    collect() {
      this.set(state().jobs.size)
    },
  })
  new Gauge({
    name: "helios_tasks",
    help: "Tasks (a job on a host) by the state their agent last reported",
    labelNames: ["state"],
    registers,
    collect() {
      const counts = new Map<string, number>(TaskState.literals.map((s) => [s, 0]))
      for (const tasks of state().tasks.values()) for (const t of tasks.values()) counts.set(t.state, (counts.get(t.state) ?? 0) + 1)
      for (const [s, n] of counts) this.set({ state: s }, n)
    },
  })
  new Gauge({
    name: "helios_deployments",
    help: "Jobs deployed on hosts, by goal",
    labelNames: ["goal"],
    registers,
    collect() {
      const counts = new Map<string, number>([["START", 0], ["STOP", 0]])
      for (const ds of state().deployments.values()) for (const d of ds.values()) counts.set(d.goal, (counts.get(d.goal) ?? 0) + 1)
      for (const [goal, n] of counts) this.set({ goal }, n)
    },
  })
  new Gauge({
    name: "helios_hosts",
    help: "Registered hosts by status (UP, DOWN)",
    labelNames: ["status"],
    registers,
    collect() {
      let up = 0
      let down = 0
      for (const h of state().hosts.values()) h.up ? up++ : down++
      this.set({ status: "UP" }, up)
      this.set({ status: "DOWN" }, down)
    },
  })
  new Gauge({
    name: "helios_rollouts",
    help: "Deployment groups by the status of their rollout (IDLE: never rolled out)",
    labelNames: ["status"],
    registers,
    collect() {
      const counts = new Map<string, number>(ROLLOUT_STATUSES.map((s) => [s, 0]))
      for (const g of state().groups.values()) {
        const s = g.rollout?.status ?? "IDLE"
        counts.set(s, (counts.get(s) ?? 0) + 1)
      }
      for (const [status, n] of counts) this.set({ status }, n)
    },
  })

  const http: MiddlewareHandler = async (c, next) => {
    const end = requests.startTimer()
    try {
      await next()
    } finally {
      end({ method: c.req.method, route: routeOf(c), status: String(c.res.status) })
    }
  }
  const all = [registry, ...(o.alsoServe ?? [])]
  return {
    registry,
    http,
    text: async () => (await Promise.all(all.map((r) => r.metrics()))).join("\n"),
    contentType: registry.contentType,
    writeHeld: (ms) => {
      writesHeld.inc()
      writesHeldSeconds.inc(ms / 1000)
    },
    statusesWarmed: (ms) => {
      warmRounds.inc()
      warmSeconds.inc(ms / 1000)
    },
  }
}
