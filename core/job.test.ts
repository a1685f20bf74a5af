import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { aJob } from "../test/fixtures.ts"
import { decodeInput, type FieldError } from "./decode.ts"
import { computeJobHash, parseJobId } from "./job-id.ts"
import { imageReferenceProblems } from "./image-reference.ts"
import { isExpired } from "./job-expiry.ts"
import { validateJob } from "./job-rules.ts"
import { decodeJob, Job } from "./job.ts"

const base = { id: "web:v1", image: "helios-test/web:latest", ports: { http: { internalPort: 80 } } }

const errorsOf = (input: unknown): ReadonlyArray<FieldError> => {
  const r = decodeJob(input)
  return Result.isFailure(r) ? r.failure : []
}
const fieldsOf = (input: unknown) => errorsOf(input).map((e) => e.field)
const ok = (input: unknown): Job => {
  const r = decodeJob(input)
  if (Result.isFailure(r)) throw new Error(`expected a valid job, got ${JSON.stringify(r.failure)}`)
  return r.success
}

describe("decodeJob accepts", () => {
  it.each<[string, Record<string, unknown>]>([
    ["a minimal job", { id: "foo:bar", image: "foo/bar:1" }],
    ["a job with its correct hash", { id: "foo:bar:3f5c6e4aef30e1ab68931dbd66a83226410b87e9", image: "foo/bar:1" }],
    ["tcp and udp on the same external port", { ...base, ports: { a: { internalPort: 53, externalPort: 53, protocol: "tcp" }, b: { internalPort: 53, externalPort: 53, protocol: "udp" } } }],
    ["an http health check on a known port", { ...base, healthCheck: { type: "http", port: "http", path: "/healthz" } }],
    ["an exec health check", { ...base, healthCheck: { type: "exec", command: ["true"] } }],
    ["volumes: anonymous, host path, named, read-only", { ...base, volumes: { "/a": "", "/b:ro": "/srv/b", "/c:rw": "cache", "/d:ro,Z": "/" } }],
    ["a ramdisk beside volumes", { ...base, volumes: { "/data:ro": "/srv" }, ramdisks: { "/run/tmp": "rw,size=1m" } }],
    ["a grace period with dynamic ports only", { ...base, gracePeriod: 60 }],
    ["a zero grace period with static ports", { ...base, gracePeriod: 0, ports: { http: { internalPort: 80, externalPort: 8080 } } }],
    ["network modes", { ...base, networkMode: "container:db-1" }],
    ["a 63-character hostname", { ...base, hostname: `${"hostname".repeat(7)}hostnam` }],
    ["expires as epoch milliseconds", { ...base, expires: 4_102_444_800_000 }],
    ["digests and registry ports", { ...base, image: "baz.io:4711/foo/foo-bar:1.2.3-SNAPSHOT@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" }],
    ["resources with unlimited swap", { ...base, resources: { memory: 268435456, memorySwap: -1, cpuShares: 512, cpuset: "0-1,3" } }],
    ["rollout options", { ...base, rolloutOptions: { timeout: 300, parallelism: 2, migrate: false, overlap: true, token: "t", ignoreFailures: false } }],
  ])("%s", (_name, input) => {
    const job = ok(input)
    expect(job.id).toMatch(/^[^:]+:[^:]+:[0-9a-f]{40}$/)
    // What decodeJob returns is a valid stored job, and decoding it again changes nothing.
    expect(decodeInput(Job, job)).toEqual(Result.succeed(job))
    expect(decodeJob(job)).toEqual(Result.succeed(job))
  })

  it("a job as Java Helios writes it (nulls, duplicate health check type, created)", () => {
    const javaJson =
      '{"id":"foo:123","image":"spotify/busybox:latest","hostname":null,"created":null,"command":[],' +
      '"env":{"JVM_ARGS":"-Xmx1g"},"resources":null,"ports":{"http":{"ip":null,"internalPort":8080,"externalPort":null,"protocol":"tcp"}},' +
      '"registration":{},"gracePeriod":100,"volumes":{},"expires":null,"registrationDomain":"","creatingUser":null,"token":"",' +
      '"healthCheck":{"type":"exec","command":["touch","/this"],"type":"exec"},"securityOpt":["label:user:dxia"],"networkMode":"host",' +
      '"metadata":{"a":"1"},"addCapabilities":["cap1"],"dropCapabilities":[],"labels":{},"secondsToWaitBeforeKill":null,' +
      '"ramdisks":{},"rolloutOptions":null,"runtime":null}'
    const job = ok(JSON.parse(javaJson))
    expect(job.ports).toEqual({ http: { internalPort: 8080, protocol: "tcp" } })
    expect(job).not.toHaveProperty("hostname")
    expect(job).not.toHaveProperty("expires")
    expect(job.healthCheck).toEqual({ type: "exec", command: ["touch", "/this"] })
  })

  it("fills in what Helios defaults: protocol tcp, registration protocol http", () => {
    const job = ok({ ...base, registration: { web: { ports: { http: {} } } } })
    expect(job.ports?.["http"]).toEqual({ internalPort: 80, protocol: "tcp" })
    expect(Object.keys(job.registration ?? {})).toEqual(["web/http"])
  })

  it("normalizes expires to the form Java writes and dedupes capabilities", () => {
    const job = ok({ ...base, expires: "2100-06-15T12:00:00.123456-07:00", addCapabilities: ["NET_ADMIN", "NET_ADMIN", "SYS_TIME"] })
    expect(job.expires).toBe("2100-06-15T19:00:00.123+0000")
    expect(job.addCapabilities).toEqual(["NET_ADMIN", "SYS_TIME"])
  })

  it("computes the hash when the id has none and keeps created/creatingUser out of it", () => {
    const job = ok({ ...base, created: 1_700_000_000_000, creatingUser: "alice" })
    const { hash } = parseJobId(job.id)!
    expect(hash).toBe(computeJobHash(ok(base)))
    expect(job.created).toBe(1_700_000_000_000)
  })

  it("keeps a wrong hash only when asked not to verify", () => {
    const id = `web:v1:${"0".repeat(40)}`
    expect(fieldsOf({ ...base, id })).toEqual(["id"])
    expect(errorsOf({ ...base, id })[0]?.message).toMatch(/^Id hash mismatch: 0{40} != [0-9a-f]{40}$/)
    const r = decodeJob({ ...base, id }, { verifyHash: false })
    expect(Result.isSuccess(r) && r.success.id).toBe(id)
  })
})

