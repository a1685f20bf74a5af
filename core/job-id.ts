import { createHash } from "node:crypto"
import { Schema } from "effect"
import { Bean, canonicalJson, javaHashSetOrder, type CanonicalValue } from "./canonical-json.ts"
import type { HealthCheck, Job, LivenessCheck, PortMapping, RolloutOptions, ServicePorts } from "./job.ts"
import { FULL_ID, ID_INPUT, formatJobId, parseJobId, type ParsedJobId } from "./job-id-text.ts"

/*
 * Job ids are `name:version:hash`. The hash is Helios's: SHA-1 hex of `name:version:configHashHex`,
 * where configHashHex is the SHA-1 hex of the job's canonical JSON (canonical-json.ts) without the
 * meta parameters `created` and `creatingUser`, with `name` and `version` in place of `id`.
 */

export { formatJobId, isJobId, parseJobId, shortJobId, type ParsedJobId } from "./job-id-text.ts"

const stringMatching = (re: RegExp, message: string) =>
  // toJsonSchema: what the OpenAPI document (master/openapi.ts) says of it.
  Schema.String.check(Schema.makeFilter((s: string) => re.test(s) || message, { toJsonSchema: () => ({ pattern: re.source }) }))

/** A fully qualified job id, `name:version:hash`. */
export const JobId = stringMatching(
  FULL_ID,
  "Expected a job id name:version:hash (name and version [0-9a-zA-Z-_.]+, hash 40 lower-case hex digits)",
).pipe(Schema.brand("JobId"))
export type JobId = typeof JobId.Type

/** A job id as a client may submit it: `name:version`, or with its full hash. */
export const JobIdInput = stringMatching(
  ID_INPUT,
  "Expected a job id name:version or name:version:hash (name and version [0-9a-zA-Z-_.]+, hash 40 lower-case hex digits)",
)
export type JobIdInput = typeof JobIdInput.Type

/** A job whose id may still lack its hash (`name:version`), e.g. one a client is about to submit. */
export type JobDraft = Omit<Job, "id"> & { readonly id: string }

const sha1Hex = (text: string): string => createHash("sha1").update(text, "utf8").digest("hex")

// ServiceEndpoint("svc") means protocol http in Helios; the key is written back as name/protocol.
const endpointKey = (key: string): string => (key.includes("/") ? key : `${key}/http`)

const mapOf = <V>(m: { readonly [k: string]: V } | undefined, f: (v: V) => CanonicalValue) =>
  m === undefined ? undefined : Object.fromEntries(Object.entries(m).map(([k, v]) => [k, f(v)]))

const portBean = (p: PortMapping) =>
  new Bean({ ip: p.ip, internalPort: p.internalPort, externalPort: p.externalPort, protocol: p.protocol ?? "tcp" })

// ServicePortParameters is @JsonInclude(NON_NULL): an empty tag list is still written.
const servicePortsBean = (sp: ServicePorts) =>
  new Bean({ ports: mapOf(sp.ports, (p) => new Bean({ tags: p.tags }, "NON_NULL")) })

const healthCheckBean = (hc: HealthCheck) => {
  switch (hc.type) {
    case "http":
      return new Bean({ type: "http", path: hc.path, port: hc.port })
    case "tcp":
      return new Bean({ type: "tcp", port: hc.port })
    case "exec":
      return new Bean({ type: "exec", command: hc.command })
  }
}

// Not Helios's: hashed only when set (NON_EMPTY leaves it out otherwise), so existing ids stay.
const livenessCheckBean = (lc: LivenessCheck) =>
  new Bean({
    ...healthCheckBean(lc).properties,
    intervalSeconds: lc.intervalSeconds,
    failureThreshold: lc.failureThreshold,
  })

const rolloutBean = (r: RolloutOptions) =>
  new Bean({
    timeout: r.timeout,
    parallelism: r.parallelism,
    migrate: r.migrate,
    overlap: r.overlap,
    token: r.token,
    ignoreFailures: r.ignoreFailures,
  })

/**
 * The bean Java Helios hashes: Job.Builder.Parameters without created/creatingUser. Capability sets
 * are written in the iteration order of the HashSet Jackson reads them into on the master.
 */
const hashedParameters = (job: JobDraft, name: string, version: string): Bean =>
  new Bean({
    registrationDomain: job.registrationDomain,
    name,
    version,
    image: job.image,
    hostname: job.hostname,
    command: job.command,
    env: job.env,
    resources:
      job.resources === undefined
        ? undefined
        : new Bean({
            memory: job.resources.memory,
            memorySwap: job.resources.memorySwap,
            cpuShares: job.resources.cpuShares,
            cpuset: job.resources.cpuset,
          }),
    ports: mapOf(job.ports, portBean),
    registration:
      job.registration === undefined
        ? undefined
        : Object.fromEntries(Object.entries(job.registration).map(([k, v]) => [endpointKey(k), servicePortsBean(v)])),
    gracePeriod: job.gracePeriod,
    volumes: job.volumes,
    expires: job.expires,
    token: job.token,
    healthCheck: job.healthCheck === undefined ? undefined : healthCheckBean(job.healthCheck),
    livenessCheck: job.livenessCheck === undefined ? undefined : livenessCheckBean(job.livenessCheck),
    securityOpt: job.securityOpt,
    networkMode: job.networkMode,
    metadata: job.metadata,
    addCapabilities: job.addCapabilities === undefined ? undefined : javaHashSetOrder(job.addCapabilities),
    dropCapabilities: job.dropCapabilities === undefined ? undefined : javaHashSetOrder(job.dropCapabilities),
    labels: job.labels,
    secondsToWaitBeforeKill: job.secondsToWaitBeforeKill,
    ramdisks: job.ramdisks,
    rolloutOptions: job.rolloutOptions === undefined ? undefined : rolloutBean(job.rolloutOptions),
    runtime: job.runtime,
  })

const nameAndVersion = (job: JobDraft): ParsedJobId => {
  const p = parseJobId(job.id)
  if (p === undefined) throw new TypeError(`not a job id: ${JSON.stringify(job.id)}`)
  return p
}

/** The exact text Helios hashes into configHashHex (useful to diff against Java's). */
export const canonicalJobJson = (job: JobDraft): string => {
  const { name, version } = nameAndVersion(job)
  return canonicalJson(hashedParameters(job, name, version))
}

/** configHashHex: SHA-1 hex of the canonical JSON of the job's parameters. */
export const computeConfigHash = (job: JobDraft): string => sha1Hex(canonicalJobJson(job))

/**
 * The 40-hex hash Helios gives this job: SHA-1 hex of `name:version:configHashHex`. Any hash already
 * in the job's id is ignored. Throws a TypeError for an id that is not `name:version[:hash]` and a
 * CanonicalJsonError for a number that is not a safe integer; decodeJob rejects both.
 */
export const computeJobHash = (job: JobDraft): string => {
  const { name, version } = nameAndVersion(job)
  return sha1Hex(`${name}:${version}:${sha1Hex(canonicalJson(hashedParameters(job, name, version)))}`)
}

/** The job with its id set to `name:version:<computed hash>`. */
export const withComputedId = (job: JobDraft): Job => {
  const { name, version } = nameAndVersion(job)
  return { ...job, id: formatJobId({ name, version, hash: computeJobHash(job) }) }
}
