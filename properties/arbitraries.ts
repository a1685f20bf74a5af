import fc from "fast-check"
import { Result } from "effect"
import type { Command, CommandContext } from "../core/commands.ts"
import { decide, type Decision } from "../core/decide.ts"
import { envelopeOf } from "../core/envelope.ts"
import type { DomainEvent, EventEnvelope, StoredEvent, StreamId } from "../core/events.ts"
import { Goal, TaskGoal, TaskState, ThrottleState, type Actor, type AgentId, type HostName, type Position } from "../core/ids.ts"
import { formatExpires } from "../core/job-expiry.ts"
import { decodeJob, type Job, type JobId, type JobInput, type PortMapping } from "../core/job.ts"
import { applyEvent, emptyState, type FleetState } from "../core/state.ts"
import { RolloutErrorCode, RolloutOutcome, RolloutReason, RolloutStepKind, type MergedRolloutOptions } from "../core/deployment-group.ts"
import type { HostSelector } from "../core/host-selector.ts"
import type { Rejection } from "../core/commands.ts"

/*
 * Generators shared by the property tests.
 *
 * - A *job pool*: a few valid job definitions (decodeJob accepts them, so their ids carry the
 *   hash Helios computes). Commands name jobs by their index in the pool, so random commands hit
 *   existing jobs often enough to be interesting.
 * - *Steps*: plain-data fleet commands (create, deploy, undeploy, set goal, remove, register /
 *   deregister host, host up/down, task state reports) over the pool and three hosts.
 * - `runSteps`: runs steps through `decide` and appends the accepted ones (positions 1..n, the
 *   decision's expected streams as `bumped` on each batch's last event): a realistic, valid log.
 * - Envelopes for the codec: every event type, awkward map keys and extreme numbers.
 */

// ---------------------------------------------------------------------------------------------
// Constants

export const HOSTS = ["h1", "h2", "h3"] as unknown as ReadonlyArray<HostName>
export const AGENTS = ["agent-a", "agent-b"] as unknown as ReadonlyArray<AgentId>
export const ACTORS: ReadonlyArray<Actor> = [
  { kind: "user", name: "alice" },
  { kind: "user", name: "bob" },
  { kind: "master", name: "master-1" },
  { kind: "agent", name: "h1" },
]
export const TOKEN = "secret"
/** A job id that no pool job has. */
export const UNKNOWN_JOB_ID = `ghost:v0:${"f".repeat(40)}` as JobId
/** The epoch ms of step 0; each step advances the clock by STEP_MS. */
export const T0 = 1_700_000_000_000
export const STEP_MS = 500
/** `expires` values: one long past, one far in the future (relative to T0 + any run). */
export const EXPIRES_PAST = "2001-01-01T00:00:00Z"
export const EXPIRES_FUTURE = "2999-01-01T00:00:00Z"

// Every value the schemas allow, taken from them (a new state is generated without touching this file).
export const TASK_STATES: ReadonlyArray<TaskState> = TaskState.literals
export const THROTTLES: ReadonlyArray<ThrottleState> = ThrottleState.literals
export const GOALS: ReadonlyArray<Goal> = Goal.literals
/** A task report's goal: a deployment's, or UNDEPLOY while the agent ends an undeployed task. */
export const TASK_GOALS: ReadonlyArray<TaskGoal> = TaskGoal.literals

/** Map keys that break naive code: prototype names, numeric-looking, dotted, unicode, empty. */
export const AWKWARD_KEYS = [
  "",
  "constructor",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "prototype",
  "__proto_",
  "__defineGetter__",
  "length",
  "0",
  "1",
  "-1",
  "01",
  "1e3",
  "4294967295",
  "9007199254740993",
  "NaN",
  "a.b",
  "a:b",
  "a.b:c/d",
  "$ref",
  " ",
  "ключ",
  "鍵",
  "🙂",
  "e\u0301",
  "\u0000",
] as const

// ---------------------------------------------------------------------------------------------
// The job pool

/** Static external ports the pool draws from, so port conflicts are frequent. */
export const STATIC_PORTS = [80, 65535] as const

const internalPortArb = fc.oneof(fc.constantFrom(1, 80, 65535), fc.integer({ min: 1, max: 65535 }))
/** A port mapping as submitted: mostly static external ports (conflicts!), sometimes dynamic. */
const portInputArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record(
      {
        internalPort: internalPortArb,
        externalPort: fc.constantFrom(...STATIC_PORTS),
        protocol: fc.constantFrom("tcp" as const, "tcp" as const, "udp" as const),
      },
      { requiredKeys: ["internalPort", "externalPort"], noNullPrototype: true },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      { internalPort: internalPortArb, protocol: fc.constantFrom("tcp" as const, "udp" as const) },
      { requiredKeys: ["internalPort"], noNullPrototype: true },
    ),
  },
)

