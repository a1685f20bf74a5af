import type { MiddlewareHandler } from "hono"
import {
  formatPomVersion,
  HELIOS_SERVER_VERSION_HEADER,
  HELIOS_VERSION_HEADER,
  HELIOS_VERSION_STATUS_HEADER,
  refusalCodeOf,
  versionStatusOf,
  type PomVersion,
} from "./version-compat.ts"

/**
 * Every answer names this master's version and how the client's `Helios-Version` compares to it,
 * as Helios's version filter does; an INCOMPATIBLE client (another major) is refused with 426 and
 * an INVALID version with 400, before anything is read or written.
 */
export const versionHeaders =
  (server: PomVersion): MiddlewareHandler =>
  async (c, next) => {
    const serverVersion = formatPomVersion(server)
    c.header(HELIOS_SERVER_VERSION_HEADER, serverVersion)
    const clientHeader = c.req.header(HELIOS_VERSION_HEADER)
    const status = versionStatusOf(server, clientHeader)
    c.header(HELIOS_VERSION_STATUS_HEADER, status)
    const refusal = refusalCodeOf(status)
    if (refusal === 400) {
      const message = `expected MAJOR.MINOR.PATCH[-SNAPSHOT], got ${JSON.stringify(clientHeader)}`
      return c.json({ status, errors: [`${HELIOS_VERSION_HEADER}: ${message}`], fieldErrors: [{ field: HELIOS_VERSION_HEADER, message }], serverVersion }, 400)
    }
    if (refusal === 426) {
      const message = `client version ${clientHeader} is incompatible with this master's version ${serverVersion} (another major version): use a ${server.major}.x client`
      return c.json({ status, message, clientVersion: clientHeader, serverVersion }, 426)
    }
    await next()
  }