describe("decodeJob rejects, naming the field", () => {
  it.each<[string, Record<string, unknown>, string]>([
    ["a typo'd key", { ...base, imgae: "x" }, "imgae"],
    ["a missing image", { id: "web:v1" }, "image"],
    ["a bad job name", { ...base, id: "web@x:v1" }, "id"],
    ["an id with a short hash", { ...base, id: "web:v1:deadbeef" }, "id"],
    ["an internal port above 65535", { ...base, ports: { http: { internalPort: 65536 } } }, "ports.http.internalPort"],
    ["a negative external port", { ...base, ports: { http: { internalPort: 80, externalPort: -1 } } }, "ports.http.externalPort"],
    ["a fractional port", { ...base, ports: { http: { internalPort: 80.5 } } }, "ports.http.internalPort"],
    ["negative zero", { ...base, ports: { http: { internalPort: -0 } } }, "ports.http.internalPort"],
    ["an unknown protocol", { ...base, ports: { http: { internalPort: 80, protocol: "sctp" } } }, "ports.http.protocol"],
    ["a bind address that is not an IP", { ...base, ports: { http: { internalPort: 80, ip: "localhost" } } }, "ports.http.ip"],
    ["a blank port name", { ...base, ports: { "my port": { internalPort: 80 } } }, "ports.my port"],
    ["an empty port name", { ...base, ports: { "": { internalPort: 80 } } }, "ports."],
    ["a duplicate external port", { ...base, ports: { a: { internalPort: 80, externalPort: 8080 }, b: { internalPort: 81, externalPort: 8080 } } }, "ports.b.externalPort"],
    ["a grace period with a static external port", { ...base, gracePeriod: 10, ports: { http: { internalPort: 80, externalPort: 8080 } } }, "gracePeriod"],
    ["a negative grace period", { ...base, gracePeriod: -1 }, "gracePeriod"],
    ["an uppercase hostname", { ...base, hostname: "D34DB33F" }, "hostname"],
    ["a 64-character hostname", { ...base, hostname: "hostname".repeat(8) }, "hostname"],
    ["a hostname with a dot", { ...base, hostname: "foo17.bar" }, "hostname"],
    ["volume /", { ...base, volumes: { "/": "" } }, "volumes./"],
    ["volume / read-only", { ...base, volumes: { "/:ro": "/srv" } }, "volumes./:ro"],
    ["a relative volume path", { ...base, volumes: { foo: "/bar" } }, "volumes.foo"],
    ["an empty volume mode", { ...base, volumes: { "/foo:": "/bar" } }, "volumes./foo:"],
    ["an unknown volume mode", { ...base, volumes: { "/foo:r0": "/bar" } }, "volumes./foo:r0"],
    ["a relative host path", { ...base, volumes: { "/foo": "bar/baz" } }, "volumes./foo"],
    ["a relative ramdisk", { ...base, ramdisks: { "relative-path": "derp" } }, "ramdisks.relative-path"],
    ["a ramdisk on a volume's mount point", { ...base, volumes: { "/a:ro": "/tmp" }, ramdisks: { "/a": "rw,size=1" } }, "ramdisks./a"],
    ["a health check on a missing port", { ...base, healthCheck: { type: "tcp", port: "admin" } }, "healthCheck.port"],
    ["an http check path without /", { ...base, healthCheck: { type: "http", port: "http", path: "healthz" } }, "healthCheck.path"],
    ["an exec check without a command", { ...base, healthCheck: { type: "exec", command: [] } }, "healthCheck.command"],
    ["an unknown health check type", { ...base, healthCheck: { type: "grpc", port: "http" } }, "healthCheck"],
    ["an unknown network mode", { ...base, networkMode: "chocolate" }, "networkMode"],
    ["container network mode without a container", { ...base, networkMode: "container:" }, "networkMode"],
    ["a registration of a missing port", { ...base, registration: { "svc/http": { ports: { admin: {} } } } }, "registration.svc/http.ports.admin"],
    ["a bad service name", { ...base, registration: { "my svc/http": { ports: { http: {} } } } }, "registration.my svc/http"],
    ["a service given twice", { ...base, registration: { svc: { ports: { http: {} } }, "svc/http": { ports: { http: {} } } } }, "registration.svc/http"],
    ["a registration without ports", { ...base, registration: { svc: {} } }, "registration.svc.ports"],
    ["an env value that is not a string", { ...base, env: { N: 1 } }, "env.N"],
    ["an unparseable expiry", { ...base, expires: "next tuesday" }, "expires"],
    ["February 30", { ...base, expires: "2100-02-30T00:00:00Z" }, "expires"],
    ["a zero parallelism", { ...base, rolloutOptions: { parallelism: 0 } }, "rolloutOptions.parallelism"],
    ["a typo inside rollout options", { ...base, rolloutOptions: { paralelism: 2 } }, "rolloutOptions.paralelism"],
    ["a resource limit beyond 2^53", { ...base, resources: { memory: 2 ** 60 } }, "resources.memory"],
    ["an unpaired surrogate", { ...base, env: { A: "x\ud800" } }, "env.A"],
    ["an infinite number", { ...base, secondsToWaitBeforeKill: Number.POSITIVE_INFINITY }, "secondsToWaitBeforeKill"],
    ["an image with a scheme", { ...base, image: "https://registry.example.com/foo" }, "image"],
  ])("%s", (_name, input, field) => {
    expect(fieldsOf(input)).toEqual([field])
  })

  it.each(["env", "labels", "metadata", "volumes", "ramdisks"])("a __proto__ key in %s", (map) => {
    const input = JSON.parse(`{"id":"web:v1","image":"busybox","${map}":{"__proto__":"/x"}}`)
    expect(errorsOf(input)).toContainEqual({
      field: `${map}.__proto__`,
      message: "the key __proto__ is not allowed (it cannot be stored safely)",
    })
  })

  it("a __proto__ port name or registration port, and reports each once", () => {
    const input = JSON.parse(
      '{"id":"web:v1","image":"busybox","ports":{"__proto__":{"internalPort":80}},"registration":{"svc":{"ports":{"__proto__":{}}}}}',
    )
    const fields = fieldsOf(input)
    expect(fields.filter((f) => f === "ports.__proto__")).toHaveLength(1)
    expect(fields).toContain("registration.svc.ports.__proto__")
  })

  it("reports every problem at once, field errors and cross-field errors together", () => {
    const errors = errorsOf({
      id: "web:v1",
      imgae: "typo",
      hostname: "Bad_Host",
      ports: { a: { internalPort: 70000, externalPort: 8080 }, b: { internalPort: 81, externalPort: 8080 } },
      healthCheck: { type: "tcp", port: "missing" },
      volumes: { "/": "" },
    })
    expect(errors.map((e) => e.field).sort()).toEqual(
      ["healthCheck.port", "hostname", "image", "imgae", "ports.a.internalPort", "ports.b.externalPort", "volumes./"].sort(),
    )
  })

  it("says what is wrong in Helios's words", () => {
    expect(errorsOf({ ...base, ports: { a: { internalPort: 80, externalPort: 8080 }, b: { internalPort: 81, externalPort: 8080 } } })).toContainEqual({
      field: "ports.b.externalPort",
      message: "Duplicate external port mapping: 8080/tcp (also used by port 'a')",
    })
    expect(errorsOf({ ...base, healthCheck: { type: "http", port: "admin", path: "/" } })).toContainEqual({
      field: "healthCheck.port",
      message: "Health check port 'admin' not defined in the job. Known ports are 'http'",
    })
    expect(errorsOf({ ...base, volumes: { "/foo": "bar/baz" } })).toContainEqual({
      field: "volumes./foo",
      message: "Volume source is not absolute: bar/baz",
    })
  })
})

