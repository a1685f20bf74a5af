import { describe, expect, it } from "vitest"
import { aJob } from "../test/fixtures.ts"
import { buildContainerSpec, containerName, volumesOf, type ContainerSettings } from "./container-spec.ts"

const settings: ContainerSettings = {
  agentId: "0123456789abcdef0123456789abcdef01234567",
  host: "h1",
  advertisedHost: "h1.example",
  bindAddress: "127.0.0.1",
  agentEnv: { FROM_AGENT: "a", SHARED: "agent" },
  extraLabels: { "helios-test-run": "x", "helios.job": "spoofed" },
}

describe("container spec from a job", () => {
  it("names containers like Helios: helios-<agent>-<short job id sanitized>_<hex>", () => {
    const job = aJob({ id: "my.app:1.0" })
    const name = containerName(settings.agentId, job.id, "abcd")
    expect(name).toBe(`helios-0123456789ab-my_app_1_0_${job.id.split(":")[2]!.slice(0, 7)}_abcd`)
    expect(name).toMatch(/^[A-Za-z0-9_-]+$/)
  })

  it("maps every job field", () => {
    const job = aJob({
      id: "full:v1",
      command: ["sh", "-c", "echo hi"],
      env: { SHARED: "job", ONLY_JOB: "j" },
      ports: {
        http: { internalPort: 80 },
        dns: { internalPort: 53, externalPort: 5353, protocol: "udp" },
        admin: { internalPort: 81, ip: "0.0.0.0" },
      },
      volumes: { "/data": "/srv/data", "/cache:ro": "cachevol", "/scratch": "" },
      ramdisks: { "/tmp/ram": "rw,size=1m" },
      hostname: "box",
      labels: { team: "a", "helios.host": "spoofed" },
      networkMode: "bridge",
      addCapabilities: ["NET_ADMIN"],
      dropCapabilities: ["MKNOD"],
      securityOpt: ["no-new-privileges"],
      resources: { memory: 64 * 1024 * 1024, memorySwap: -1, cpuShares: 512, cpuset: "0" },
      runtime: "runc",
    })
    const spec = buildContainerSpec(job, { http: 20001, admin: 20002 }, settings, "ff")
    expect(spec.image).toBe("helios-test/web:latest")
    expect(spec.command).toEqual(["sh", "-c", "echo hi"])
    expect(spec.env).toEqual({
      FROM_AGENT: "a",
      SHARED: "job",
      ONLY_JOB: "j",
      HELIOS_PORT_http: "h1.example:20001",
      HELIOS_PORT_dns: "h1.example:5353",
      HELIOS_PORT_admin: "h1.example:20002",
    })
    expect(spec.ports).toEqual([
      { containerPort: 81, protocol: "tcp", hostIp: "0.0.0.0", hostPort: 20002 },
      { containerPort: 53, protocol: "udp", hostIp: "127.0.0.1", hostPort: 5353 },
      { containerPort: 80, protocol: "tcp", hostIp: "127.0.0.1", hostPort: 20001 },
    ])
    expect(spec.binds).toEqual(["cachevol:/cache:ro", "/srv/data:/data"])
    expect(spec.anonymousVolumes).toEqual(["/scratch"])
    expect(spec.tmpfs).toEqual({ "/tmp/ram": "rw,size=1m" })
    expect(spec.hostname).toBe("box")
    expect(spec.labels).toEqual({
      "helios-test-run": "x",
      team: "a",
      "helios.agent": settings.agentId,
      "helios.host": "h1",
      "helios.job": job.id,
    })
    expect(spec.networkMode).toBe("bridge")
    expect(spec.capAdd).toEqual(["NET_ADMIN"])
    expect(spec.capDrop).toEqual(["MKNOD"])
    expect(spec.securityOpt).toEqual(["no-new-privileges"])
    expect([spec.memory, spec.memorySwap, spec.cpuShares, spec.cpuset]).toEqual([64 * 1024 * 1024, -1, 512, "0"])
    expect(spec.runtime).toBe("runc")
    expect(spec.init).toBe(true)
  })

  it("publishes nothing in host network mode but still advertises the ports", () => {
    const job = aJob({ id: "hostnet:v1", networkMode: "host" })
    const spec = buildContainerSpec(job, { http: 20001 }, settings)
    expect(spec.ports).toEqual([])
    expect(spec.env["HELIOS_PORT_http"]).toBe("h1.example:20001")
  })

  it("leaves out what the job does not set", () => {
    const spec = buildContainerSpec(aJob({ id: "min:v1", ports: null }), {}, settings)
    expect(spec.command).toEqual([])
    expect(spec.ports).toEqual([])
    expect(spec.hostname).toBeUndefined()
    expect(spec.networkMode).toBeUndefined()
    expect(spec.memory).toBeUndefined()
    expect(spec.runtime).toBeUndefined()
    expect(spec.dns).toBeUndefined()
    expect(spec.extraHosts).toBeUndefined()
  })

  it("adds the agent's --dns, --add-host and --bind to every container, after the job's own binds", () => {
    const decorated = { ...settings, dns: ["10.0.0.2"], extraHosts: ["db:10.0.0.3"], extraBinds: ["/etc/ssl/certs:/etc/ssl/certs:ro"] }
    const spec = buildContainerSpec(aJob({ id: "dec:v1", volumes: { "/a": "/host/a" } }), {}, decorated)
    expect(spec.dns).toEqual(["10.0.0.2"])
    expect(spec.extraHosts).toEqual(["db:10.0.0.3"])
    expect(spec.binds).toEqual(["/host/a:/a", "/etc/ssl/certs:/etc/ssl/certs:ro"])
  })

  it("splits volumes into binds and anonymous volumes", () => {
    expect(volumesOf(aJob({ id: "v:v1", volumes: { "/a:rw": "/host/a", "/b": "" } }))).toEqual({
      binds: ["/host/a:/a:rw"],
      anonymous: ["/b"],
    })
  })
})