const safeKeyArb = fc.constantFrom(...AWKWARD_KEYS)

/** The JSON a client would submit for a small, valid job. */
export const jobInputArb: fc.Arbitrary<JobInput> = fc
  .record(
    {
      name: fc.constantFrom("web", "api", "db"),
      version: fc.constantFrom("v1", "v2"),
      image: fc.constantFrom("nginx:1.25", "redis", "registry.example.com:5000/team/app:2", "busybox@sha256:abc"),
      ports: fc.dictionary(fc.constantFrom("http", "admin", "dns"), portInputArb, { minKeys: 1, maxKeys: 2, noNullPrototype: true }),
      env: fc.dictionary(safeKeyArb, fc.string({ maxLength: 4 }), { maxKeys: 2, noNullPrototype: true }),
      token: fc.constant(TOKEN),
      expires: fc.constantFrom(EXPIRES_FUTURE, EXPIRES_FUTURE, EXPIRES_FUTURE, EXPIRES_PAST),
    },
    { requiredKeys: ["name", "version", "image", "ports"], noNullPrototype: true },
  )
  .map(({ name, version, ...rest }) => ({ id: `${name}:${version}`, ...rest }) as JobInput)
  // Two ports with the same external port/protocol are invalid (decodeJob says so): skip those.
  .filter((input) => Result.isSuccess(decodeJob(input)))

const decodeOrThrow = (input: JobInput): Job => {
  const r = decodeJob(input)
  if (Result.isFailure(r)) throw new Error(`generator bug: invalid job ${JSON.stringify(input)}`)
  return r.success
}

export interface PoolJob {
  /** What the client submitted. */
  readonly input: JobInput
  /** decodeJob(input): full id with the hash Helios computes. */
  readonly job: Job
  /** Epoch ms the job expires, if it does. */
  readonly expiresMs?: number
}

export const poolJob = (input: JobInput): PoolJob => {
  const job = decodeOrThrow(input)
  return typeof input.expires === "string" ? { input, job, expiresMs: Date.parse(input.expires) } : { input, job }
}

/** Gives a value a short description for fast-check's counterexample reports. */
export const describedAs = <T extends object>(value: T, show: () => string): T =>
  Object.defineProperty(value, fc.toStringMethod, { value: show, enumerable: false })

const shortId = (id: string) => id.slice(0, id.lastIndexOf(":") + 7)

/** `web:v1:3f2a1b (80/tcp, token, expired)`. */
export const describeJob = (p: PoolJob): string => {
  const ports = Object.values(p.job.ports ?? {}).map((m) => (m.externalPort === undefined ? `dyn/${m.protocol}` : `${m.externalPort}/${m.protocol}`))
  const extra = [...ports, ...(p.job.token ? ["token"] : []), ...(p.expiresMs !== undefined && p.expiresMs < T0 ? ["expired"] : [])]
  return `${shortId(p.job.id)}${extra.length ? ` (${extra.join(", ")})` : ""}`
}

/** 2-4 valid job definitions (possibly twice the same one: creating it again must be refused). */
export const jobPoolArb: fc.Arbitrary<ReadonlyArray<PoolJob>> = fc
  .array(jobInputArb, { minLength: 2, maxLength: 4 })
  .map((inputs) => {
    const pool = inputs.map(poolJob)
    return describedAs(pool, () => `pool[${pool.map((p, i) => `${i}: ${describeJob(p)}`).join("; ")}]`)
  })

// ---------------------------------------------------------------------------------------------
// Steps: plain-data commands

export type TokenChoice = "none" | "right" | "wrong"

/** A job reference: an index into the pool (taken modulo its size), or -1 for an unknown job. */
type JobRef = number

