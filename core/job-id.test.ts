import { createHash } from "node:crypto"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { canonicalJson, jacksonQuote, javaHashSetOrder, javaStringHashCode, Bean } from "./canonical-json.ts"
import { decodeInput } from "./decode.ts"
import { decodeJob, type Job } from "./job.ts"
import {
  canonicalJobJson,
  computeConfigHash,
  computeJobHash,
  formatJobId,
  JobId,
  JobIdInput,
  parseJobId,
  shortJobId,
  withComputedId,
  type JobDraft,
} from "./job-id.ts"

const sha1 = (s: string) => createHash("sha1").update(s, "utf8").digest("hex")

const decoded = (input: unknown): Job => {
  const r = decodeJob(input)
  if (Result.isFailure(r)) throw new Error(JSON.stringify(r.failure))
  return r.success
}

const hashOf = (input: unknown): string => computeJobHash(decoded(input))

describe("Java Helios's own job hash vectors", () => {
  it("JobIdHashIsStableTest.testMinimalJob: foo:bar with image foo/bar:1", () => {
    expect(hashOf({ id: "foo:bar", image: "foo/bar:1" })).toBe("3f5c6e4aef30e1ab68931dbd66a83226410b87e9")
    expect(canonicalJobJson(decoded({ id: "foo:bar", image: "foo/bar:1" }))).toBe(
      '{"image":"foo/bar:1","name":"foo","version":"bar"}',
    )
  })

  it("JobIdHashIsStableTest.testInitialFullJob: every field of 2017 set", () => {
    // Built in Java with the Job.Builder; expires is new Date(1484270348) (epoch ms).
    const full = {
      id: "a-full-job:1",
      image: "image:1.2.3",
      env: { ENV: "VAR" },
      metadata: { META: "DATA" },
      ports: { port1: { internalPort: 80 } },
      volumes: { "/tmp": "" },
      registration: { "svc/tcp": { ports: { port1: {} } } },
      addCapabilities: ["cap1", "cap2"],
      command: ["echo", "hi"],
      dropCapabilities: ["cap3"],
      expires: 1484270348,
      gracePeriod: 10,
      healthCheck: { type: "http", path: "/hello", port: "port1" },
      hostname: "hostname",
      networkMode: "host",
      registrationDomain: "domain",
      resources: { memory: 1, memorySwap: 2, cpuShares: 3, cpuset: "4" },
      secondsToWaitBeforeKill: 99,
      securityOpt: ["opt"],
      token: "token",
    }
    expect(hashOf(full)).toBe("9693b4579ac48ed41f317ecf5edc5496b005b79d")
    // The date is written as Jackson 2.9 does, and the anonymous volume's "" source is kept.
    const json = canonicalJobJson(decoded(full))
    expect(json).toContain('"expires":"1970-01-18T04:17:50.348+0000"')
    expect(json).toContain('"volumes":{"/tmp":""}')
    expect(json).toContain('"registration":{"svc/tcp":{"ports":{"port1":{}}}}')
  })

  // helios-client/src/test/resources/job-with-*.json: JobValidatorTest expects these full ids to
  // validate, hash included.
  const exampleJob = {
    image: "example.net/foo/bar",
    ports: { http: { internalPort: 8080, protocol: "tcp" } },
    registration: { "my-cool-service/http": { ports: { http: {} } } },
    volumes: { "/some/path:ro": "/another/path" },
  }
  it.each([
    ["job-with-no-ports.json", { id: "foobar:1:253df2150e8993ba14086c106961377ebeae0185", image: "example.net/foo/bar", volumes: { "/some/path:ro": "/another/path" } }],
    ["job-with-no-external-ports.json", { ...exampleJob, id: "foobar:1:65597d013748b8eac1d86ac5088ab6e6bf9546b4" }],
    ["job-with-external-ports.json", { ...exampleJob, id: "foobar:1:104e77cf3aa8d497526e34e8631348069a544e0c", ports: { http: { internalPort: 8080, externalPort: 8080, protocol: "tcp" } } }],
    ["job-with-grace-period.json", { ...exampleJob, id: "foobar:1:854145e9a5e09a8c635c0f584f45d5f26342bef7", gracePeriod: 10 }],
  ])("%s: its id's hash is accepted as is", (_file, input) => {
    const r = decodeJob(input)
    expect(r).toEqual(Result.succeed(expect.objectContaining({ id: input.id })))
  })

  it("job-with-external-ports-and-grace-period.json: hash matches although the job is rejected", () => {
    const input = {
      ...exampleJob,
      id: "foobar:1",
      gracePeriod: 500,
      ports: { http: { internalPort: 8080, externalPort: 8080, protocol: "tcp" } },
    }
    expect(computeJobHash(input as unknown as JobDraft)).toBe("48d9888333089d782fc2bb0e1681c0afe1dc1454")
  })

  it("JobTest.verifySha1ID / WithEnv: configHashHex is the SHA-1 of the sorted parameter map", () => {
    const job = decoded({ id: "foozbarz:17", image: "foobar:4711", command: ["foo", "bar"] })
    const expectedConfig = '{"command":["foo","bar"],"image":"foobar:4711","name":"foozbarz","version":"17"}'
    expect(canonicalJobJson(job)).toBe(expectedConfig)
    expect(computeConfigHash(job)).toBe(sha1(expectedConfig))
    expect(job.id).toBe(`foozbarz:17:${sha1(`foozbarz:17:${sha1(expectedConfig)}`)}`)

    const withEnv = decoded({ id: "foozbarz:17", image: "foobar:4711", command: ["foo", "bar"], env: { FOO: "BAR" } })
    expect(canonicalJobJson(withEnv)).toBe(
      '{"command":["foo","bar"],"env":{"FOO":"BAR"},"image":"foobar:4711","name":"foozbarz","version":"17"}',
    )
  })

  it("JobTest.testChangingPortTagsChangesJobHash", () => {
    const base = {
      id: "foo:1",
      image: "foobar",
      ports: { add_ports1: { internalPort: 1234 }, add_ports2: { internalPort: 2345 } },
    }
    const tagged = (first: string[]) => ({
      ...base,
      registration: {
        "add_service/add_proto": { ports: { add_ports1: { tags: first }, add_ports2: { tags: ["tag3", "tag4"] } } },
      },
    })
    expect(hashOf(tagged(["tag1", "tag2"]))).not.toBe(hashOf(tagged(["tag1", "newtag"])))
  })
})

