/*
 * The seed example as a user types it, asserted step by step: create, jobs, hosts, deploy,
 * status until RUNNING, HTTP to the container, undeploy -a, remove, then history tells the
 * whole story, down to the container's STOPPING and STOPPED after `undeployed`. Shared by the solo
 * and the ZooKeeper end-to-end tests.
 */
import { expect } from "vitest"
import { docker, TEST_IMAGE, TEST_IMAGE_TEXT } from "./docker.ts"
import { waitFor } from "./services.ts"
import { cells, lines, type CliResult } from "./cli-helpers.ts"

export type Cli = (args: ReadonlyArray<string>) => Promise<CliResult>

/** Runs `helios ARGS`, expecting exit 0 and nothing on stderr; returns stdout's lines. */
export const okLines = async (cli: Cli, args: ReadonlyArray<string>): Promise<string[]> => {
  const r = await cli(args)
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" })
  return lines(r.stdout)
}

export const runningContainers = async (label: string) =>
  docker().listContainers({ filters: { label: [label], status: ["running"] } })

export interface FlowOptions {
  readonly cli: Cli
  /** The host the agent registered. */
  readonly host: string
  /** A free host port for the job's `http` port (the README uses 8080). */
  readonly webPort: number
  /** A label on every container the agent creates (for the container checks). */
  readonly containerLabel: string
  readonly jobName?: string
  /**
   * The actor the history records for `-u USER`: `user:USER` from an auth-less master; a master with
   * authentication records the principal (`user:USER@PRINCIPAL` for one that may name users, as solo's local one).
   */
  readonly actorOf?: (user: string) => string
  /** Runs once the job is RUNNING (e.g. restart solo), with the container id. */
  readonly whileRunning?: (containerId: string) => Promise<void>
}

/** The status row of `jobId` on `host` once its STATE is RUNNING. */
export const waitForRunning = (cli: Cli, jobId: string, host: string) =>
  waitFor(
    async () => {
      const out = await okLines(cli, ["status", "--job", jobId])
      const row = out.slice(1).map(cells).find((c) => c[1] === host)
      return row?.[3] === "RUNNING" ? row : undefined
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `${jobId} RUNNING on ${host}` },
  )