export type Step =
  | { readonly t: "create"; readonly job: JobRef; readonly tamper: boolean; readonly actor: number }
  | { readonly t: "remove"; readonly job: JobRef; readonly token: TokenChoice; readonly actor: number }
  | { readonly t: "deploy"; readonly job: JobRef; readonly host: number; readonly goal: Goal; readonly token: TokenChoice; readonly actor: number; readonly master: boolean }
  | { readonly t: "undeploy"; readonly job: JobRef; readonly host: number; readonly token: TokenChoice; readonly actor: number }
  | { readonly t: "goal"; readonly job: JobRef; readonly host: number; readonly goal: Goal; readonly token: TokenChoice; readonly actor: number }
  | { readonly t: "register"; readonly host: number; readonly agent: number }
  | { readonly t: "deregister"; readonly host: number; readonly actor: number }
  | { readonly t: "up"; readonly host: number; readonly agent: number }
  | { readonly t: "down"; readonly host: number }
  | { readonly t: "report"; readonly job: JobRef; readonly host: number; readonly state: TaskState; readonly goal: TaskGoal; readonly throttled: ThrottleState; readonly container: boolean }

const jobRefArb = fc.oneof({ weight: 15, arbitrary: fc.nat({ max: 3 }) }, { weight: 1, arbitrary: fc.constant(-1) })
const hostArb = fc.nat({ max: HOSTS.length - 1 })
const actorArb = fc.nat({ max: ACTORS.length - 1 })
const tokenArb = fc.constantFrom<TokenChoice>("right", "right", "none", "wrong")
const goalArb = fc.constantFrom(...GOALS)
const taskGoalArb = fc.constantFrom(...TASK_GOALS)

export const stepArbs: Record<Step["t"], fc.Arbitrary<Step>> = {
  // A tampered id (hash not the one Helios computes) must be refused: about one create in eight.
  create: fc.record({
    t: fc.constant("create" as const),
    job: fc.nat({ max: 3 }),
    tamper: fc.nat({ max: 7 }).map((n) => n === 0),
    actor: actorArb,
  }),
  remove: fc.record({ t: fc.constant("remove" as const), job: jobRefArb, token: tokenArb, actor: actorArb }),
  deploy: fc.record({ t: fc.constant("deploy" as const), job: jobRefArb, host: hostArb, goal: goalArb, token: tokenArb, actor: actorArb, master: fc.boolean() }),
  undeploy: fc.record({ t: fc.constant("undeploy" as const), job: jobRefArb, host: hostArb, token: tokenArb, actor: actorArb }),
  goal: fc.record({ t: fc.constant("goal" as const), job: jobRefArb, host: hostArb, goal: goalArb, token: tokenArb, actor: actorArb }),
  register: fc.record({ t: fc.constant("register" as const), host: hostArb, agent: fc.nat({ max: AGENTS.length - 1 }) }),
  deregister: fc.record({ t: fc.constant("deregister" as const), host: hostArb, actor: actorArb }),
  up: fc.record({ t: fc.constant("up" as const), host: hostArb, agent: fc.nat({ max: AGENTS.length - 1 }) }),
  down: fc.record({ t: fc.constant("down" as const), host: hostArb }),
  report: fc.record({
    t: fc.constant("report" as const),
    job: jobRefArb,
    host: hostArb,
    state: fc.constantFrom(...TASK_STATES),
    goal: taskGoalArb,
    throttled: fc.constantFrom(...THROTTLES),
    container: fc.boolean(),
  }),
}
/** Weights: enough creates, registrations and deploys to build up state worth undeploying. */
export const weightedStepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: stepArbs.create },
  { weight: 4, arbitrary: stepArbs.register },
  { weight: 8, arbitrary: stepArbs.deploy },
  { weight: 3, arbitrary: stepArbs.undeploy },
  { weight: 3, arbitrary: stepArbs.goal },
  { weight: 2, arbitrary: stepArbs.remove },
  { weight: 1, arbitrary: stepArbs.deregister },
  { weight: 2, arbitrary: stepArbs.up },
  { weight: 1, arbitrary: stepArbs.down },
  { weight: 3, arbitrary: stepArbs.report },
)

export const jobOfRef = (pool: ReadonlyArray<PoolJob>, ref: JobRef): PoolJob | undefined =>
  ref < 0 ? undefined : pool[ref % pool.length]

export const jobIdOfRef = (pool: ReadonlyArray<PoolJob>, ref: JobRef): JobId => jobOfRef(pool, ref)?.job.id ?? UNKNOWN_JOB_ID

/** The id with its hash changed: a definition whose id Helios would not have computed. */
export const tamperedId = (id: JobId): JobId => {
  const last = id.at(-1)
  return `${id.slice(0, -1)}${last === "0" ? "1" : "0"}` as JobId
}

