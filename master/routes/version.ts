import { Hono } from "hono"
import type { VersionCheckJson } from "../api-schemas.ts"
import { compareVersions, formatPomVersion, parsePomVersion, type PomVersion } from "../version-compat.ts"

/** Helios writes the server version of a version check as an object. */
const pomJson = (v: PomVersion) => ({ snapshot: v.snapshot, major: v.major, minor: v.minor, patch: v.patch })

/** GET /version (a JSON string sent as text, as Helios does) and GET /version/check?client=x.y.z. */
export const versionRoutes = (server: PomVersion) => {
  const app = new Hono()
  const serverText = formatPomVersion(server)

  app.get("/version", (c) => c.text(JSON.stringify(serverText)))

  // Helios's VersionCheckResponse; this build recommends its own version, as Helios did.
  app.get("/version/check", (c) => {
    const answer = (status: (typeof VersionCheckJson.Encoded)["status"]): typeof VersionCheckJson.Encoded => ({ status, serverVersion: pomJson(server), recommendedVersion: serverText })
    const client = c.req.query("client")
    if (client === undefined || client === "") return c.json(answer("MISSING"))
    const parsed = parsePomVersion(client)
    // Helios answered a malformed version with a 500; here it is the client's mistake, named.
    if (parsed === undefined)
      return c.json(
        { ...answer("INVALID"), errors: [`client: expected MAJOR.MINOR.PATCH[-SNAPSHOT], got ${JSON.stringify(client)}`], fieldErrors: [{ field: "client", message: "expected MAJOR.MINOR.PATCH[-SNAPSHOT]" }] },
        400,
      )
    return c.json(answer(compareVersions(server, parsed)))
  })

  return app
}
