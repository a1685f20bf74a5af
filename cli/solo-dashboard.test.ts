/**
 * `helios solo` serves the dashboard and one /metrics for its master and its agent (in-process
 * startSolo on the embedded log and the real Docker engine).
 */
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { removeContainersByLabel, TEST_LABEL } from "../test/docker.ts"
import { hasMetric, metricValue, scrape } from "../test/prometheus.ts"
import { removeTempDirs, tempDir } from "../test/cli-helpers.ts"
import { waitFor } from "../test/services.ts"
import { startSolo, type RunningSolo } from "./solo.ts"

const run = `solo-dash-${randomBytes(4).toString("hex")}`
let solo: RunningSolo | undefined

beforeAll(async () => {
  solo = await startSolo({
    port: 0,
    bindAddress: "127.0.0.1",
    dataDir: join(tempDir("solo-dash"), "data"),
    name: "solo-dash-host",
    containerLabels: { [TEST_LABEL]: run },
    portRange: "47850:47899",
    stderr: () => undefined,
  })
  await solo.agent.registered
}, 60_000)

afterAll(async () => {
  await solo?.stop()
  await removeContainersByLabel(`${TEST_LABEL}=${run}`).catch(() => undefined)
  removeTempDirs()
})

describe("helios solo", () => {
  it("serves the dashboard at /ui: the page shell with a strict Content-Security-Policy, its script and stylesheet", async () => {
    const page = await fetch(`${solo!.url}/ui`)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toMatch(/^text\/html/)
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'")
    const html = await page.text()
    expect(html).toContain('<script type="module" src="/ui/app.js"></script>')
    expect(html).toContain("master solo-dash-host")
    for (const [path, type] of [
      ["/ui/app.js", /^text\/javascript/],
      ["/ui/app.css", /^text\/css/],
    ] as const) {
      const r = await fetch(`${solo!.url}${path}`)
      expect(r.status, path).toBe(200)
      expect(r.headers.get("content-type"), path).toMatch(type)
      expect((await r.text()).length, path).toBeGreaterThan(1000)
    }
  })

  it("serves its master's and its agent's metrics on one /metrics", async () => {
    const s = await waitFor(
      async () => {
        // Solo answers its API, /metrics included, only with its local token.
        const x = await scrape(`${solo!.url}/metrics`, { Authorization: `Bearer ${readFileSync(solo!.tokenFile, "utf8").trim()}` })
        return metricValue(x, "helios_hosts", { status: "UP" }) === 1 && metricValue(x, "helios_agent_reconcile_duration_seconds_count") > 0 ? x : undefined
      },
      { what: "the solo host UP and a reconcile pass", timeoutMs: 30_000, intervalMs: 200 },
    )
    expect(metricValue(s, "helios_agent_info", { host: "solo-dash-host" })).toBe(1)
    expect(metricValue(s, "helios_agent_events_appended_total")).toBeGreaterThan(0)
    expect(hasMetric(s, "process_cpu_user_seconds_total")).toBe(true)
    // One sample per name and labels: the two registries do not overlap.
    const keys = s.map((x) => `${x.name}${JSON.stringify(x.labels)}`)
    expect(new Set(keys).size).toBe(keys.length)
  })
})