const tokenFor = (choice: TokenChoice): { token?: string } =>
  choice === "right" ? { token: TOKEN } : choice === "wrong" ? { token: "wrong-token" } : {}

/** The command a step stands for. */
export const toCommand = (pool: ReadonlyArray<PoolJob>, step: Step): Command => {
  switch (step.t) {
    case "create": {
      const job = jobOfRef(pool, step.job)!.job
      return { _tag: "CreateJob", job: step.tamper ? { ...job, id: tamperedId(job.id) } : job }
    }
    case "remove":
      return { _tag: "RemoveJob", jobId: jobIdOfRef(pool, step.job), ...tokenFor(step.token) }
    case "deploy":
      return { _tag: "DeployJob", jobId: jobIdOfRef(pool, step.job), host: HOSTS[step.host]!, goal: step.goal, ...tokenFor(step.token) }
    case "undeploy":
      return { _tag: "UndeployJob", jobId: jobIdOfRef(pool, step.job), host: HOSTS[step.host]!, ...tokenFor(step.token) }
    case "goal":
      return { _tag: "SetGoal", jobId: jobIdOfRef(pool, step.job), host: HOSTS[step.host]!, goal: step.goal, ...tokenFor(step.token) }
    case "register":
      return { _tag: "RegisterHost", host: HOSTS[step.host]!, agentId: AGENTS[step.agent]! }
    case "deregister":
      return { _tag: "DeregisterHost", host: HOSTS[step.host]! }
    case "up":
      return { _tag: "MarkHostUp", host: HOSTS[step.host]!, agentId: AGENTS[step.agent]! }
    case "down":
      return { _tag: "MarkHostDown", host: HOSTS[step.host]! }
    case "report":
      return {
        _tag: "ReportTaskState",
        jobId: jobIdOfRef(pool, step.job),
        host: HOSTS[step.host]!,
        state: step.state,
        goal: step.goal,
        throttled: step.throttled,
        ...(step.container ? { containerId: `c-${step.host}-${step.job}` } : {}),
      }
  }
}

/** Who runs a step: users for user commands, the agent of the host for agent facts. */
export const contextFor = (step: Step, now: number): CommandContext => {
  switch (step.t) {
    case "register":
    case "up":
    case "down":
    case "report":
      return { now, actor: { kind: "agent", name: HOSTS[step.host]! } }
    case "deploy":
      return { now, actor: ACTORS[step.actor]!, ...(step.master ? { master: "master-1" } : {}) }
    default:
      return { now, actor: ACTORS[step.actor]! }
  }
}

/** `deploy web:v1:3f2a1b h2 START token=right by user:alice`. */
export const showStep = (pool: ReadonlyArray<PoolJob>, step: Step): string => {
  const parts: string[] = [step.t]
  if ("job" in step) parts.push(step.job < 0 ? "ghost" : pool.length > 0 ? `#${step.job % pool.length}` : `#${step.job}`)
  if ("tamper" in step && step.tamper) parts.push("(tampered id)")
  if ("host" in step) parts.push(HOSTS[step.host]!)
  if ("goal" in step) parts.push(step.goal)
  if ("state" in step) parts.push(step.state, step.throttled)
  if ("agent" in step) parts.push(AGENTS[step.agent]!)
  if ("token" in step) parts.push(`token=${step.token}`)
  if ("actor" in step) parts.push(`by ${ACTORS[step.actor]!.kind}:${ACTORS[step.actor]!.name}`)
  return parts.join(" ")
}

/** `#7 JobDeployed web:v1:3f2a1b@h2 bumped[job,host]`. */
export const showEvent = (e: StoredEvent): string => {
  const ev = e.envelope.event
  const job = "job" in ev ? ev.job.id : "jobId" in ev ? ev.jobId : undefined
  const host = "host" in ev ? ev.host : undefined
  const where = [job && shortId(job), host].filter(Boolean).join("@")
  const extra = "goal" in ev ? ` ${ev.goal}` : ""
  return `#${e.position} ${ev._tag} ${where}${extra}${e.bumped.length ? ` bumped[${e.bumped.map((b) => b.split(":")[0]).join(",")}]` : ""}`
}

// ---------------------------------------------------------------------------------------------
// Running steps: a valid log

/** A master and its log in one: decides each step against the fold so far and appends accepted ones. */
export class FleetWorld {
  readonly state: FleetState = emptyState()
  readonly events: StoredEvent[] = []
  /** One entry per append: the decision's events were stored at positions first..last. */
  readonly batches: Array<{ readonly first: number; readonly last: number; readonly expected: Decision["expected"] }> = []
  private steps = 0

