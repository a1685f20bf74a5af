/**
 * What Helios's clients read from a master, against a real master on the real
 * ZooKeeper: the version headers and their refusals, GET /version/check, and the status names
 * Helios's response types use where they differ from the decision's (undeploy, deregister, tokens).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { HeliosClient } from "../cli/client.ts"
import { ApiError } from "../cli/errors.ts"
import { startTestMaster, type TestMaster } from "../test/master-fixture.ts"
import { uniqueRoot } from "../test/services.ts"
import { HELIOS_VERSION } from "./version.ts"
import { parsePomVersion } from "./version-compat.ts"

let m: TestMaster
beforeAll(async () => {
  m = await startTestMaster(uniqueRoot("helios-compat"), "m-compat")
})
afterAll(async () => {
  await m?.stop()
})

const server = parsePomVersion(HELIOS_VERSION)!
/** Client versions relative to this build's, one per status. */
const clientVersions = {
  EQUAL: HELIOS_VERSION,
  COMPATIBLE: `${server.major}.${server.minor}.${server.patch + 1}`,
  MAYBE: `${server.major}.${server.minor + 1}.0`,
  INCOMPATIBLE: `${server.major + 1}.0.0`,
}

const send = async (method: string, path: string, version: string | undefined, body?: unknown) => {
  const res = await fetch(m.url + path, {
    method,
    headers: { ...(version !== undefined ? { "Helios-Version": version } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await res.text()
  let parsed: any = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: res.status, body: parsed, versionStatus: res.headers.get("Helios-Version-Status"), serverVersion: res.headers.get("Helios-Server-Version") }
}

const job = (id: string, extra: Record<string, unknown> = {}) => ({ id, image: "helios-test/web:latest", ...extra })

describe("Helios-Version and Helios-Version-Status", () => {
  it("MISSING without a Helios-Version header; the request is served and names the server version", async () => {
    const r = await send("GET", "/jobs", undefined)
    expect([r.status, r.versionStatus, r.serverVersion]).toEqual([200, "MISSING", HELIOS_VERSION])
  })

  it("EQUAL for this build's version", async () => {
    const r = await send("GET", "/hosts", clientVersions.EQUAL)
    expect([r.status, r.versionStatus]).toEqual([200, "EQUAL"])
  })

  it("COMPATIBLE for the same major and minor with another patch; served", async () => {
    const r = await send("GET", "/masters", clientVersions.COMPATIBLE)
    expect([r.status, r.versionStatus]).toEqual([200, "COMPATIBLE"])
    expect(r.body).toEqual(["m-compat"])
  })

  it("MAYBE for a newer minor; served", async () => {
    const r = await send("POST", "/jobs", clientVersions.MAYBE, job("maybe:v1"))
    expect([r.status, r.versionStatus, r.body.status]).toEqual([200, "MAYBE", "OK"])
  })

  it("INCOMPATIBLE (another major) is refused with 426 and writes nothing", async () => {
    const r = await send("POST", "/jobs", clientVersions.INCOMPATIBLE, job("incompatible:v1"))
    expect([r.status, r.versionStatus, r.body.status]).toEqual([426, "INCOMPATIBLE", "INCOMPATIBLE"])
    expect(r.body.message).toContain(HELIOS_VERSION)
    expect(Object.keys((await send("GET", "/jobs?q=incompatible", undefined)).body)).toEqual([])
  })

  it("INVALID (malformed) is refused with 400 naming the header, and writes nothing", async () => {
    const r = await send("POST", "/jobs", "1.2-beta", job("invalid:v1"))
    expect([r.status, r.versionStatus, r.body.status]).toEqual([400, "INVALID", "INVALID"])
    expect(r.body.errors.join(" ")).toMatch(/^Helios-Version: /)
    expect(Object.keys((await send("GET", "/jobs?q=invalid", undefined)).body)).toEqual([])
  })

  it("errors carry the headers too (an unknown endpoint's 404)", async () => {
    const r = await send("GET", "/no-such-endpoint", clientVersions.EQUAL)
    expect([r.status, r.versionStatus, r.serverVersion]).toEqual([404, "EQUAL", HELIOS_VERSION])
  })
})

describe("GET /version and /version/check", () => {
  it("GET /version is the version as a JSON string", async () => {
    const r = await send("GET", "/version", undefined)
    expect([r.status, r.body]).toEqual([200, HELIOS_VERSION])
  })

  it("answers {status, serverVersion, recommendedVersion} for each client version, MISSING without one", async () => {
    const serverVersion = { snapshot: server.snapshot, major: server.major, minor: server.minor, patch: server.patch }
    for (const [status, client] of Object.entries(clientVersions)) {
      const r = await send("GET", `/version/check?client=${encodeURIComponent(client)}`, undefined)
      expect([r.status, r.body], client).toEqual([200, { status, serverVersion, recommendedVersion: HELIOS_VERSION }])
    }
    const missing = await send("GET", "/version/check", undefined)
    expect([missing.status, missing.body]).toEqual([200, { status: "MISSING", serverVersion, recommendedVersion: HELIOS_VERSION }])
    const invalid = await send("GET", "/version/check?client=x.y.z", undefined)
    expect([invalid.status, invalid.body.status, invalid.body.errors[0]]).toEqual([400, "INVALID", expect.stringMatching(/^client: /)])
  })
})

describe("Helios's status names", () => {
  it("undeploying a job that is not deployed on the host answers JOB_NOT_FOUND (JobUndeployResponse)", async () => {
    const id = (await send("POST", "/jobs", undefined, job("undeploy-twice:v1"))).body.id
    expect((await send("PUT", "/hosts/compat-h1?id=agent-compat-1", undefined)).status).toBe(200)
    const r = await send("DELETE", `/hosts/compat-h1/jobs/${id}`, undefined)
    expect([r.status, r.body.status, r.body.host, r.body.job]).toEqual([404, "JOB_NOT_FOUND", "compat-h1", id])
    const noHost = await send("DELETE", `/hosts/nowhere/jobs/${id}`, undefined)
    expect([noHost.status, noHost.body.status]).toEqual([404, "HOST_NOT_FOUND"])
    const partial = await send("DELETE", "/hosts/compat-h1/jobs/undeploy-twice:v1", undefined)
    expect([partial.status, partial.body.status, partial.body.host]).toEqual([400, "INVALID_ID", "compat-h1"])
  })

  it("deregistering an unknown host answers NOT_FOUND (HostDeregisterResponse)", async () => {
    const r = await send("DELETE", "/hosts/never-registered", undefined)
    expect([r.status, r.body.status, r.body.host]).toEqual([404, "NOT_FOUND", "never-registered"])
  })

  it("a token sent for a job that has none is FORBIDDEN on deploy, set goal, undeploy and remove; no token (or an empty one) is accepted", async () => {
    const id = (await send("POST", "/jobs", undefined, job("tokenless:v1"))).body.id
    expect((await send("PUT", "/hosts/compat-h2?id=agent-compat-2", undefined)).status).toBe(200)
    const path = `/hosts/compat-h2/jobs/${id}`
    const deploy = await send("PUT", `${path}?token=guess`, undefined, { goal: "START" })
    expect([deploy.status, deploy.body.status]).toEqual([403, "FORBIDDEN"])
    expect((await send("PUT", `${path}?token=`, undefined, { goal: "START" })).body.status).toBe("OK")
    const patch = await send("PATCH", `${path}?token=guess`, undefined, { job: id, goal: "STOP" })
    expect([patch.status, patch.body.status]).toEqual([403, "FORBIDDEN"])
    const undeploy = await send("DELETE", `${path}?token=guess`, undefined)
    expect([undeploy.status, undeploy.body.status]).toEqual([403, "FORBIDDEN"])
    expect((await send("DELETE", path, undefined)).body.status).toBe("OK")
    const remove = await send("DELETE", `/jobs/${id}?token=guess`, undefined)
    expect([remove.status, remove.body.status]).toEqual([403, "FORBIDDEN"])
    expect((await send("DELETE", `/jobs/${id}`, undefined)).body.status).toBe("OK")
  })

  it("a job with a token refuses a request without it (FORBIDDEN) and accepts the right one", async () => {
    const id = (await send("POST", "/jobs", undefined, job("guarded:v1", { token: "s3cret" }))).body.id
    expect((await send("PUT", "/hosts/compat-h3?id=agent-compat-3", undefined)).status).toBe(200)
    const none = await send("PUT", `/hosts/compat-h3/jobs/${id}`, undefined, { goal: "START" })
    expect([none.status, none.body.status]).toEqual([403, "FORBIDDEN"])
    expect((await send("PUT", `/hosts/compat-h3/jobs/${id}?token=s3cret`, undefined, { goal: "START" })).body.status).toBe("OK")
  })

  it("endpoints that need a full job id refuse a partial one with 400 INVALID_ID", async () => {
    for (const [method, path, body] of [
      ["GET", "/jobs/web:v1/status", undefined],
      ["GET", "/hosts/compat-h1/jobs/web:v1", undefined],
      ["POST", "/jobs/statuses", ["web:v1"]],
    ] as const) {
      const r = await send(method, path, undefined, body)
      expect([r.status, r.body.status], `${method} ${path}`).toEqual([400, "INVALID_ID"])
    }
  })
})

describe("the CLI's client and the version check", () => {
  it("sends its version (EQUAL), refuses an incompatible master with a clear error, and warns once about an older one", async () => {
    const client = (version: string, warnings: string[] = []) =>
      new HeliosClient({ endpoints: [m.url], user: "compat", version, warn: (w) => warnings.push(w) })
    const equal = await client(HELIOS_VERSION).fetch("GET", "/version")
    expect(equal.headers.get("Helios-Version-Status")).toBe("EQUAL")

    const refused = await client(clientVersions.INCOMPATIBLE)
      .get("/jobs")
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(refused).toBeInstanceOf(ApiError)
    const error = refused as ApiError
    expect([error.code, error.status]).toEqual([426, "INCOMPATIBLE"])
    expect(error.message).toContain(`version ${clientVersions.INCOMPATIBLE}`)
    expect(error.message).toContain(`version ${HELIOS_VERSION}`)
    expect(error.message).toMatch(/incompatible/)

    const warnings: string[] = []
    const newer = client(clientVersions.MAYBE, warnings)
    await newer.get("/jobs")
    await newer.get("/hosts")
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/newer than the master/)
  })
})
