import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { decodeContainerFlags } from "./container-flags.ts"

const repo = fileURLToPath(new URL("..", import.meta.url))

describe("the agent's --dns, --add-host and --bind", () => {
  it("accepts IPs, HOST:IP (IPv6 too) and absolute bind mounts with an optional mode", () => {
    const r = decodeContainerFlags({
      dns: ["10.0.0.2", "fd00::53"],
      addHost: ["db.internal:10.0.0.5", "v6-host:fd00::1", "host.docker.internal:host-gateway"],
      bind: ["/etc/ssl/certs:/etc/ssl/certs:ro", "/var/log/app:/logs", "/a:/b:rw"],
    })
    expect(r).toEqual(
      Result.succeed({
        dns: ["10.0.0.2", "fd00::53"],
        extraHosts: ["db.internal:10.0.0.5", "v6-host:fd00::1", "host.docker.internal:host-gateway"],
        extraBinds: ["/etc/ssl/certs:/etc/ssl/certs:ro", "/var/log/app:/logs", "/a:/b:rw"],
      }),
    )
    expect(decodeContainerFlags({})).toEqual(Result.succeed({ dns: [], extraHosts: [], extraBinds: [] }))
  })

  it("names every bad flag and value", () => {
    const r = decodeContainerFlags({ dns: ["10.0.0.2", "dns.example"], addHost: ["db=10.0.0.5", ":10.0.0.1", "db:notip"], bind: ["rel:/x", "/a:/b:rx", "/only"] })
    expect(Result.isFailure(r)).toBe(true)
    const text = Result.isFailure(r) ? r.failure : ""
    for (const bad of ["--dns: \"dns.example\"", "--add-host: \"db=10.0.0.5\"", "--add-host: \":10.0.0.1\"", "--add-host: \"db:notip\"", "--bind: \"rel:/x\"", "--bind: \"/a:/b:rx\"", "--bind: \"/only\""])
      expect(text).toContain(bad)
    expect(text).not.toContain("10.0.0.2")
  })

  it("agent/main.ts exits 2 naming the flag, before connecting anywhere", () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", "agent/main.ts", "--zk", "127.0.0.1:1", ...args], { cwd: repo, encoding: "utf8", timeout: 30_000 })
    const dns = run("--dns", "10.0.0.2", "--dns", "not-an-ip")
    expect(dns.status).toBe(2)
    expect(dns.stderr).toContain('bad --dns: "not-an-ip" is not an IP address')
    // Helios's --bind is a mount; an address there (this agent's old meaning) is pointed to --bind-address.
    const bind = run("--bind", "127.0.0.1")
    expect(bind.status).toBe(2)
    expect(bind.stderr).toContain("--bind-address")
  })
})