  constructor(readonly pool: ReadonlyArray<PoolJob>) {}

  get now(): number {
    return T0 + this.steps * STEP_MS
  }

  /** The clock of the next step. */
  get nextNow(): number {
    return T0 + (this.steps + 1) * STEP_MS
  }

  /** Decides one step; appends (and folds) its events when accepted and not a no-op. */
  step(step: Step): { command: Command; ctx: CommandContext; result: Result.Result<Decision, Rejection>; stored: StoredEvent[] } {
    this.steps++
    const command = toCommand(this.pool, step)
    const ctx = contextFor(step, this.now)
    const result = decide(command, this.state, ctx)
    const stored: StoredEvent[] = []
    if (Result.isSuccess(result) && result.success.events.length > 0) {
      const { events, expected } = result.success
      const first = this.events.length + 1
      // Users' commands carry a command id (idempotent retries); agents' facts do not.
      const commandId = ctx.actor.kind === "user" ? `cmd-${this.steps}` : undefined
      events.forEach((event, i) => {
        const envelope = envelopeOf(event, { at: ctx.now, actor: ctx.actor, commandId })
        stored.push({
          position: (first + i) as Position,
          envelope,
          bumped: i === events.length - 1 ? (Object.keys(expected) as StreamId[]) : [],
        })
      })
      for (const e of stored) {
        applyEvent(this.state, e)
        this.events.push(e)
      }
      this.batches.push({ first, last: first + events.length - 1, expected })
    }
    return { command, ctx, result, stored }
  }
}

export interface GeneratedLog {
  readonly pool: ReadonlyArray<PoolJob>
  readonly steps: ReadonlyArray<Step>
  readonly events: ReadonlyArray<StoredEvent>
}

export const runSteps = (pool: ReadonlyArray<PoolJob>, steps: ReadonlyArray<Step>): GeneratedLog => {
  const world = new FleetWorld(pool)
  for (const s of steps) world.step(s)
  return describedAs(
    { pool, steps, events: world.events },
    () =>
      `GeneratedLog {\n  ${fc.stringify(pool)}\n  steps: ${steps.map((s) => showStep(pool, s)).join(" | ")}\n  events:\n    ${world.events.map(showEvent).join("\n    ")}\n}`,
  )
}

/**
 * Steps that set the fleet up: create pool jobs (indices 0-3, taken modulo the pool's size),
 * register hosts, in any order. Random commands after them find jobs and hosts to act on much
 * more often. Independent of the pool, so fast-check shrinks pool, setup and steps separately.
 */
export const setupStepsArb: fc.Arbitrary<Step[]> = fc.shuffledSubarray(
  [
    ...[0, 1, 2, 3].map((i): Step => ({ t: "create", job: i, tamper: false, actor: 0 })),
    ...HOSTS.map((_, i): Step => ({ t: "register", host: i, agent: 0 })),
  ],
  { minLength: 3 },
)

/** A valid log: random commands run through decide, accepted ones appended. */
export const generatedLogArb = (maxSteps = 60): fc.Arbitrary<GeneratedLog> =>
  fc
    .tuple(jobPoolArb, setupStepsArb, fc.array(weightedStepArb, { maxLength: maxSteps, size: "max" }))
    .map(([pool, setup, steps]) => runSteps(pool, [...setup, ...steps]))

// ---------------------------------------------------------------------------------------------
// Envelopes for the codec: anything the EventEnvelope schema accepts

/** Strings that are well-formed UTF-16 (what UTF-8 can carry): ASCII, graphemes, any code point. */
export const textArb = (maxLength = 12): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: "grapheme", maxLength }),
    fc.string({ unit: "binary", maxLength }),
    fc.constantFrom(...AWKWARD_KEYS),
  )

/** A map key: awkward ones often, any well-formed string otherwise; never `__proto__`. */
export const mapKeyArb: fc.Arbitrary<string> = fc
  .oneof({ weight: 3, arbitrary: fc.constantFrom(...AWKWARD_KEYS) }, { weight: 1, arbitrary: textArb(8) })
  .filter((k) => k !== "__proto__")

const dictArb = <V>(value: fc.Arbitrary<V>, maxKeys = 4) => fc.dictionary(mapKeyArb, value, { maxKeys, noNullPrototype: true })