/*
 * Vectors for fields Java's tests do not cover, computed by a harness running Jackson 2.14 (Debian's
 * libjackson2-databind-java) configured like Helios's Json.sha1digest (NON_EMPTY values, ALWAYS map
 * contents, sorted keys, dates as "+0000") over classes mirroring Helios's descriptors, fed the same
 * JSON. 12,000 random jobs agreed with this implementation; these five pin the interesting cases.
 */
describe("cross-checked against Jackson", () => {
  it.each([
    [
      "udp, bind ip, port 0, tcp health check",
      {
        id: "dns:2",
        image: "registry.example.com:5000/infra/dns:2.0",
        ports: {
          dns: { internalPort: 53, externalPort: 53, protocol: "udp", ip: "127.0.0.1" },
          "dns-tcp": { internalPort: 53, externalPort: 53, protocol: "tcp" },
          admin: { internalPort: 0 },
        },
        healthCheck: { type: "tcp", port: "dns-tcp" },
      },
      "3c3db811b7e3b348cbd27b113e726bd96a1d109f",
      '{"healthCheck":{"port":"dns-tcp","type":"tcp"},"image":"registry.example.com:5000/infra/dns:2.0","name":"dns","ports":{"admin":{"internalPort":0,"protocol":"tcp"},"dns":{"externalPort":53,"internalPort":53,"ip":"127.0.0.1","protocol":"udp"},"dns-tcp":{"externalPort":53,"internalPort":53,"protocol":"tcp"}},"version":"2"}',
    ],
    [
      "exec check, false/0 kept, empty token dropped",
      {
        id: "worker:1.0",
        image: "busybox",
        command: ["sh", "-c", 'echo "hi"\n'],
        healthCheck: { type: "exec", command: ["cat", "/tmp/ok"] },
        rolloutOptions: { migrate: false, overlap: true, token: "", parallelism: 2, timeout: 300, ignoreFailures: false },
        resources: { memory: 0, cpuShares: 512 },
        gracePeriod: 0,
        secondsToWaitBeforeKill: 0,
      },
      "fd767f995d4ef81a207ea3e96c6db197093315fc",
      '{"command":["sh","-c","echo \\"hi\\"\\n"],"gracePeriod":0,"healthCheck":{"command":["cat","/tmp/ok"],"type":"exec"},"image":"busybox","name":"worker","resources":{"cpuShares":512,"memory":0},"rolloutOptions":{"ignoreFailures":false,"migrate":false,"overlap":true,"parallelism":2,"timeout":300},"secondsToWaitBeforeKill":0,"version":"1.0"}',
    ],
    [
      "registration without protocol (http), empty tag list kept, empty rollout options kept",
      {
        id: "web:v1",
        image: "helios-test/web:latest",
        ports: { http: { internalPort: 80 } },
        registration: { web: { ports: { http: { tags: [] } } }, "web/tcp": { ports: { http: { tags: ["a", "b"] } } } },
        rolloutOptions: {},
      },
      "ee904b331343e3ed275e65725a45895cdc7037d5",
      '{"image":"helios-test/web:latest","name":"web","ports":{"http":{"internalPort":80,"protocol":"tcp"}},"registration":{"web/http":{"ports":{"http":{"tags":[]}}},"web/tcp":{"ports":{"http":{"tags":["a","b"]}}}},"rolloutOptions":{},"version":"v1"}',
    ],
    [
      "non-ASCII, emoji, control characters, U+2028",
      {
        id: "uni:1",
        image: "busybox",
        env: { GREETING: "héllo wörld 😀", CTRL: "\u0001\u000b\u001f\u007f", SEP: "a\u2028b/c", Q: '"\\' },
        labels: { "😀": "smile", é: "e" },
        metadata: { GIT_COMMIT: "abcdef1234" },
      },
      "0c3ccc786d5d02e9f973f456cd59f351a92d30fa",
      '{"env":{"CTRL":"\\u0001\\u000B\\u001F\u007f","GREETING":"héllo wörld \\uD83D\\uDE00","Q":"\\"\\\\","SEP":"a\u2028b/c"},"image":"busybox","labels":{"é":"e","\\uD83D\\uDE00":"smile"},"metadata":{"GIT_COMMIT":"abcdef1234"},"name":"uni","version":"1"}',
    ],
    [
      "capabilities in HashSet order, expires with an offset, volumes, ramdisks, the rest",
      {
        id: "caps:1",
        image: "busybox",
        addCapabilities: ["SYS_TIME", "NET_ADMIN", "SYS_ADMIN", "CHOWN", "IPC_LOCK"],
        dropCapabilities: ["MKNOD", "KILL", "NET_RAW", "SETUID"],
        expires: "2100-01-01T02:30:00+02:30",
        volumes: { "/data:ro": "/srv/data", "/cache": "", "/named": "myvolume" },
        ramdisks: { "/run/tmp": "rw,size=64m" },
        networkMode: "container:abc123",
        hostname: "box-1",
        runtime: "nvidia",
        token: "secret",
        registrationDomain: "example.com",
      },
      "846658c899ceda2865fbef7ef5adc18b3e5f2087",
      '{"addCapabilities":["SYS_ADMIN","CHOWN","IPC_LOCK","NET_ADMIN","SYS_TIME"],"dropCapabilities":["MKNOD","NET_RAW","SETUID","KILL"],"expires":"2100-01-01T00:00:00.000+0000","hostname":"box-1","image":"busybox","name":"caps","networkMode":"container:abc123","ramdisks":{"/run/tmp":"rw,size=64m"},"registrationDomain":"example.com","runtime":"nvidia","token":"secret","version":"1","volumes":{"/cache":"","/data:ro":"/srv/data","/named":"myvolume"}}',
    ],
  ])("%s", (_name, input, hash, json) => {
    const job = decoded(input)
    expect(canonicalJobJson(job)).toBe(json)
    expect(job.id).toBe(`${input.id}:${hash}`)
  })
})

