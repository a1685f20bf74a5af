import { describe, expect, it } from "vitest"
import { aJob } from "../test/fixtures.ts"
import { containerPolicyFromFlags, containerPolicyViolations, DEFAULT_CONTAINER_POLICY, normalizeHostPath, type ContainerPolicy } from "./container-policy.ts"

const fields = (job: Parameters<typeof containerPolicyViolations>[0], policy: ContainerPolicy = DEFAULT_CONTAINER_POLICY) =>
  containerPolicyViolations(job, policy).map((e) => e.field)

describe("container policy", () => {
  it("allows what Docker does by default: anonymous and named volumes, bridge, runc, no added capabilities", () => {
    expect(fields(aJob({ id: "a:v1", volumes: { "/data": "", "/cache:ro": "cache-volume" }, networkMode: "bridge", runtime: "runc", securityOpt: ["no-new-privileges"] }))).toEqual([])
  })

  it("refuses host bind mounts outside the allow-list, the Docker socket, unconfined options, host network, other runtimes and capabilities", () => {
    const job = aJob({
      id: "a:v1",
      volumes: { "/host": "/", "/sock": "/var/run/docker.sock", "/etc-copy:ro": "/etc", "/data": "/srv/data/../data/x" },
      securityOpt: ["seccomp=unconfined", "apparmor:unconfined", "systempaths=unconfined", "label=disable", "no-new-privileges"],
      networkMode: "container:abc",
      runtime: "nvidia",
      addCapabilities: ["SYS_ADMIN"],
    })
    const errors = containerPolicyViolations(job, DEFAULT_CONTAINER_POLICY)
    expect(errors.map((e) => e.field)).toEqual([
      "volumes./data", "volumes./etc-copy:ro", "volumes./host", "volumes./sock",
      "securityOpt.0", "securityOpt.1", "securityOpt.2", "securityOpt.3", "networkMode", "runtime", "addCapabilities",
    ])
    const text = errors.map((e) => e.message).join("\n")
    for (const flag of ["--allow-bind-mount /srv/data/x", "--allow-docker-socket", "--allow-unconfined", "--allow-host-network", "--allow-runtime nvidia", "--whitelisted-capability SYS_ADMIN"])
      expect(text).toContain(flag)
    // `/` holds the socket: it needs --allow-docker-socket even when `/` is an allowed prefix.
    const allowed = containerPolicyFromFlags({
      "allow-bind-mount": ["/srv", "/etc"],
      "allow-unconfined": true,
      "allow-host-network": true,
      "allow-runtime": ["nvidia"],
      "whitelisted-capability": ["CAP_SYS_ADMIN"],
    }) as ContainerPolicy
    expect(fields(job, allowed)).toEqual(["volumes./host", "volumes./sock"])
    expect(fields(job, { ...allowed, allowDockerSocket: true })).toEqual(["volumes./host"])
    expect(fields(job, { ...allowed, allowDockerSocket: true, allowedBindMounts: ["/"] })).toEqual([])
  })

  it("takes only security options known to keep the default confinement: a custom seccomp or AppArmor profile, or an SELinux type, needs --allow-unconfined", () => {
    const safe = ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=true", "seccomp=builtin", "apparmor=docker-default", "label=level:s0:c100,c200", "label=user:system_u", "label=role:system_r"]
    expect(fields(aJob({ id: "a:v1", securityOpt: safe }))).toEqual([])
    const loosening = [
      'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',
      "seccomp=/etc/profiles/allow-all.json",
      "apparmor=my-permissive-profile",
      "label=type:spc_t",
      "label:disable",
      "systempaths=unconfined",
      "something-new=1",
    ]
    const job = aJob({ id: "a:v1", securityOpt: loosening })
    expect(fields(job)).toEqual(loosening.map((_, i) => `securityOpt.${i}`))
    expect(fields(job, { ...DEFAULT_CONTAINER_POLICY, allowUnconfined: true })).toEqual([])
  })

  it("compares paths lexically normalized, by whole components", () => {
    expect(normalizeHostPath("/srv//a/./b/../c/")).toBe("/srv/a/c")
    expect(normalizeHostPath("/../..")).toBe("/")
    const policy = { ...DEFAULT_CONTAINER_POLICY, allowedBindMounts: ["/srv/data"] }
    expect(fields(aJob({ id: "a:v1", volumes: { "/x": "/srv/data-other" } }), policy)).toEqual(["volumes./x"])
    expect(fields(aJob({ id: "a:v1", volumes: { "/x": "/srv/data/../../etc" } }), policy)).toEqual(["volumes./x"])
    expect(fields(aJob({ id: "a:v1", volumes: { "/x": "/srv/data/sub" } }), policy)).toEqual([])
    expect(containerPolicyFromFlags({ "allow-bind-mount": ["relative"] })).toBeInstanceOf(Error)
  })
})
