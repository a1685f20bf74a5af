/**
 * The dashboard (/ui) in headless Chromium (Debian's `chromium`, driven by playwright-core: nothing
 * is downloaded) against a real master with two real agents on the real ZooKeeper and Docker. What
 * an operator sees: the fleet, a deploy made with the CLI appearing without a reload, the time
 * slider showing a job as it was deployed at an earlier position although it is removed now, a
 * job's history, the live event stream, a rollout's steps, and a pasted token sent with every
 * request. Screenshots go to build/screenshots/ (git-ignored, so a test run leaves the tree clean);
 * HELIOS_SCREENSHOT_DIR=docs/screenshots refreshes the ones the README shows.
 */
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { chromium, type Browser, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { position, type HostName } from "../core/ids.ts"
import { dockerAgentFixture, type DockerAgentFixture } from "../test/agent-docker-fixture.ts"
import { runInProcess } from "../test/cli-helpers.ts"
import { TEST_IMAGE } from "../test/docker.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { waitFor } from "../test/services.ts"

const CHROMIUM = process.env["HELIOS_CHROMIUM"] ?? "/usr/bin/chromium"
const SHOTS = process.env["HELIOS_SCREENSHOT_DIR"] ?? fileURLToPath(new URL("../build/screenshots/", import.meta.url))
const H1 = "dash-h1" as HostName
const H2 = "dash-h2" as HostName
const HOSTS: ReadonlyArray<[HostName, Record<string, string>, string]> = [
  [H1, { role: "web", zone: "a" }, "47700:47749"],
  [H2, { role: "web", zone: "b" }, "47750:47799"],
]
/** How long the page may take to show what the API already answers (a busy 2-core machine). */
const UI_MS = 20_000

let fx: DockerAgentFixture
let master: TestMaster
let browser: Browser | undefined
const agents: Array<Awaited<ReturnType<DockerAgentFixture["start"]>>> = []

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true })
  fx = await dockerAgentFixture("dashboard")
  master = await startTestMaster(fx.root, "dash-master")
  for (const [host, labels, portRange] of HOSTS) agents.push(await fx.start(host, { labels, portRange }))
  await Promise.all(agents.map((a) => a.registered))
  await waitFor(() => (HOSTS.every(([h]) => master.projection.model.state.hosts.get(h)?.up) ? true : undefined), { what: "both hosts UP" })
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (scripts/setup.sh does), or set HELIOS_CHROMIUM`)
  browser = await chromium.launch({ executablePath: CHROMIUM })
}, 120_000)

afterAll(async () => {
  await browser?.close().catch(() => undefined)
  for (const a of agents) await a.stop().catch(() => undefined)
  await master?.stop().catch(() => undefined)
  await fx?.cleanup()
})

/** `helios ARGS` against the master, as a user; stdout. Fails the test on a non-zero exit. */
const helios = async (...args: string[]): Promise<string> => {
  const r = await runInProcess(["-z", master.url, ...args], { env: { HOME: fx.tmp } })
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" })
  return r.stdout.trim()
}

/** A new page on the dashboard, closed after `use` even when it fails. */
const withPage = async (hash: string, use: (page: Page) => Promise<void>, options: { readonly timezoneId?: string } = {}) => {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 800 }, ...options })
  const page = await context.newPage()
  const errors: string[] = []
  page.on("pageerror", (e) => errors.push(e.message))
  try {
    await page.goto(`${master.url}/ui${hash}`)
    await use(page)
    expect(errors).toEqual([])
  } finally {
    await context.close()
  }
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

/** Waits until the job's task on `host` is RUNNING, as the master sees it. */
const running = (jobId: string, host: HostName) =>
  waitFor(() => (master.projection.model.state.tasks.get(host)?.get(jobId)?.state === "RUNNING" ? true : undefined), {
    what: `${jobId} RUNNING on ${host}`,
    timeoutMs: 45_000,
    intervalMs: 100,
  })

const row = (page: Page, table: string, attr: string, value: string) => page.locator(`[data-testid=${table}] tr[data-${attr}="${value}"]`)

describe("the dashboard in headless Chromium", () => {
  let webId: string
  /** A position at which web:v1 was deployed and RUNNING on dash-h1. */
  let deployedAt: number

  it("renders the fleet: hosts UP with their labels and jobs, jobs with their task states and ports", async () => {
    webId = await helios("-u", "alice", "create", "-q", "dash-web:v1", TEST_IMAGE, "-p", "http=80")
    await helios("-u", "alice", "deploy", webId, H1)
    await running(webId, H1)
    deployedAt = master.projection.position

    await withPage("#/", async (page) => {
      for (const [host] of HOSTS) await row(page, "hosts", "host", host).waitFor({ timeout: UI_MS })
      const h1 = row(page, "hosts", "host", H1)
      await expect.poll(() => h1.getAttribute("data-status"), { timeout: UI_MS }).toBe("UP")
      expect(await h1.innerText()).toContain("role=web")
      expect(await h1.innerText()).toContain("zone=a")
      await h1.locator(`.task[data-job="${webId}"] [data-state=RUNNING]`).waitFor({ timeout: UI_MS })
      const job = row(page, "jobs", "job", webId)
      await job.locator(`.task[data-host="${H1}"] [data-state=RUNNING]`).waitFor({ timeout: UI_MS })
      expect(await job.innerText()).toContain(TEST_IMAGE)
      // The port the agent allocated from dash-h1's range, mapped to the container's 80.
      const port = master.projection.model.state.tasks.get(H1)?.get(webId)?.ports?.["http"]?.externalPort
      expect(port).toBeGreaterThanOrEqual(47700)
      expect(await job.innerText()).toContain(`${H1}:${port} → 80`)
    })
  })

  it("shows a deploy made through the CLI live, without a reload", async () => {
    await withPage("#/", async (page) => {
      await row(page, "jobs", "job", webId).waitFor({ timeout: UI_MS })
      await page.locator("#stream-status[data-state=live]").waitFor({ timeout: UI_MS })
      // Marks this document: a reload or navigation would lose the mark.
      await page.evaluate(() => ((window as unknown as { dashboardMark: number }).dashboardMark = 42))
      await helios("-u", "bob", "deploy", webId, H2)
      await row(page, "hosts", "host", H2).locator(`.task[data-job="${webId}"]`).waitFor({ timeout: UI_MS })
      await row(page, "jobs", "job", webId).locator(`.task[data-host="${H2}"] [data-state=RUNNING]`).waitFor({ timeout: 45_000 })
      expect(await page.evaluate(() => (window as unknown as { dashboardMark?: number }).dashboardMark)).toBe(42)
      await shot(page, "fleet")
    })
  })

  it("shows a job's history as a timeline: who, what, when, position, container states", async () => {
    await withPage(`#/jobs/${encodeURIComponent(webId)}`, async (page) => {
      const history = page.locator("[data-testid=history]")
      await history.locator("li[data-type=TaskStateChanged]").first().waitFor({ timeout: UI_MS })
      const created = history.locator("li[data-type=JobCreated]")
      expect(await created.innerText()).toContain("user:alice")
      const deploys = history.locator("li[data-type=JobDeployed]")
      expect(await deploys.count()).toBe(2)
      expect(await deploys.nth(1).innerText()).toContain("user:bob")
      expect(await deploys.nth(1).innerText()).toContain(H2)
      const runningOnH1 = history.locator("li[data-type=TaskStateChanged]", { has: page.locator("[data-state=RUNNING]") }).filter({ hasText: H1 })
      expect(await runningOnH1.count()).toBeGreaterThanOrEqual(1)
      // Positions in log order.
      const positions = (await history.locator("li[data-position]").evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset["position"]))))
      expect(positions).toEqual([...positions].sort((a, b) => a - b))
      await row(page, "deployments", "host", H1).locator("[data-state=RUNNING]").waitFor({ timeout: UI_MS })
      await shot(page, "job-history")
    })
  })

  it("time slider: a job removed now shows as deployed at an earlier position", async () => {
    await helios("undeploy", "-a", "--yes", webId)
    await helios("remove", "--yes", webId)
    await withPage("#/", async (page) => {
      await page.locator("[data-testid=fleet]").waitFor({ timeout: UI_MS })
      // Now: gone.
      await expect.poll(() => row(page, "jobs", "job", webId).count(), { timeout: UI_MS }).toBe(0)
      expect(await page.locator("#at-label").getAttribute("data-at")).toBe("live")

      await page.locator("#slider").fill(String(deployedAt))
      await page.locator(`#at-label[data-at="${deployedAt}"]`).waitFor({ timeout: UI_MS })
      const then = row(page, "jobs", "job", webId)
      await then.locator(`.task[data-host="${H1}"] [data-state=RUNNING]`).waitFor({ timeout: UI_MS })
      await row(page, "hosts", "host", H1).locator(`.task[data-job="${webId}"]`).waitFor({ timeout: UI_MS })
      expect(await page.locator("[data-testid=fleet]").getAttribute("data-position")).toBe(String(deployedAt))
      expect(await page.locator("[data-testid=past-banner]").innerText()).toContain(`as of position ${deployedAt}`)
      await shot(page, "time-travel")

      // The same by time: the moment of that position, typed as an ISO time.
      await page.locator("#live").click()
      await page.locator(`#at-label[data-at=live]`).waitFor({ timeout: UI_MS })
      const [event] = await master.log.read(position(deployedAt - 1), 1)
      const at = event!.envelope.at
      await page.locator("#at-input").fill(new Date(at).toISOString())
      await page.locator("#at-input").press("Enter")
      await expect.poll(async () => Number(await page.locator("#at-label").getAttribute("data-at")), { timeout: UI_MS }).toBeGreaterThanOrEqual(deployedAt)
      await row(page, "jobs", "job", webId).locator(`.task[data-host="${H1}"] [data-state=RUNNING]`).waitFor({ timeout: UI_MS })

      // Back to live: gone again.
      await page.locator("#live").click()
      await page.locator(`#at-label[data-at=live]`).waitFor({ timeout: UI_MS })
      await expect.poll(() => row(page, "jobs", "job", webId).count(), { timeout: UI_MS }).toBe(0)
    })
  })

  it("a time typed without a zone is the browser's local time, as the page shows times (not the master's zone)", async () => {
    const [event] = await master.log.read(position(deployedAt - 1), 1)
    const at = new Date(event!.envelope.at)
    // The moment of that position as a clock in Los Angeles reads it, without a zone.
    const local = new Intl.DateTimeFormat("sv-SE", { timeZone: "America/Los_Angeles", dateStyle: "short", timeStyle: "medium" }).format(at).replace(" ", "T")
    await withPage(
      "#/",
      async (page) => {
        await page.locator("[data-testid=fleet]").waitFor({ timeout: UI_MS })
        await page.locator("#at-input").fill(`${local}.${String(at.getUTCMilliseconds()).padStart(3, "0")}`)
        await page.locator("#at-input").press("Enter")
        await expect.poll(async () => Number(await page.locator("#at-label").getAttribute("data-at")), { timeout: UI_MS }).toBeGreaterThanOrEqual(deployedAt)
      },
      { timezoneId: "America/Los_Angeles" },
    )
  })

  it("shows the live event stream", async () => {
    await withPage("#/events", async (page) => {
      await page.locator("#event-rows tr[data-type=JobRemoved]").first().waitFor({ timeout: UI_MS })
      const before = await page.locator("#event-rows tr[data-position]").count()
      const id = await helios("-u", "carol", "create", "-q", "dash-events:v1", TEST_IMAGE)
      const created = page.locator("#event-rows tr[data-type=JobCreated]").filter({ hasText: "user:carol" })
      await created.waitFor({ timeout: UI_MS })
      expect(await created.innerText()).toContain(id.slice(0, "dash-events:v1:".length + 7))
      expect(await page.locator("#event-rows tr[data-position]").count()).toBeGreaterThan(before)
      // Newest first.
      const positions = await page.locator("#event-rows tr[data-position]").evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset["position"])))
      expect(positions).toEqual([...positions].sort((a, b) => b - a))
      await shot(page, "events")
      await helios("remove", "--yes", id)
    })
  })

  it("shows a rollout's steps as a timeline, live, until the group is ACTIVE", async () => {
    const group = await master.call("POST", "/deployment-group", { name: "dash-web", hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] })
    expect(group.status, JSON.stringify(group.body)).toBe(200)
    const jobId = await helios("create", "-q", "dash-ro:v1", TEST_IMAGE, "-p", "http=80")
    await withPage("#/groups/dash-web", async (page) => {
      await page.locator("[data-testid=group][data-status=IDLE]").waitFor({ timeout: UI_MS })
      const update = await master.call("POST", "/deployment-group/dash-web/rolling-update", { job: jobId })
      expect(update.status, JSON.stringify(update.body)).toBe(200)
      // Live: the page shows the rollout's steps as they are taken, then ACTIVE.
      await page.locator("[data-testid=group][data-status=ACTIVE]").waitFor({ timeout: 45_000 })
      const status = (await master.call("GET", "/deployment-group/dash-web/status")).body
      const steps = page.locator("[data-testid=steps] li[data-step]")
      await expect.poll(() => steps.locator("[data-state=DONE]").count(), { timeout: UI_MS }).toBe(status.rollout.steps.length)
      expect(await steps.count()).toBe(status.rollout.steps.length)
      for (const [i, s] of (status.rollout.steps as Array<{ host: string; kind: string }>).entries()) {
        const li = steps.nth(i)
        expect(await li.getAttribute("data-host")).toBe(s.host)
        expect(await li.getAttribute("data-kind")).toBe(s.kind)
      }
      // Each step says when it ended, from the rollout's events in the job's history.
      expect(await steps.last().innerText()).toMatch(/\(#\d+–#\d+, \d+\.\d s\)/)
      for (const [host] of HOSTS) await row(page, "group-hosts", "host", host).locator("[data-state=RUNNING]").waitFor({ timeout: UI_MS })
      await shot(page, "rollout")

      await page.goto(`${master.url}/ui#/groups`)
      await row(page, "group-table", "group", "dash-web").waitFor({ timeout: UI_MS })
      expect(await row(page, "group-table", "group", "dash-web").getAttribute("data-status")).toBe("ACTIVE")
    })
  })

  it("sends a pasted token as `Authorization: Bearer` with every API request and the event stream", async () => {
    await withPage("#/", async (page) => {
      await page.locator("[data-testid=fleet]").waitFor({ timeout: UI_MS })
      const seen: Array<{ path: string; authorization: string | undefined }> = []
      page.on("request", (r) => {
        const path = new URL(r.url()).pathname
        if (!path.startsWith("/ui")) seen.push({ path, authorization: r.headers()["authorization"] })
      })
      await page.locator("#token").fill("s3cret-token")
      await page.locator("#token-form button").click()
      const withToken = (path: string) => seen.some((s) => s.path === path && s.authorization === "Bearer s3cret-token")
      await waitFor(() => (withToken("/events") && withToken("/hosts") && withToken("/jobs") ? true : undefined), {
        what: "the page to fetch /hosts, /jobs and /events again, with the token",
        timeoutMs: UI_MS,
      })
      // From the first request with the token on (a live refresh may have gone out just before), all carry it.
      const after = seen.slice(seen.findIndex((s) => s.authorization !== undefined))
      for (const s of after) expect(s).toEqual({ path: s.path, authorization: "Bearer s3cret-token" })
      // Kept for this tab only: sessionStorage.
      expect(await page.evaluate(() => sessionStorage.getItem("helios.token"))).toBe("s3cret-token")
      // After a reload the field holds it, but the page's markup does not.
      await page.reload()
      await page.locator("[data-testid=fleet]").waitFor({ timeout: UI_MS })
      expect(await page.locator("#token").inputValue()).toBe("s3cret-token")
      expect(await page.locator("#token").getAttribute("value")).toBeNull()
    })
  })
})