const portNumberArb = fc.oneof(fc.constantFrom(0, 1, 65535), fc.integer({ min: 0, max: 65535 }))
const safeIntArb = (min: number) =>
  fc.oneof(fc.constantFrom(min, Math.max(min, 0), Number.MAX_SAFE_INTEGER), fc.integer({ min, max: Number.MAX_SAFE_INTEGER }))
const INT32_MAX = 2 ** 31 - 1

export const portMappingArb: fc.Arbitrary<PortMapping> = fc.record(
  {
    internalPort: portNumberArb,
    externalPort: portNumberArb,
    protocol: fc.constantFrom("tcp" as const, "udp" as const),
    ip: fc.constantFrom("0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1", "255.255.255.255"),
  },
  { requiredKeys: ["internalPort", "protocol"], noNullPrototype: true },
)

const nameArb = fc.stringMatching(/^[0-9a-zA-Z_.-]{1,12}$/)
const hexHashArb = fc.stringMatching(/^[0-9a-f]{40}$/)
export const jobIdArb = fc.tuple(nameArb, nameArb, hexHashArb).map(([n, v, h]) => `${n}:${v}:${h}` as JobId)
export const hostNameArb = fc.oneof(
  fc.constantFrom("h1", "a", "host-1.example.com", "0", "A".repeat(253)),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
) as unknown as fc.Arbitrary<HostName>
export const agentIdArb = fc.oneof(
  fc.constantFrom("a", "0".repeat(40), "x".repeat(128), "..", "-"),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,30}$/),
) as unknown as fc.Arbitrary<AgentId>

const imageArb = fc.oneof(
  fc.constantFrom("nginx", "nginx:1.25", "registry.example.com:5000/team/app:2", "localhost/x", "busybox@sha256:abc", "a/b/c"),
  fc.stringMatching(/^[a-z0-9]{1,10}(:[A-Za-z0-9_]{1,8})?$/),
)

const healthCheckArb = fc.oneof(
  fc.record({ type: fc.constant("http" as const), port: textArb(6).filter((s) => s.length > 0), path: textArb(8).map((s) => `/${s}`) }),
  fc.record({ type: fc.constant("tcp" as const), port: textArb(6).filter((s) => s.length > 0) }),
  fc.record({ type: fc.constant("exec" as const), command: fc.array(textArb(6), { minLength: 1, maxLength: 3 }) }),
)

const capabilitiesArb = fc.array(textArb(8).filter((s) => s.length > 0), { maxLength: 4 })

/** A job the stored-job schema (`Job`) accepts: fields well-typed, cross-field rules not needed. */
export const storedJobArb: fc.Arbitrary<Job> = fc.record(
  {
    id: jobIdArb,
    image: imageArb,
    hostname: fc.constantFrom("", "web", "a-1", "x".repeat(63)),
    command: fc.array(textArb(), { maxLength: 3 }),
    env: dictArb(textArb()),
    resources: fc.record(
      {
        memory: safeIntArb(0),
        memorySwap: safeIntArb(-1),
        cpuShares: safeIntArb(0),
        cpuset: fc.constantFrom("", "0", "0-3,5", "1,2"),
      },
      { requiredKeys: [], noNullPrototype: true },
    ),
    ports: dictArb(portMappingArb),
    registration: dictArb(
      fc.record({ ports: dictArb(fc.record({ tags: fc.array(textArb(6), { maxLength: 2 }) }, { requiredKeys: [], noNullPrototype: true }), 2) }),
      2,
    ),
    registrationDomain: textArb(),
    gracePeriod: fc.oneof(fc.constantFrom(0, INT32_MAX), fc.integer({ min: 0, max: INT32_MAX })),
    secondsToWaitBeforeKill: fc.oneof(fc.constantFrom(0, INT32_MAX), fc.integer({ min: 0, max: INT32_MAX })),
    volumes: dictArb(textArb()),
    ramdisks: dictArb(textArb()),
    expires: fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }).map(formatExpires),
    healthCheck: healthCheckArb,
    securityOpt: fc.array(textArb(), { maxLength: 2 }),
    networkMode: fc.constantFrom("bridge", "host", "container:abc", "container:🙂"),
    addCapabilities: capabilitiesArb,
    dropCapabilities: capabilitiesArb,
    labels: dictArb(textArb()),
    metadata: dictArb(textArb()),
    token: textArb(),
    rolloutOptions: fc.record(
      {
        timeout: safeIntArb(1),
        parallelism: fc.oneof(fc.constantFrom(1, INT32_MAX), fc.integer({ min: 1, max: INT32_MAX })),
        migrate: fc.boolean(),
        overlap: fc.boolean(),
        token: textArb(),
        ignoreFailures: fc.boolean(),
      },
      { requiredKeys: [], noNullPrototype: true },
    ),
    runtime: textArb(),
    created: safeIntArb(0),
    creatingUser: textArb(),
  },
  { requiredKeys: ["id", "image"], noNullPrototype: true },
) as fc.Arbitrary<Job>

