import { createHash } from "node:crypto"
import { Hono } from "hono"
import { encodeSnapshot } from "../../projections/snapshot.ts"
import type { MasterDeps } from "../deps.ts"
import type { DigestJson } from "../api-schemas.ts"

/**
 * GET /projection/digest: what this master's read model holds, as a SHA-256 of its snapshot
 * encoding (projections/snapshot.ts) and the position it has applied. A fresh replay of the log up
 * to that position gives the same digest exactly when the master's projection equals the log's
 * (test/log-checker.ts compares them after faults). Read-only; a few ms for 10^4 events.
 */
export const projectionRoutes = (deps: MasterDeps) => {
  const app = new Hono()
  app.get("/projection/digest", (c) => {
    const model = deps.projection.model
    const sha256 = createHash("sha256").update(encodeSnapshot(model)).digest("hex")
    const body: typeof DigestJson.Encoded = { position: model.state.position, sha256, diverged: deps.projection.diverged !== undefined }
    return c.json(body)
  })
  return app
}