describe("what the hash covers", () => {
  const base = { id: "web:v1", image: "helios-test/web:latest" }

  it("ignores empty values, created and creatingUser, as Helios does", () => {
    const plain = hashOf(base)
    expect(
      hashOf({
        ...base,
        command: [],
        env: {},
        ports: {},
        securityOpt: [],
        token: "",
        registrationDomain: "",
        hostname: "",
        created: 1_700_000_000_000,
        creatingUser: "alice",
      }),
    ).toBe(plain)
    // Java nulls mean absent.
    expect(hashOf({ ...base, expires: null, gracePeriod: null, healthCheck: null })).toBe(plain)
  })

  it("counts a map entry with an empty value, and zero and false", () => {
    const plain = hashOf(base)
    expect(hashOf({ ...base, env: { EMPTY: "" } })).not.toBe(plain)
    expect(hashOf({ ...base, gracePeriod: 0 })).not.toBe(plain)
    expect(hashOf({ ...base, rolloutOptions: { migrate: false } })).not.toBe(hashOf({ ...base, rolloutOptions: {} }))
  })

  it("is the same for every spelling of the same expiry instant", () => {
    const at = (expires: string | number) => hashOf({ ...base, expires })
    const utc = at("2100-01-01T00:00:00.000Z")
    expect(at("2100-01-01T00:00:00Z")).toBe(utc)
    expect(at("2100-01-01")).toBe(utc)
    expect(at("2100-01-01T01:00+01:00")).toBe(utc)
    expect(at(Date.UTC(2100, 0, 1))).toBe(utc)
    expect(at("2100-01-01T00:00:00.001Z")).not.toBe(utc)
  })

  it("hashes a registration without protocol as protocol http (Helios's ServiceEndpoint)", () => {
    const job = decoded({ ...base, ports: { http: { internalPort: 80 } } })
    const reg = { ports: { http: {} } }
    expect(computeJobHash({ ...job, registration: { web: reg } })).toBe(
      computeJobHash({ ...job, registration: { "web/http": reg } }),
    )
  })

  it("depends on capability set membership, not on the order given", () => {
    expect(hashOf({ ...base, addCapabilities: ["NET_ADMIN", "SYS_TIME"] })).toBe(
      hashOf({ ...base, addCapabilities: ["SYS_TIME", "NET_ADMIN", "SYS_TIME"] }),
    )
  })

  it("changes with name, version and any configuration", () => {
    const plain = hashOf(base)
    expect(hashOf({ ...base, id: "web:v2" })).not.toBe(plain)
    expect(hashOf({ ...base, id: "api:v1" })).not.toBe(plain)
    expect(hashOf({ ...base, image: "helios-test/web:other" })).not.toBe(plain)
  })

  it("withComputedId replaces a missing or stale hash", () => {
    const job = decoded(base)
    const stale = { ...job, env: { A: "1" } }
    const fresh = withComputedId(stale)
    expect(fresh.id).not.toBe(job.id)
    expect(fresh.id).toBe(decoded({ ...base, env: { A: "1" } }).id)
    expect(withComputedId({ ...job, id: "web:v1" }).id).toBe(job.id)
  })
})

