import { Result } from "effect"
import { decodeInput, formatFieldErrors } from "../core/decode.ts"
import { DeploymentGroup } from "../core/deployment-group.ts"
import { formatHostSelector, HostSelector as HostSelectorSchema, parseHostSelector, type HostSelector } from "../core/host-selector.ts"
import { shortJobId } from "../core/job-id.ts"
import type { HeliosClient } from "./client.ts"
import { ApiError, CliError } from "./errors.ts"
import { formatTable } from "./output.ts"
import type { DeploymentGroupJson, DeploymentGroupStatusJson } from "./wire.ts"
import type { ShownSelectorJson } from "./answers.ts"
import * as Answers from "./answers.ts"

/*
 * What the deployment-group verbs share: the group's URL, "Unknown deployment group" for a 404,
 * the selectors as the user types them, and Helios's layouts of `inspect-deployment-group` and
 * `deployment-group-status` (also printed by `watch-deployment-group`).
 */

/** `/deployment-group/NAME[/suffix]`. */
export const groupPath = (name: string, suffix = ""): string => `/deployment-group/${encodeURIComponent(name)}${suffix}`

export const unknownGroup = (name: string): CliError =>
  new CliError(`Unknown deployment group: ${name}`, { status: "DEPLOYMENT_GROUP_NOT_FOUND", name })

/** Runs a request about group `name`; the master's DEPLOYMENT_GROUP_NOT_FOUND becomes "Unknown deployment group: NAME". */
export const aboutGroup = async <T>(name: string, request: Promise<T>): Promise<T> => {
  try {
    return await request
  } catch (e) {
    if (e instanceof ApiError && e.status === "DEPLOYMENT_GROUP_NOT_FOUND") throw unknownGroup(name)
    throw e
  }
}

export const fetchGroup = (client: HeliosClient, name: string, signal?: AbortSignal): Promise<DeploymentGroupJson> =>
  aboutGroup(name, client.getDecoded(groupPath(name), Answers.DeploymentGroup, {}, signal ? { signal } : {}))

export const fetchGroupStatus = (client: HeliosClient, name: string, signal?: AbortSignal): Promise<DeploymentGroupStatusJson> =>
  aboutGroup(name, client.getDecoded(groupPath(name, "/status"), Answers.DeploymentGroupStatus, {}, signal ? { signal } : {}))

/**
 * The group `create-deployment-group NAME SELECTOR...` sends, decoded here first: a bad selector
 * or name is refused before anything is sent, naming what is wrong.
 */
export const groupFromArgs = (name: string, selectorTexts: ReadonlyArray<string>): DeploymentGroup => {
  const hostSelectors: HostSelector[] = []
  for (const text of selectorTexts) {
    const parsed = parseHostSelector(text)
    if (Result.isFailure(parsed)) throw new CliError(parsed.failure, { status: "INVALID_SELECTOR", selector: text })
    hostSelectors.push(parsed.success)
  }
  const group = decodeInput(DeploymentGroup, { name, hostSelectors })
  if (Result.isFailure(group))
    throw new CliError(`invalid deployment group: ${formatFieldErrors(group.failure)}`, {
      status: "INVALID_DEPLOYMENT_GROUP",
      errors: group.failure.map((e) => `${e.field}: ${e.message}`),
    })
  return group.success
}

/** A selector as Helios prints it; one with an operator this helios does not know, as the master sent it. */
const selectorText = (s: ShownSelectorJson): string => {
  const known = decodeInput(HostSelectorSchema, s)
  return Result.isSuccess(known) ? formatHostSelector(known.success) : `${s.label} ${s.operator} ${JSON.stringify(s.operand)}`
}

const selectorLines = (selectors: ReadonlyArray<ShownSelectorJson>): string[] => selectors.map((s) => `  ${selectorText(s)}`)

/** A missing value (Helios prints Java's `null`; this prints "-"). */
const orDash = (x: string | null | undefined): string => (x === undefined || x === null || x === "" ? "-" : x)

/** Helios's `inspect-deployment-group` layout. */
export const inspectGroupLines = (g: DeploymentGroupJson): string[] => {
  const lines = [`Name: ${g.name}`, "Host selectors:", ...selectorLines(g.hostSelectors), `Job: ${orDash(g.jobId)}`]
  if (g.rollingUpdateReason) lines.push(`Rolling update reason: ${g.rollingUpdateReason}`)
  const o = g.rolloutOptions
  if (o) {
    lines.push("Rollout options:", `  Migrate: ${o.migrate}`, `  Overlap: ${o.overlap}`, `  Parallelism: ${o.parallelism}`, `  Timeout: ${o.timeout}`)
    if (o.token) lines.push(`  Token: ${o.token}`)
    lines.push(`  Ignore failures: ${o.ignoreFailures}`)
  }
  return lines
}

export const GROUP_STATUS_COLUMNS = ["HOST", "UP-TO-DATE", "JOB", "STATE"]

/**
 * Helios's `deployment-group-status` layout: Name, Job Id, Status, Host selectors, Error (if any),
 * a blank line, then one row per UP host of the group in rollout order, with X in UP-TO-DATE
 * when the host has the group's job. Job ids are short unless `full`.
 */
export const groupStatusText = (name: string, s: DeploymentGroupStatusJson, full: boolean): string => {
  const groupJob = s.deploymentGroup.jobId ?? null
  const jobText = (id: string | null) => (id === null ? "-" : full ? id : shortJobId(id))
  const head = [`Name: ${name}`, `Job Id: ${jobText(groupJob)}`, `Status: ${s.status}`, "Host selectors:", ...selectorLines(s.deploymentGroup.hostSelectors)]
  if (s.error) head.push(`Error: ${s.error}`)
  const rows = s.hostStatuses.map((h) => [h.host, h.jobId !== null && h.jobId === groupJob ? "X" : "", jobText(h.jobId), h.state ?? "-"])
  return head.join("\n") + "\n\n" + formatTable([GROUP_STATUS_COLUMNS, ...rows])
}
