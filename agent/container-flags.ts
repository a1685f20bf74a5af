import { isIP } from "node:net"
import { Result, Schema } from "effect"
import { decodeInput, formatFieldErrors } from "../core/decode.ts"

/*
 * Helios's agent-wide container decorations (`--dns`, `--add-host`, `--bind`), each repeatable and
 * applied to every container the agent creates. Decoded here so a bad value stops the agent at
 * start with the flag named, instead of every container failing to create later.
 */

const stringWhere = (test: (s: string) => boolean, message: (s: string) => string) =>
  Schema.String.check(Schema.makeFilter((s: string) => test(s) || message(s)))

/** A DNS server address for every container's /etc/resolv.conf (Docker's `--dns`). */
const DnsServer = stringWhere((s) => isIP(s) !== 0, (s) => `"${s}" is not an IP address`)

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/**
 * `name:ip`, a line in every container's /etc/hosts (Docker's `--add-host`); the ip may be IPv6,
 * or Docker's `host-gateway` (the engine's bridge gateway, i.e. this host).
 */
const ExtraHost = stringWhere((s) => {
  const i = s.indexOf(":")
  const ip = s.slice(i + 1)
  return i > 0 && HOST_NAME.test(s.slice(0, i)) && (isIP(ip) !== 0 || ip === "host-gateway")
}, (s) => `"${s}" is not HOST:IP (e.g. db.internal:10.0.0.5, or NAME:host-gateway)`)

/** `/host/path:/container/path[:ro|rw]`, mounted into every container (Helios's `--bind`). */
const ExtraBind = stringWhere(
  (s) => /^\/[^:]*:\/[^:]*(?::(?:ro|rw))?$/.test(s),
  (s) => `"${s}" is not /HOST/PATH:/CONTAINER/PATH[:ro|rw] (both paths absolute)`,
)

const ContainerFlags = Schema.Struct({
  "--dns": Schema.Array(DnsServer),
  "--add-host": Schema.Array(ExtraHost),
  "--bind": Schema.Array(ExtraBind),
})

export interface ContainerDecorations {
  readonly dns: ReadonlyArray<string>
  readonly extraHosts: ReadonlyArray<string>
  readonly extraBinds: ReadonlyArray<string>
}

/** Decodes the three flags' values; the error names each bad flag and value. */
export const decodeContainerFlags = (flags: {
  readonly dns?: ReadonlyArray<string> | undefined
  readonly addHost?: ReadonlyArray<string> | undefined
  readonly bind?: ReadonlyArray<string> | undefined
}): Result.Result<ContainerDecorations, string> => {
  const r = decodeInput(ContainerFlags, { "--dns": flags.dns ?? [], "--add-host": flags.addHost ?? [], "--bind": flags.bind ?? [] })
  // "--dns.1" → "--dns": the message quotes the bad value.
  if (Result.isFailure(r)) return Result.fail(formatFieldErrors(r.failure.map((e) => ({ ...e, field: e.field.replace(/\.\d+$/, "") }))))
  return Result.succeed({ dns: r.success["--dns"], extraHosts: r.success["--add-host"], extraBinds: r.success["--bind"] })
}