describe("job ids", () => {
  const full = "foo:bar:3f5c6e4aef30e1ab68931dbd66a83226410b87e9"

  it("parses and formats name:version[:hash]", () => {
    expect(parseJobId(full)).toEqual({ name: "foo", version: "bar", hash: "3f5c6e4aef30e1ab68931dbd66a83226410b87e9" })
    expect(parseJobId("foo17.bar-baz_quux:1.0-SNAPSHOT")).toEqual({ name: "foo17.bar-baz_quux", version: "1.0-SNAPSHOT" })
    expect(formatJobId({ name: "foo", version: "bar" })).toBe("foo:bar")
    expect(formatJobId(parseJobId(full)!)).toBe(full)
  })

  it.each(["foo", "foo:bar:baz", "foo:bar:3F5C6E4AEF30E1AB68931DBD66A83226410B87E9", "foo@bar:1", "foo:1:2:3", ":1", "foo:"])(
    "rejects %s",
    (id) => {
      expect(parseJobId(id)).toBeUndefined()
      expect(Result.isFailure(decodeInput(JobIdInput, id))).toBe(true)
    },
  )

  it("JobId requires the hash; JobIdInput does not", () => {
    expect(Result.isSuccess(decodeInput(JobId, full))).toBe(true)
    expect(decodeInput(JobId, "foo:bar")).toEqual(Result.fail([expect.objectContaining({ field: "(root)" })]))
    expect(Result.isSuccess(decodeInput(JobIdInput, "foo:bar"))).toBe(true)
  })

  it("shortJobId keeps 7 hex digits, like JobId.toShortString", () => {
    expect(shortJobId(full)).toBe("foo:bar:3f5c6e4")
    expect(shortJobId("foo:bar")).toBe("foo:bar")
  })
})

