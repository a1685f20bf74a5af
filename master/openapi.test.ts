/**
 * GET /openapi.json (master/openapi.ts): it names every route the master's hono app has (and no
 * other), it is a structurally valid OpenAPI 3.1 document, and what it says the answers look like
 * is what a real master answers (each documented JSON answer is decoded with its schema, excess
 * properties refused). The reference page at /docs is served with its script and style sheet.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Script } from "node:vm"
import { Result, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { HostInfoReader } from "../core/host-info.ts"
import { SqliteEventLog } from "../log/sqlite-log.ts"
import { removeTempDirs, tempDir } from "../test/cli-helpers.ts"
import { waitFor } from "../test/services.ts"
import { masterApp } from "./app.ts"
import type { MasterDeps } from "./deps.ts"
import { startMaster, type RunningMaster } from "./master.ts"
import { buildOpenApiDocument, ROUTES } from "./openapi.ts"
import { HELIOS_VERSION } from "./version.ts"

type Doc = Record<string, any>
const CHROMIUM = "/usr/bin/chromium"

// -------------------------------------------------------------------------------------------------
// A structural check of OpenAPI 3.1 (the spec's required fields and the rules a generator relies
// on), written here rather than taken from a package: every problem, as "where: what".

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
const JSON_TYPES = ["string", "number", "integer", "boolean", "array", "object", "null"]

/** Problems with a JSON Schema (2020-12, as OpenAPI 3.1 uses it) and every schema inside it. */
const schemaProblems = (s: unknown, at: string, doc: Doc): string[] => {
  if (typeof s === "boolean") return []
  if (typeof s !== "object" || s === null || Array.isArray(s)) return [`${at}: a schema must be an object or a boolean`]
  const o = s as Record<string, unknown>
  const out: string[] = []
  if (o["$ref"] !== undefined) {
    const ref = o["$ref"]
    if (typeof ref !== "string" || !ref.startsWith("#/")) out.push(`${at}: $ref must be a local reference, got ${String(ref)}`)
    else if (ref.slice(2).split("/").reduce<any>((node, key) => node?.[key.replaceAll("~1", "/").replaceAll("~0", "~")], doc) === undefined) out.push(`${at}: $ref ${ref} resolves to nothing`)
  }
  const type = o["type"]
  if (type !== undefined && !(typeof type === "string" ? JSON_TYPES.includes(type) : Array.isArray(type) && type.every((t) => JSON_TYPES.includes(t))))
    out.push(`${at}: type ${JSON.stringify(type)} is not a JSON Schema type`)
  if (o["required"] !== undefined && !(Array.isArray(o["required"]) && o["required"].every((r) => typeof r === "string"))) out.push(`${at}: required must list property names`)
  if (o["enum"] !== undefined && !(Array.isArray(o["enum"]) && o["enum"].length > 0)) out.push(`${at}: enum must be a non-empty array`)
  for (const k of ["properties", "patternProperties", "$defs"] as const) {
    const v = o[k]
    if (v === undefined) continue
    if (typeof v !== "object" || v === null || Array.isArray(v)) out.push(`${at}.${k}: must be an object`)
    else for (const [name, sub] of Object.entries(v)) out.push(...schemaProblems(sub, `${at}.${k}.${name}`, doc))
  }
  for (const k of ["items", "additionalProperties", "propertyNames", "not", "contains", "if", "then", "else"] as const)
    if (o[k] !== undefined) out.push(...schemaProblems(o[k], `${at}.${k}`, doc))
  for (const k of ["anyOf", "oneOf", "allOf", "prefixItems"] as const) {
    const v = o[k]
    if (v === undefined) continue
    if (!Array.isArray(v) || v.length === 0) out.push(`${at}.${k}: must be a non-empty array`)
    else v.forEach((sub, i) => out.push(...schemaProblems(sub, `${at}.${k}[${i}]`, doc)))
  }
  return out
}