describe("image references (JobValidatorTest)", () => {
  it.each([
    "repo", "namespace/repo", "namespace/repo:tag", "namespace/repo:1.2", "reg.istry:4711/repo", "reg.istry.:4711/repo",
    "reg.istry:4711/namespace/repo", "1.2.3.4:4711/namespace/repo", "registry.test.net.:80/fooo/bar",
    "namespace/foo@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "foo@tarsum.v1+sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
    "b.gcr.io/cloudsql-docker/and/more/components/gce-proxy:1.05", "localhost/foo", "bar",
  ])("accepts %s", (image) => {
    expect(imageReferenceProblems(image)).toEqual([])
  })

  it.each([
    ["repo:", ["Tag cannot be empty"]],
    ["repo:@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", ["Tag cannot be empty"]],
    ["foo@", ["Digest cannot be empty"]],
    ["foo:bar@:123", ['Illegal digest: ":123"']],
    ["foo:4711/baz:bar@sha256:", ['Illegal digest: "sha256:"']],
    ["1.2.3.4.:4711/namespace/repo", ['Invalid domain name: "1.2.3.4."']],
    [" reg.istry:4711/repo", ['Invalid domain name: " reg.istry"']],
    ["reg..istry/namespace/baz:foo", ['Invalid domain name: "reg..istry"']],
    ["reg.istry: 4711/repo", ['Invalid port in endpoint: "reg.istry: 4711"']],
    ["foo:345345345/namespace/baz", ['Invalid port in endpoint: "foo:345345345"']],
    ["foo:-17/namespace/baz", ['Invalid port in endpoint: "foo:-17"']],
    ["reg.istry:4711/namespace/ repo", ['Invalid image name (reg.istry:4711/namespace/ repo), only ^([a-z0-9._-]+)$ is allowed for each slash-separated name component (failed on " repo")']],
    ["foo/bar:a b c", ['Illegal tag: "a b c", must match [\\w][\\w.-]{0,127}']],
    ["Foo/bar", ['Invalid image name (Foo/bar), only ^([a-z0-9._-]+)$ is allowed for each slash-separated name component (failed on "Foo")']],
    [`${"foo".repeat(100)}/bar`, [`Invalid image name (${"foo".repeat(100)}/bar), repository name cannot be larger than 255 characters`]],
    ["example.com", ['Invalid repository name (ex: "registry.domain.tld/myrepos")']],
  ])("rejects %s", (image, problems) => {
    expect(imageReferenceProblems(image)).toEqual(problems)
    expect(errorsOf({ ...base, image }).map((e) => e.field)).toEqual(problems.map(() => "image"))
  })
})

