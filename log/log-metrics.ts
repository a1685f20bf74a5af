import { Counter, Histogram, type Registry } from "prom-client"
import { AppendConflict, BatchTooLarge, LogUnavailable, StorageFailed, wrapLog, type EventLog } from "../core/event-log.ts"
import type { ZkClient } from "./zk-client.ts"

/*
 * Metrics of the event log as one process uses it (Prometheus, through prom-client), shared by the
 * master (prefix `helios_`) and the agent (prefix `helios_agent_`, so a solo process can serve both
 * registries on one /metrics without a name clash). Every metric lives in the registry it is given,
 * never in prom-client's global one: several masters in one test process each have their own.
 */

/** Seconds; from a local ZooKeeper round trip (~0.5 ms) to a slow ensemble write. */
export const ZK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

const appendOutcome = (error: unknown): string =>
  error instanceof AppendConflict
    ? "conflict"
    : error instanceof LogUnavailable
      ? "unavailable"
      : error instanceof BatchTooLarge
        ? "too_large"
        : error instanceof StorageFailed
          ? "storage_failed"
          : "error"

/**
 * The log with its appends counted: `<prefix>events_appended_total{type}` (events that landed, by
 * event type) and `<prefix>append_duration_seconds{outcome}` (ok, conflict, unavailable, too_large,
 * storage_failed, error). Reads and subscriptions pass through untouched.
 */
export const meteredLog = (log: EventLog, registry: Registry, prefix: string): EventLog => {
  const appended = new Counter({
    name: `${prefix}events_appended_total`,
    help: "Events this process appended to the log, by event type",
    labelNames: ["type"],
    registers: [registry],
  })
  const latency = new Histogram({
    name: `${prefix}append_duration_seconds`,
    help: "Time an append to the event log took, by outcome",
    labelNames: ["outcome"],
    buckets: ZK_BUCKETS,
    registers: [registry],
  })
  return wrapLog(log, {
    append: async (events, options) => {
      const end = latency.startTimer()
      try {
        const result = await log.append(events, options)
        end({ outcome: "ok" })
        for (const e of events) appended.inc({ type: e.event._tag })
        return result
      } catch (error) {
        end({ outcome: appendOutcome(error) })
        throw error
      }
    },
  })
}

/**
 * ZooKeeper round trips of one session: `<prefix>zookeeper_requests_total{op,outcome}` and
 * `<prefix>zookeeper_request_duration_seconds{op}`. Returns the way to stop observing.
 */
export const observeZooKeeper = (zk: ZkClient, registry: Registry, prefix: string): (() => void) => {
  const requests = new Counter({
    name: `${prefix}zookeeper_requests_total`,
    help: "ZooKeeper requests (round trips) by operation and outcome (ok, unavailable, or ZooKeeper's error name)",
    labelNames: ["op", "outcome"],
    registers: [registry],
  })
  const latency = new Histogram({
    name: `${prefix}zookeeper_request_duration_seconds`,
    help: "Time ZooKeeper took to answer a request, by operation",
    labelNames: ["op"],
    buckets: ZK_BUCKETS,
    registers: [registry],
  })
  return zk.observe((op, seconds, outcome) => {
    requests.inc({ op, outcome })
    latency.observe({ op }, seconds)
  })
}