const mediaProblems = (content: unknown, at: string, doc: Doc): string[] => {
  if (typeof content !== "object" || content === null) return [`${at}: content must be an object`]
  return Object.entries(content).flatMap(([media, m]) =>
    !/^[\w.+-]+\/[\w.+-]+$/.test(media) ? [`${at}: ${media} is not a media type`] : (m as Doc).schema === undefined ? [] : schemaProblems((m as Doc).schema, `${at}.${media}.schema`, doc),
  )
}

/** Every way `doc` fails to be an OpenAPI 3.1 document (empty: none found). */
export const openApiProblems = (doc: Doc): string[] => {
  const out: string[] = []
  if (typeof doc["openapi"] !== "string" || !/^3\.1\.\d+$/.test(doc["openapi"])) out.push(`openapi: expected 3.1.x, got ${doc["openapi"]}`)
  if (typeof doc["info"]?.title !== "string" || typeof doc["info"]?.version !== "string") out.push("info: title and version are required strings")
  if (doc["info"]?.license !== undefined && typeof doc["info"].license.name !== "string") out.push("info.license: name is required")
  if (typeof doc["paths"] !== "object" || doc["paths"] === null) return [...out, "paths: required (an object)"]
  const operationIds = new Set<string>()
  const declaredTags = new Set<string>((doc["tags"] ?? []).map((t: { name: string }) => t.name))
  for (const [path, item] of Object.entries(doc["paths"] as Record<string, Doc>)) {
    if (!path.startsWith("/")) out.push(`paths.${path}: must start with /`)
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!)
    for (const [method, op] of Object.entries(item)) {
      const at = `${method.toUpperCase()} ${path}`
      if (!METHODS.includes(method)) {
        out.push(`${at}: ${method} is not an HTTP method of OpenAPI`)
        continue
      }
      if (typeof op.operationId === "string") {
        if (operationIds.has(op.operationId)) out.push(`${at}: operationId ${op.operationId} is used twice`)
        operationIds.add(op.operationId)
      }
      for (const tag of op.tags ?? []) if (!declaredTags.has(tag)) out.push(`${at}: tag ${tag} is not declared in tags`)
      const params: Doc[] = op.parameters ?? []
      const seen = new Set<string>()
      for (const p of params) {
        const where = `${at} parameter ${p.name}`
        if (typeof p.name !== "string" || !["path", "query", "header", "cookie"].includes(p.in)) out.push(`${where}: name and in (path|query|header|cookie) are required`)
        if (seen.has(`${p.in}:${p.name}`)) out.push(`${where}: declared twice`)
        seen.add(`${p.in}:${p.name}`)
        if (p.in === "path" && p.required !== true) out.push(`${where}: a path parameter must be required`)
        if (p.in === "path" && !templated.includes(p.name)) out.push(`${where}: not in the path`)
        if ((p.schema === undefined) === (p.content === undefined)) out.push(`${where}: exactly one of schema and content`)
        if (p.schema !== undefined) out.push(...schemaProblems(p.schema, `${where}.schema`, doc))
      }
      for (const name of templated) if (!params.some((p) => p.in === "path" && p.name === name)) out.push(`${at}: path parameter {${name}} is not declared`)
      if (op.requestBody !== undefined) {
        if (op.requestBody.content === undefined) out.push(`${at} requestBody: content is required`)
        else out.push(...mediaProblems(op.requestBody.content, `${at} requestBody`, doc))
      }
      const responses = op.responses
      if (typeof responses !== "object" || responses === null || Object.keys(responses).length === 0) out.push(`${at}: responses are required`)
      else
        for (const [code, r] of Object.entries(responses as Record<string, Doc>)) {
          if (!/^([1-5](\d\d|XX)|default)$/.test(code)) out.push(`${at} response ${code}: not a status code`)
          if (typeof r.description !== "string") out.push(`${at} response ${code}: description is required`)
          if (r.content !== undefined) out.push(...mediaProblems(r.content, `${at} response ${code}`, doc))
          for (const [h, header] of Object.entries((r.headers ?? {}) as Record<string, Doc>)) if (header.$ref !== undefined) out.push(...schemaProblems({ $ref: header.$ref }, `${at} response ${code} header ${h}`, doc))
        }
    }
  }
  for (const [name, s] of Object.entries((doc["components"]?.schemas ?? {}) as Record<string, unknown>)) {
    if (!/^[a-zA-Z0-9.\-_]+$/.test(name)) out.push(`components.schemas.${name}: not a valid component name`)
    out.push(...schemaProblems(s, `components.schemas.${name}`, doc))
  }
  return out
}