describe("validateJob", () => {
  it("finds cross-field problems in a job built in code", () => {
    const job = aJob()
    expect(validateJob(job)).toEqual([])
    const broken: Job = { ...job, healthCheck: { type: "tcp", port: "admin" } }
    expect(validateJob(broken).map((e) => e.field)).toEqual(["healthCheck.port"])
  })
})

describe("isExpired", () => {
  const job = aJob({ expires: "2030-01-01T00:00:00Z" })
  const at = Date.UTC(2030, 0, 1)

  it("is true only once the expiry lies in the past", () => {
    expect(isExpired(job, at - 1)).toBe(false)
    expect(isExpired(job, at)).toBe(false)
    expect(isExpired(job, at + 1)).toBe(true)
  })

  it("is never true without an expiry", () => {
    expect(isExpired(aJob(), Number.MAX_SAFE_INTEGER)).toBe(false)
  })
})

describe("aJob fixture", () => {
  it("is web:v1 on helios-test/web:latest with port http 80 and its real hash", () => {
    const job = aJob()
    expect(job).toEqual({
      id: `web:v1:${computeJobHash({ ...job, id: "web:v1" })}`,
      image: "helios-test/web:latest",
      ports: { http: { internalPort: 80, protocol: "tcp" } },
    })
  })

  it("rehashes overrides and can drop defaults", () => {
    expect(aJob({ env: { A: "1" } }).id).not.toBe(aJob().id)
    expect(aJob({ id: "api:v2" }).id).toMatch(/^api:v2:[0-9a-f]{40}$/)
    expect(aJob({ ports: null })).not.toHaveProperty("ports")
    expect(() => aJob({ hostname: "Nope" })).toThrow(/hostname/)
  })
})