export const userFlow = async (o: FlowOptions): Promise<void> => {
  const { cli, host, webPort } = o
  const actorOf = o.actorOf ?? ((user: string) => `user:${user}`)
  const name = o.jobName ?? "web"
  const ref = `${name}:v1`

  // create, as alice
  const created = await okLines(cli, ["-u", "alice", "create", ref, TEST_IMAGE, "-p", `http=80:${webPort}`])
  expect(created[0]).toMatch(new RegExp(`^Creating job: \\{"id":"${ref}:[0-9a-f]{40}"`))
  expect(created[1]).toBe("Done.")
  const id = created[2]!
  expect(id).toMatch(new RegExp(`^${ref}:[0-9a-f]{40}$`))
  const short = id.slice(0, ref.length + 8)

  // jobs
  const jobs = await okLines(cli, ["jobs", ref])
  expect(cells(jobs[0]!)).toEqual(["JOB ID", "NAME", "VERSION", "HOSTS", "COMMAND", "ENVIRONMENT"])
  expect(cells(jobs[1]!)).toEqual([short, name, "v1", "0"])

  // hosts: up, with the facts the agent reports (written just after it registered)
  const hostRow = await waitFor(
    async () => {
      const out = await okLines(cli, ["hosts"])
      expect(cells(out[0]!)).toEqual(["HOST", "STATUS", "DEPLOYED", "RUNNING", "CPUS", "MEM (GB)", "LOAD AVG", "MEM USAGE", "OS", "HELIOS", "DOCKER", "LABELS"])
      const row = out.slice(1).map(cells).find((c) => c[0] === host)
      return row && row[4] !== "-" ? row : undefined
    },
    { timeoutMs: 30_000, intervalMs: 250, what: `host facts of ${host}` },
  )
  expect(hostRow.slice(0, 4)).toEqual([host, expect.stringMatching(/^Up \d+ (second|minute)s?$/), "0", "0"])
  expect(hostRow[4]).toMatch(/^\d+$/)
  expect(hostRow[10]).toMatch(/^\S+ \(1\.\d+\)$/) // Docker version (API version)

  // deploy, as bob
  expect(await okLines(cli, ["-u", "bob", "deploy", ref, host])).toEqual([`Deploying ${id}|START on [${host}]`, `${host}: done`])

  // status until RUNNING; the port is published; the container answers
  const row = await waitForRunning(cli, ref, host)
  expect(row).toEqual([short, host, "START", "RUNNING", expect.stringMatching(/^[0-9a-f]{7}$/), `http=80:${webPort}`])
  const containerId = row[4]!
  const body = await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${webPort}/`)
      return res.ok ? await res.text() : undefined
    },
    { timeoutMs: 20_000, what: `HTTP on port ${webPort}` },
  )
  expect(body).toContain(TEST_IMAGE_TEXT)
  const containers = await runningContainers(o.containerLabel)
  expect(containers.map((c) => c.Id.slice(0, 7))).toEqual([containerId])

  await o.whileRunning?.(containerId)

  // undeploy everywhere (no terminal here: --yes), then the container goes away; the agent reported
  // its STOPPED before removing it, and that report brings back no task
  expect(await okLines(cli, ["undeploy", "-a", "--yes", ref])).toEqual([`Undeploying ${id} from [${host}]`, `${host}: done`])
  await waitFor(async () => ((await docker().listContainers({ all: true, filters: { label: [o.containerLabel] } })).length === 0 ? true : undefined), {
    timeoutMs: 30_000,
    what: "the container to be removed",
  })
  expect(await okLines(cli, ["status", "--job", ref])).toEqual(["JOB ID    HOST    GOAL    STATE    CONTAINER ID    PORTS"])

  // remove
  expect(await okLines(cli, ["remove", "--yes", ref])).toEqual([`Removing job ${id}: done`])
  const gone = await cli(["jobs", ref])
  expect([gone.code, gone.stderr]).toEqual([1, `job pattern ${ref} matched no jobs\n`])

  // history: the whole story, oldest first, with who did what. The agent's report of the
  // container's end (STOPPED) may land after `removed`: poll for it.
  const history = await waitFor(
    async () => {
      const out = await okLines(cli, ["history", ref])
      return out.slice(2).some((l) => cells(l)[5] === "STOPPED") ? out : undefined
    },
    { timeoutMs: 30_000, what: "STOPPED in the history" },
  )
  console.log(history.join("\n"))
  expect(history[0]).toBe(`History of ${id}:`)
  expect(cells(history[1]!)).toEqual(["TIMESTAMP", "POSITION", "HOST", "ACTOR", "EVENT", "STATE", "THROTTLED", "CONTAINER ID", "DETAIL/ERROR"])
  const entries = history.slice(2).map(cells)
  const positions = entries.map((e) => Number(e[1]))
  expect(positions).toEqual([...positions].sort((a, b) => a - b))
  const story = entries.map((e) => (e[4] === "state" ? e[5]! : e[4]!))
  expect(entries[0]!.slice(2, 5)).toEqual(["-", actorOf("alice"), "created"])
  expect(entries[1]!.slice(2, 6)).toEqual([host, actorOf("bob"), "deployed", "-"])
  const firstRun = ["PULLING_IMAGE", "CREATING", "STARTING", "RUNNING"]
  expect(story.slice(2, 6)).toEqual(firstRun)
  for (const e of entries.filter((e) => e[4] === "state")) {
    expect(e[2]).toBe(host)
    expect(e[3]).toMatch(/^agent:/)
  }
  const running = entries.find((e) => e[5] === "RUNNING")!
  expect(running[7]).toBe(containerId)
  // The end: undeployed, then the container's STOPPING and STOPPED (goal UNDEPLOY, its container
  // id); `removed` lands before or after the STOPPED.
  const undeployedAt = story.lastIndexOf("undeployed")
  expect(story.slice(undeployedAt).filter((x) => x !== "removed")).toEqual(["undeployed", "STOPPING", "STOPPED"])
  expect(story.slice(-2)).toContain("removed")
  for (const e of entries.slice(undeployedAt).filter((e) => e[4] === "state"))
    expect(e.slice(2)).toEqual([host, expect.stringMatching(/^agent:/), "state", e[5], "NO", containerId, "goal UNDEPLOY"])
  expect(entries.find((e) => e[4] === "removed")!.slice(2, 5)).toEqual(["-", expect.stringMatching(/^user:/), "removed"])

  const json = await cli(["--json", "history", id])
  expect(json.code).toBe(0)
  const parsed = JSON.parse(json.stdout) as {
    job: string
    audit: Array<{ type: string; actor: string; state?: string; goal?: string; containerId?: string; timestamp: number }>
    events: Array<{ status: { state: string; goal: string; containerId: string | null } }>
  }
  expect(parsed.job).toBe(id)
  expect(parsed.audit[0]).toMatchObject({ type: "JobCreated", actor: actorOf("alice") })
  expect(parsed.audit.map((e) => e.type).slice(-3)).toContain("JobRemoved")
  const stopped = parsed.audit.find((e) => e.state === "STOPPED")!
  expect(stopped).toMatchObject({ type: "TaskStateChanged", goal: "UNDEPLOY", containerId: expect.stringMatching(new RegExp(`^${containerId}[0-9a-f]{57}$`)) })
  expect(stopped.timestamp).toBeGreaterThan(parsed.audit.find((e) => e.type === "JobUndeployed")!.timestamp - 1)
  // Helios's own shape (`events`: task statuses only) ends the same way.
  expect(parsed.events.slice(-2).map((e) => [e.status.state, e.status.goal])).toEqual([
    ["STOPPING", "UNDEPLOY"],
    ["STOPPED", "UNDEPLOY"],
  ])
}