describe("Jackson compatibility helpers", () => {
  it("escapes like Jackson's UTF-8 generator, not like JSON.stringify", () => {
    expect(jacksonQuote("\u001f")).toBe('"\\u001F"')
    expect(JSON.stringify("\u001f")).toBe('"\\u001f"')
    expect(jacksonQuote("\b\t\n\f\r\u0000")).toBe('"\\b\\t\\n\\f\\r\\u0000"')
    expect(jacksonQuote("😀")).toBe('"\\uD83D\\uDE00"')
    expect(jacksonQuote("é/\u007f\u2028")).toBe('"é/\u007f\u2028"')
  })

  it("sorts keys by UTF-16 code unit and filters bean properties but not map entries", () => {
    expect(canonicalJson({ b: 1, B: 2, "😀": 3, é: 4 })).toBe('{"B":2,"b":1,"é":4,"\\uD83D\\uDE00":3}')
    expect(canonicalJson(new Bean({ a: "", b: [], c: {}, d: null, e: 0, f: false, g: new Bean({}) }))).toBe(
      '{"e":0,"f":false,"g":{}}',
    )
    expect(canonicalJson({ a: "", b: [], c: {} })).toBe('{"a":"","b":[],"c":{}}')
    expect(canonicalJson(new Bean({ tags: [], x: null }, "NON_NULL"))).toBe('{"tags":[]}')
  })

  it("orders a set as java.util.HashSet does (checked against OpenJDK 17)", () => {
    expect(javaStringHashCode("hello")).toBe(99162322)
    expect(javaStringHashCode("a-much-longer-string-that-overflows")).toBe(
      // ((...)*31 + c) | 0 over UTF-16 units, as Java's int arithmetic
      [..."a-much-longer-string-that-overflows"].reduce((h, c) => (Math.imul(31, h) + c.charCodeAt(0)) | 0, 0),
    )
    // Docker's 14 default capabilities: 14 entries make the table grow from 16 to 32 slots.
    const dockerDefaults = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP"]
    expect(javaHashSetOrder(dockerDefaults)).toEqual(["SYS_CHROOT", "MKNOD", "SETFCAP", "SETPCAP", "FSETID", "CHOWN", "AUDIT_WRITE", "SETGID", "NET_RAW", "FOWNER", "SETUID", "DAC_OVERRIDE", "KILL", "NET_BIND_SERVICE"])
    expect(javaHashSetOrder(["b", "a", "b", "c"])).toEqual(["a", "b", "c"])
  })
})