const taskStateChangedArb = fc.record(
  {
    _tag: fc.constant("TaskStateChanged" as const),
    jobId: jobIdArb,
    host: hostNameArb,
    state: fc.constantFrom(...TASK_STATES),
    goal: taskGoalArb,
    throttled: fc.constantFrom(...THROTTLES),
    containerId: textArb(64),
    ports: dictArb(portMappingArb),
    env: dictArb(textArb()),
    error: textArb(40),
  },
  { requiredKeys: ["_tag", "jobId", "host", "state", "goal", "throttled"], noNullPrototype: true },
)

// Deployment groups and rollouts: any value the schemas take.
export const groupNameArb = fc.oneof(fc.constantFrom("g", "web-eu", "a".repeat(253), "..."), fc.stringMatching(/^[0-9A-Za-z_.-]{3,12}$/))
const tokenArb_ = fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/)
export const hostSelectorArb: fc.Arbitrary<HostSelector> = fc.oneof(
  fc.record({ label: tokenArb_, operator: fc.constantFrom("EQUALS" as const, "NOT_EQUALS" as const), operand: tokenArb_ }),
  fc.record({ label: tokenArb_, operator: fc.constantFrom("IN" as const, "NOT_IN" as const), operand: fc.array(tokenArb_, { maxLength: 3 }) }),
)
export const mergedOptionsArb: fc.Arbitrary<MergedRolloutOptions> = fc.record(
  {
    timeout: safeIntArb(1),
    parallelism: fc.oneof(fc.constantFrom(1, INT32_MAX), fc.integer({ min: 1, max: INT32_MAX })),
    migrate: fc.boolean(),
    overlap: fc.boolean(),
    token: textArb(),
    ignoreFailures: fc.boolean(),
    autoRevert: fc.boolean(),
    maxFailures: fc.integer({ min: 0, max: INT32_MAX }),
    failureRatio: fc.double({ min: 0, max: 1, noNaN: true }),
    canary: fc.integer({ min: 1, max: INT32_MAX }),
  },
  { requiredKeys: ["timeout", "parallelism", "migrate", "overlap", "token", "ignoreFailures"], noNullPrototype: true },
)
const stepKindArb = fc.constantFrom(...RolloutStepKind.literals)
const stepRefArb = {
  group: groupNameArb,
  jobId: jobIdArb,
  step: fc.oneof(fc.constantFrom(0, Number.MAX_SAFE_INTEGER), fc.nat()),
  host: hostNameArb,
  kind: stepKindArb,
}
const positionArb = fc.maxSafeNat() as unknown as fc.Arbitrary<Position>
const groupEventArbs: ReadonlyArray<fc.Arbitrary<DomainEvent>> = [
  fc.record({ _tag: fc.constant("DeploymentGroupCreated" as const), group: fc.record({ name: groupNameArb, hostSelectors: fc.array(hostSelectorArb, { maxLength: 3 }) }) }),
  fc.record({ _tag: fc.constant("DeploymentGroupRemoved" as const), group: groupNameArb }),
  fc.record(
    {
      _tag: fc.constant("RolloutStarted" as const),
      group: groupNameArb,
      jobId: jobIdArb,
      reason: fc.constantFrom(...RolloutReason.literals),
      options: mergedOptionsArb,
      hosts: fc.array(hostNameArb, { maxLength: 4 }),
      steps: fc.array(fc.record({ host: hostNameArb, kind: stepKindArb }), { maxLength: 6 }),
      canaryUntilStep: fc.integer({ min: 1, max: 1000 }),
      rollbackTo: fc.integer({ min: 1, max: 1000 }),
    },
    { requiredKeys: ["_tag", "group", "jobId", "reason", "options", "hosts", "steps"], noNullPrototype: true },
  ),
  fc.record({ _tag: fc.constant("RolloutStepStarted" as const), ...stepRefArb }),
  fc.record({ _tag: fc.constant("RolloutStepSucceeded" as const), ...stepRefArb }),
  fc.record({ _tag: fc.constant("RolloutStepSkipped" as const), ...stepRefArb, reason: textArb(30) }),
  fc.record({ _tag: fc.constant("RolloutAwaitingPromotion" as const), group: groupNameArb, jobId: jobIdArb, step: fc.nat() }),
  fc.record({ _tag: fc.constant("RolloutPromoted" as const), group: groupNameArb, jobId: jobIdArb }),
  fc.record(
    {
      _tag: fc.constant("RolloutStepFailed" as const),
      ...stepRefArb,
      error: fc.constantFrom(...RolloutErrorCode.literals),
      message: textArb(40),
      evidence: fc.record(
        {
          state: fc.constantFrom(...TASK_STATES),
          throttled: fc.constantFrom(...THROTTLES),
          containerError: textArb(20),
          position: positionArb,
          previousStates: fc.array(fc.record({ state: fc.constantFrom(...TASK_STATES), position: positionArb }), { maxLength: 10 }),
        },
        { requiredKeys: [], noNullPrototype: true },
      ),
    },
    { requiredKeys: ["_tag", "group", "jobId", "step", "host", "kind", "error", "message"], noNullPrototype: true },
  ),
  fc.record(
    { _tag: fc.constant("RolloutFinished" as const), group: groupNameArb, jobId: jobIdArb, status: fc.constantFrom(...RolloutOutcome.literals), error: textArb(20) },
    { requiredKeys: ["_tag", "group", "jobId", "status"], noNullPrototype: true },
  ),
  fc.record({ _tag: fc.constant("RolloutStopped" as const), group: groupNameArb, jobId: jobIdArb }),
] as ReadonlyArray<fc.Arbitrary<DomainEvent>>

