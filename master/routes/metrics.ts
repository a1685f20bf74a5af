import { Hono } from "hono"
import type { MasterDeps } from "../deps.ts"

/** GET /metrics: Prometheus text format (master/metrics.ts lists what is measured). */
export const metricsRoutes = (deps: MasterDeps) => {
  const app = new Hono()
  app.get("/metrics", async (c) => c.body(await deps.metrics.text(), 200, { "content-type": deps.metrics.contentType }))
  return app
}