// -------------------------------------------------------------------------------------------------

/** The app's routes as "METHOD /path/{param}" (middleware, registered for ALL methods, left out). */
const appRoutes = (): string[] => {
  const app = masterApp({
    version: HELIOS_VERSION,
    metrics: { http: async (_c: unknown, next: () => Promise<void>) => next() },
    browser: { corsOrigins: [], allowedHosts: [], bindAddress: "127.0.0.1" },
  } as unknown as MasterDeps)
  return [...new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`))].sort()
}

describe("the OpenAPI document", () => {
  it("names every route of the master's app, and only those", () => {
    const documented = ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort()
    const served = appRoutes()
    expect(served.length).toBeGreaterThan(30)
    const missing = served.filter((r) => !documented.includes(r))
    const stale = documented.filter((r) => !served.includes(r))
    expect(missing, "routes the app serves that master/openapi.ts's ROUTES lacks: add them there").toEqual([])
    expect(stale, "routes in master/openapi.ts's ROUTES that the app does not serve").toEqual([])
    expect(new Set(documented).size).toBe(documented.length)
  })

  it("is a valid OpenAPI 3.1 document", () => {
    const doc = buildOpenApiDocument(HELIOS_VERSION)
    expect(openApiProblems(doc)).toEqual([])
    expect(doc).toMatchObject({ openapi: "3.1.0", info: { version: HELIOS_VERSION } })
    // Generated from the code's schemas: the job's JSON as the decoder takes it, refusing unknown fields.
    const jobRequest = (doc["components"] as Doc)["schemas"]["JobRequest"]
    expect(jobRequest).toMatchObject({ type: "object", required: ["id", "image"], additionalProperties: false })
    expect(jobRequest.properties.image).toEqual({ type: "string" })
    expect((doc["components"] as Doc)["schemas"]["PortMapping"].properties.internalPort).toEqual({ type: "integer", minimum: 0, maximum: 65535 })
  })

  it("the check finds what is wrong with a broken document", () => {
    const doc = JSON.parse(JSON.stringify(buildOpenApiDocument(HELIOS_VERSION))) as Doc
    doc["openapi"] = "3.0.3"
    delete doc["paths"]["/jobs/{id}"].get.responses["200"].description
    doc["paths"]["/jobs/{id}"].get.parameters = doc["paths"]["/jobs/{id}"].get.parameters.filter((p: Doc) => p.in !== "path")
    doc["paths"]["/jobs"].post.requestBody.content["application/json"].schema = { $ref: "#/components/schemas/Nothing" }
    doc["components"]["schemas"]["Job"].type = "record"
    expect(openApiProblems(doc)).toEqual([
      "openapi: expected 3.1.x, got 3.0.3",
      "POST /jobs requestBody.application/json.schema: $ref #/components/schemas/Nothing resolves to nothing",
      "GET /jobs/{id}: path parameter {id} is not declared",
      "GET /jobs/{id} response 200: description is required",
      'components.schemas.Job: type "record" is not a JSON Schema type',
    ])
  })
})

describe("a master's answers match the document", () => {
  let master: RunningMaster
  let log: SqliteEventLog
  let jobId: string
  const host = "oa-host1"
  const group = "oa-group"
  const info = {
    hostname: host, uname: "Linux", architecture: "x64", osName: "Linux", osVersion: "6.1", cpus: 2, loadAvg: [0.1, 0.2, 0.3],
    memoryTotalBytes: 1 << 30, memoryFreeBytes: 1 << 29, swapTotalBytes: 0, swapFreeBytes: 0, agentId: "agent-oa", agentVersion: HELIOS_VERSION,
    startTime: 1, uptimeMs: 2, labels: { role: "web" }, environment: { A: "1" }, updatedAt: 3,
  }
  const hostInfo: HostInfoReader = { get: async (h) => (h === host ? info : undefined), isUp: async (h) => h === host }

  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(master.url + path, {
      method,
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    })
    return { status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() }
  }
  /** Decodes `value` with the route's documented answer for `code` (excess properties refused). */
  const conforms = (method: string, path: string, code: number, value: unknown) => {
    const route = ROUTES.find((r) => r.method === method && r.path === path)!
    const schema = route.responses[code]?.schema ?? (code >= 400 ? (ROUTES[0]!.responses[400]!.schema as Schema.Top) : undefined)
    expect(schema, `${method} ${path} documents no ${code} answer`).toBeDefined()
    const decoded = Schema.decodeUnknownResult(schema as Schema.Decoder<unknown>)(value, { onExcessProperty: "error", errors: "all" })
    if (Result.isFailure(decoded)) throw new Error(`${method.toUpperCase()} ${path} answered ${code} with what its schema refuses: ${String(decoded.failure)}\n${JSON.stringify(value).slice(0, 2000)}`)
  }

  beforeAll(async () => {
    const dir = tempDir("openapi")
    log = new SqliteEventLog(join(dir, "events.db"))
    master = await startMaster({ log, port: 0, bindAddress: "127.0.0.1", name: "m-openapi", hostInfo })
    const created = await call("POST", "/jobs?user=alice", { id: "oa:v1", image: "busybox:latest", ports: { http: { internalPort: 80, externalPort: 8080 } }, env: { A: "1" } })
    expect(created.status).toBe(200)
    conforms("post", "/jobs", 200, JSON.parse(created.text))
    jobId = JSON.parse(created.text).id
    for (const [method, path, body, route] of [
      ["PUT", `/hosts/${host}?id=agent-oa`, undefined, ["put", "/hosts/{host}"]],
      ["PUT", `/hosts/${host}/jobs/${jobId}`, { goal: "START" }, ["put", "/hosts/{host}/jobs/{jobId}"]],
      ["POST", "/deployment-group", { name: group, hostSelectors: [{ label: "role", operator: "EQUALS", operand: "web" }] }, ["post", "/deployment-group"]],
    ] as const) {
      const r = await call(method, path, body)
      expect([method, path, r.status]).toEqual([method, path, 200])
      conforms(route[0], route[1], 200, JSON.parse(r.text))
    }
    // A task report, relayed as the host's agent relays it.
    const relayed = await call("POST", `/hosts/${host}/events`, {
      events: [
        {
          event: { _tag: "TaskStateChanged", jobId, host, state: "RUNNING", goal: "START", throttled: "NO", containerId: "c0ffee", ports: { http: { internalPort: 80, externalPort: 8080, protocol: "tcp" } }, env: { A: "1" } },
          schemaVersion: 1,
          at: Date.now(),
          actor: { kind: "agent", name: "agent-oa" },
        },
      ],
    })
    expect(relayed.status).toBe(200)
    conforms("post", "/hosts/{host}/events", 200, JSON.parse(relayed.text))
    await waitFor(async () => ((await call("GET", `/hosts/${host}/status`)).text.includes('"UP"') ? true : undefined), { what: "the host UP" })
    const rolling = await call("POST", `/deployment-group/${group}/rolling-update`, { job: jobId })
    expect(rolling.status).toBe(200)
    conforms("post", "/deployment-group/{name}/rolling-update", 200, JSON.parse(rolling.text))
  })
  afterAll(async () => {
    await master?.stop()
    await log?.close()
    removeTempDirs()
  })

  it("every documented GET answer, decoded with its schema", async () => {
    const fill = (path: string) => path.replace("{id}", jobId).replace("{jobId}", jobId).replace("{host}", host).replace("{name}", group).replace("{number}", "latest")
    const checked: string[] = []
    for (const route of ROUTES.filter((r) => r.method === "get" && !r.meta)) {
      const reply = route.responses[200]!
      const r = await call("GET", fill(route.path))
      expect([route.path, r.status]).toEqual([route.path, 200])
      expect(r.type, route.path).toContain(reply.media ?? "application/json")
      const values = reply.media === "application/x-ndjson" ? r.text.trim().split("\n").map((l) => JSON.parse(l)) : [JSON.parse(r.text)]
      expect(values.length, route.path).toBeGreaterThan(0)
      for (const v of values) conforms("get", route.path, 200, v)
      // An answer that says nothing proves little: the fixtures make these non-empty.
      if (route.path === "/jobs/{id}/status") expect(Object.keys(JSON.parse(r.text).taskStatuses)).toEqual([host])
      if (route.path === "/hosts/{host}/status") expect(JSON.parse(r.text).hostInfo).not.toBeNull()
      checked.push(route.path)
    }
    expect(checked).toEqual(expect.arrayContaining(["/jobs", "/state", "/events", "/history/jobs/{id}", "/deployment-group/{name}/status", "/hosts/{host}/status"]))
  })

  it("the comparison refuses what the document does not say (an extra field, a wrong type)", async () => {
    const job = JSON.parse((await call("GET", `/jobs/${jobId}`)).text)
    conforms("get", "/jobs/{id}", 200, job)
    expect(() => conforms("get", "/jobs/{id}", 200, { ...job, surprise: true })).toThrow(/schema refuses/)
    expect(() => conforms("get", "/jobs/{id}", 200, { ...job, image: 42 })).toThrow(/schema refuses/)
  })

  it("refusals match the documented error answer", async () => {
    const unknown = await call("GET", `/jobs/${jobId.replace(/:[0-9a-f]{40}$/, `:${"0".repeat(40)}`)}`)
    expect(unknown.status).toBe(404)
    conforms("get", "/jobs/{id}", 404, JSON.parse(unknown.text))
    const bad = await call("POST", "/jobs", { id: "bad:v1", image: "busybox", imgae: "typo" })
    expect(bad.status).toBe(400)
    conforms("post", "/jobs", 400, JSON.parse(bad.text))
  })

  it("serves the document and the reference page, its script and its style sheet", async () => {
    const doc = await call("GET", "/openapi.json")
    expect(doc.type).toContain("application/json")
    expect(JSON.parse(doc.text)).toEqual(buildOpenApiDocument(HELIOS_VERSION))
    const page = await call("GET", "/docs")
    expect(page.type).toContain("text/html")
    // It sends requests with a pasted token: not to be framed by another site (clickjacking).
    expect((await fetch(`${master.url}/docs`)).headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
    expect(page.text).toContain('<script src="docs/app.js" defer></script>')
    const script = await call("GET", "/docs/app.js")
    expect(script.type).toContain("text/javascript")
    expect(() => new Script(script.text)).not.toThrow()
    expect(script.text).toContain('fetch("openapi.json")')
    expect((await call("GET", "/docs/app.css")).type).toContain("text/css")
  })

  // Debian's chromium (scripts/setup.sh installs it for the dashboard's browser tests).
  it.skipIf(!existsSync(CHROMIUM))("the reference page sends a request from the browser and shows the answer", async () => {
    const { chromium } = await import("playwright-core")
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] })
    try {
      const page = await browser.newPage()
      await page.goto(`${master.url}/docs#postJobs`)
      const op = page.locator("details#postJobs")
      await op.locator("textarea").fill(JSON.stringify({ id: "from-docs:v1", image: "busybox:latest" }))
      await op.locator("button.send").click()
      await op.locator(".status.good").waitFor({ timeout: 15_000 })
      expect(await op.locator(".status").textContent()).toMatch(/^200 OK {2}· Helios-Position \d+$/)
      expect(JSON.parse((await op.locator(".body > div pre").last().textContent())!)).toMatchObject({ status: "OK", id: expect.stringMatching(/^from-docs:v1:[0-9a-f]{40}$/) })
      // The filter hides what does not match.
      await page.locator("#filter").fill("deployment-group/{name}/status")
      expect(await page.locator("details.op:not(.hidden)").count()).toBe(1)
    } finally {
      await browser.close()
    }
    expect((await call("GET", "/jobs?q=from-docs")).text).toContain("from-docs:v1:")
  })
})