export const domainEventArb: fc.Arbitrary<DomainEvent> = fc.oneof(
  fc.record({ _tag: fc.constant("JobCreated" as const), job: storedJobArb }),
  fc.record({ _tag: fc.constant("JobRemoved" as const), jobId: jobIdArb }),
  fc.record(
    {
      _tag: fc.constant("JobDeployed" as const),
      job: storedJobArb,
      host: hostNameArb,
      goal: goalArb,
      deployerUser: textArb(),
      deployerMaster: textArb(),
      deploymentGroup: groupNameArb,
    },
    { requiredKeys: ["_tag", "job", "host", "goal"], noNullPrototype: true },
  ),
  fc.record({ _tag: fc.constant("DeploymentGoalChanged" as const), jobId: jobIdArb, host: hostNameArb, goal: goalArb }),
  fc.record({ _tag: fc.constant("JobUndeployed" as const), jobId: jobIdArb, host: hostNameArb }),
  fc.record({ _tag: fc.constant("HostRegistered" as const), host: hostNameArb, agentId: agentIdArb }),
  fc.record({ _tag: fc.constant("HostDeregistered" as const), host: hostNameArb }),
  fc.record({ _tag: fc.constant("HostWentUp" as const), host: hostNameArb, agentId: agentIdArb }),
  fc.record({ _tag: fc.constant("HostWentDown" as const), host: hostNameArb }),
  taskStateChangedArb,
  ...groupEventArbs,
) as fc.Arbitrary<DomainEvent>

/** Epoch ms: 0, -0 (the schema takes it: an integer >= 0), the largest safe integer, anything between. */
export const atArb = fc.oneof(fc.constantFrom(0, -0, Number.MAX_SAFE_INTEGER, T0), fc.maxSafeNat())

export const envelopeArb: fc.Arbitrary<EventEnvelope> = fc.record(
  {
    event: domainEventArb,
    schemaVersion: fc.constantFrom(1, 0, -0, -7),
    at: atArb,
    actor: fc.record({ kind: fc.constantFrom("user" as const, "master" as const, "agent" as const), name: textArb(20) }),
    commandId: textArb(20),
  },
  { requiredKeys: ["event", "schemaVersion", "at", "actor"], noNullPrototype: true },
)

export const streamIdArb: fc.Arbitrary<StreamId> = fc.oneof(
  jobIdArb.map((id) => `job:${id}` as StreamId),
  hostNameArb.map((h) => `host:${h}` as StreamId),
  groupNameArb.map((g) => `group:${g}` as StreamId),
)

/** A lone UTF-16 surrogate somewhere in a string (not encodable as UTF-8). */
export const loneSurrogateStringArb = fc
  .tuple(fc.string({ maxLength: 80 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 4 }))
  .map(([a, s, b]) => `${a}${String.fromCharCode(s)}${b}`)
