import { Result, Schema, SchemaTransformation } from "effect"
import { decodeInput } from "../core/decode.ts"
import {
  AppendConflict,
  BatchTooLarge,
  LogBusy,
  LogUnavailable,
  type AppendOptions,
  type AppendResult,
  type EventLog,
} from "../core/event-log.ts"
import type { EventEnvelope, StreamId } from "../core/events.ts"
import type { HostStreamBase } from "../core/desired-state.ts"
import { Position, type HostName } from "../core/ids.ts"
import type { ZkClient } from "../log/zk-client.ts"
import { zkPaths } from "../log/zk-paths.ts"
import { errorText, silentLogger, type Logger } from "./logger.ts"

/*
 * The agent's log with appends relayed through a master (POST /hosts/{host}/events, see
 * master/routes/agent-facts.ts): one writer for the whole fleet's facts instead of every agent
 * racing for the log's next position. Reads and follows go to the log directly, as before.
 *
 * When no master can take the append (none announced, connection refused, an old master without the
 * endpoint) the agent appends itself: the relay is an optimisation, never a dependency. When the
 * outcome is unknown (timeout, reset, 5xx) the append fails with LogUnavailable and nothing is
 * retried here: the outbox then checks the host stream for its command ids before sending again,
 * exactly as after a lost ZooKeeper reply.
 *
 * A master that is busy is not a gone one. When it sheds load (503 OVERLOADED with Retry-After:
 * nothing was written) the append fails with LogBusy and the outbox sends it again after
 * Retry-After plus jitter, through the same master. A 5xx answer is a master that is up but whose
 * log is slow or away, and a time-out or reset from a master that answered within `avoidMs` is
 * one too busy (or an agent too busy) to answer in time: the outbox backs off and retries through
 * it, and the master appends each fact once however often it comes (master/relayed-facts.ts).
 * Only a master that refuses connections, or fails twice in a row after not answering for
 * `avoidMs`, is passed over for `avoidMs`, and only with none left does the agent append itself. Falling back on every slow answer is what turned a slow ZooKeeper into
 * a collapse: each agent that appends itself races the master for the log's next position, the
 * master's multis are refused, its answers get slower still, and more agents fall back.
 */

export interface MasterRelayOptions {
  /** Reads, follows, and appends when no master answers. */
  readonly direct: EventLog
  readonly host: HostName
  /**
   * Whether the agent appends its facts itself when no master takes them (default true). False with
   * ZooKeeper ACLs, where agents may not write the log: the facts wait in the outbox for a master.
   */
  readonly appendDirectly?: boolean
  /** The agent's bearer token (a principal with `agent:<host>`), for masters with authentication on. */
  readonly token?: string
  /** Base URLs of the masters that are up (e.g. zkMasterUrls). */
  readonly masters: () => Promise<ReadonlyArray<string>>
  /** How long one relayed append may take before its outcome counts as unknown. Default 30 s. */
  readonly timeoutMs?: number
  /** How long a master that failed is passed over. Default 30 s. */
  readonly avoidMs?: number
  /** How long the list of masters is reused. Default 30 s. */
  readonly refreshMs?: number
  readonly logger?: Logger
  readonly now?: () => number
}

// Only the fields the agent needs are decoded: a newer master may answer with more.
const Appended = Schema.Struct({ firstPosition: Position, lastPosition: Position })
const Conflict = Schema.Struct({ stream: Schema.String })
const Overloaded = Schema.Struct({ status: Schema.Literal("OVERLOADED") })
/** Retry-After in delay-seconds (RFC 9110 §10.2.3), at most an hour; an HTTP-date is not used by masters. */
const RetryAfterSeconds = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^\d{1,7}$/, { message: "expected delay-seconds (a whole number)" })),
  Schema.decodeTo(Schema.Number.pipe(Schema.check(Schema.isLessThanOrEqualTo(3600, { message: "expected at most 3600 seconds" }))), SchemaTransformation.numberFromString),
)
/** When a shedding master names no usable Retry-After. */
const DEFAULT_RETRY_AFTER_MS = 1_000
const field = (body: unknown, key: string): unknown => (typeof body === "object" && body !== null ? (body as Record<string, unknown>)[key] : undefined)

/** Connection errors that prove the request never reached a master. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"])
const neverSent = (error: unknown): boolean => {
  const code = (error as { cause?: { code?: unknown } })?.cause?.code
  return typeof code === "string" && NOT_SENT.has(code)
}

/** Spreads agents over masters, and keeps each agent on the same one while it answers. */
export const stableIndex = (key: string, n: number): number => {
  let h = 2166136261
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619)
  return (h >>> 0) % n
}

export class MasterRelayLog implements EventLog {
  private urls: ReadonlyArray<string> = []
  private urlsAt = Number.NEGATIVE_INFINITY
  private readonly avoidUntil = new Map<string, number>()
  /** When each master last answered (any HTTP status): it is up, however slow. */
  private readonly answeredAt = new Map<string, number>()
  /** Masters passed over for a while because they answered 5xx: up, so the agent does not append itself meanwhile. */
  private readonly busyUntil = new Map<string, number>()
  /** Failures in a row (time-outs, resets) per master since its last answer. */
  private readonly failuresInARow = new Map<string, number>()
  private readonly logger: Logger
  private readonly now: () => number
  /** Appends that went through a master, and that the agent made itself (for tests and benchmarks). */
  readonly counts = { relayed: 0, direct: 0, timeouts: 0, failures: 0, shed: 0 }
  /** Why the last relayed append failed (for benchmarks and logs). */
  lastFailure: string | undefined

  constructor(private readonly o: MasterRelayOptions) {
    this.logger = o.logger ?? silentLogger
    this.now = o.now ?? Date.now
  }

  async append(events: ReadonlyArray<EventEnvelope>, options?: AppendOptions): Promise<AppendResult> {
    const tried = new Set<string>()
    for (let url = await this.pick(tried); url !== undefined; url = await this.pick(tried)) {
      tried.add(url)
      const outcome = await this.relay(url, events, options)
      if (outcome !== "not-sent") {
        this.counts.relayed++
        return outcome
      }
    }
    if (this.o.appendDirectly === false)
      throw new LogUnavailable({ reason: `no master took this host's facts${tried.size > 0 ? ` (tried ${[...tried].join(", ")})` : ""}; they wait for one` })
    // Masters that answered lately are up, just busy or cut off from the log: appending here would
    // race them for the log's positions (the storm this relay avoids). Wait for one instead.
    const busy = this.urls.filter((u) => (this.busyUntil.get(u) ?? 0) > this.now())
    if (busy.length > 0) throw new LogUnavailable({ reason: `the masters that answer (${busy.join(", ")}) cannot take this host's facts now; they wait for one` })
    this.counts.direct++
    return this.o.direct.append(events, options)
  }

  /** Posts the append to one master: its result, a typed append error, or "not-sent". */
  private async relay(url: string, events: ReadonlyArray<EventEnvelope>, options?: AppendOptions): Promise<AppendResult | "not-sent"> {
    // The relay carries an agent's facts, which read no stream they do not bump.
    if (options?.unchanged !== undefined && Object.keys(options.unchanged).length > 0) throw new Error("the master relay does not carry read-only stream guards")
    const expected = options?.expected
    const sentAt = this.now()
    let response: Response
    try {
      response = await fetch(`${url}/hosts/${encodeURIComponent(this.o.host)}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(this.o.token !== undefined ? { authorization: `Bearer ${this.o.token}` } : {}) },
        body: JSON.stringify({ events, ...(expected !== undefined && Object.keys(expected).length > 0 ? { expected } : {}) }),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
      })
    } catch (error) {
      if (neverSent(error)) {
        this.busyUntil.delete(url) // refusing connections: gone, not busy
        this.avoid(url, error)
        return "not-sent"
      }
      if ((error as { name?: unknown })?.name === "TimeoutError") this.counts.timeouts++
      else this.counts.failures++
      const cause = (error as { cause?: { code?: unknown; message?: unknown } })?.cause
      this.lastFailure = `${errorText(error)}${cause?.code !== undefined ? ` (${String(cause.code)})` : cause?.message !== undefined ? ` (${String(cause.message)})` : ""}`
      // Sent, outcome unknown. A master that answered lately is up: retry through it (the outbox
      // backs off; the master appends each fact once, however often it is sent). A master is
      // passed over (and without another the agent appends itself) only after a second time-out
      // or reset in a row, and only if it had not answered for avoidMs when the last was sent. A
      // single time-out is a silence as long as avoidMs (both 30 s by default): passing a master
      // over for it sent every agent whose master was slow once to append by itself, beside the
      // master still appending the same facts (twice in the log, and an older task state after a
      // newer one). A single reset after a quiet spell is most often a kept-alive connection the
      // master had closed meanwhile.
      const inARow = (this.failuresInARow.get(url) ?? 0) + 1
      this.failuresInARow.set(url, inARow)
      const silent = sentAt - (this.answeredAt.get(url) ?? Number.NEGATIVE_INFINITY) > (this.o.avoidMs ?? 30_000)
      if (silent && inARow >= 2) this.avoid(url, error)
      throw new LogUnavailable({ reason: `relay through ${url}: ${this.lastFailure}` })
    }
    this.answeredAt.set(url, this.now())
    this.failuresInARow.delete(url)
    const body: unknown = await response.json().catch(() => undefined)
    if (response.status === 200) {
      const r = decodeInput(Appended, { firstPosition: field(body, "firstPosition"), lastPosition: field(body, "lastPosition") })
      if (Result.isSuccess(r)) return r.success
      // The master appended but answered nonsense: the outcome is as good as unknown.
      throw new LogUnavailable({ reason: `relay through ${url}: unreadable answer` })
    }
    if (response.status === 409) {
      const r = decodeInput(Conflict, { stream: field(body, "stream") })
      const stream = (Result.isSuccess(r) ? r.success.stream : Object.keys(expected ?? {})[0] ?? "") as StreamId
      throw new AppendConflict({ stream, expected: expected?.[stream] ?? "none" })
    }
    if (response.status === 413) {
      // Over the master's HTTP body limit (smaller than ZooKeeper's request limit): nothing was
      // written, and the log itself may still take it. Over the log's limit: a real BatchTooLarge.
      if (field(body, "status") === "BODY_TOO_LARGE") return "not-sent"
      throw new BatchTooLarge({ bytes: Number(field(body, "bytes") ?? Number.NaN), limit: Number(field(body, "limit") ?? Number.NaN) })
    }
    if (response.status >= 400 && response.status < 500) {
      // A master without the endpoint, or one refusing what we sent: it wrote nothing. Do it ourselves.
      this.avoid(url, `HTTP ${response.status} ${JSON.stringify(body)}`, 10 * (this.o.avoidMs ?? 30_000))
      return "not-sent"
    }
    if (response.status === 503 && Result.isSuccess(decodeInput(Overloaded, { status: field(body, "status") }))) {
      // Shed before anything was written: send again later, through this master.
      this.counts.shed++
      const header = response.headers.get("retry-after")
      const seconds = header === null ? undefined : decodeInput(RetryAfterSeconds, header.trim())
      if (seconds !== undefined && Result.isFailure(seconds)) this.logger.log("debug", "unreadable Retry-After", { master: url, value: header })
      const retryAfterMs = seconds !== undefined && Result.isSuccess(seconds) ? seconds.success * 1000 : DEFAULT_RETRY_AFTER_MS
      throw new LogBusy({ reason: `relay through ${url}: master overloaded`, retryAfterMs })
    }
    // The master answered: it is up, its log is slow or away. The outcome is unknown. The next
    // attempt goes through another master if there is one (this one may be cut off from ZooKeeper),
    // but never to the log directly because of it (see append).
    this.counts.failures++
    this.lastFailure = `HTTP ${response.status} ${JSON.stringify(body)}`
    if (this.urls.length > 1) {
      const forMs = Math.min(5_000, this.o.avoidMs ?? 30_000)
      this.avoid(url, this.lastFailure, forMs)
      this.busyUntil.set(url, this.now() + forMs)
    }
    throw new LogUnavailable({ reason: `relay through ${url}: HTTP ${response.status}` })
  }

  private avoid(url: string, why: unknown, forMs = this.o.avoidMs ?? 30_000): void {
    this.avoidUntil.set(url, this.now() + forMs)
    this.logger.log("info", "not relaying through this master for now", { master: url, error: errorText(why), seconds: forMs / 1000 })
  }

  /** The master to try next: this host's usual one if it is healthy and untried, else any other. */
  private async pick(tried: ReadonlySet<string>): Promise<string | undefined> {
    if (this.now() - this.urlsAt > (this.o.refreshMs ?? 30_000)) {
      try {
        this.urls = [...(await this.o.masters())].sort()
      } catch (e) {
        this.logger.log("debug", "masters not listed", { error: errorText(e) })
      }
      this.urlsAt = this.now()
    }
    const usable = this.urls.filter((u) => !tried.has(u) && (this.avoidUntil.get(u) ?? 0) <= this.now())
    return usable.length === 0 ? undefined : usable[stableIndex(this.o.host, usable.length)]
  }

  read: EventLog["read"] = (after, limit) => this.o.direct.read(after, limit)
  head: EventLog["head"] = () => this.o.direct.head()
  readHostStream: EventLog["readHostStream"] = (host, after, limit) => this.o.direct.readHostStream(host, after, limit)
  subscribe: EventLog["subscribe"] = (after, onEvents, onUndecodable) => this.o.direct.subscribe(after, onEvents, onUndecodable)
  hostStreamBase = (host: HostName): Promise<HostStreamBase | undefined> => this.o.direct.hostStreamBase?.(host) ?? Promise.resolve(undefined)
  subscribeHostStream: EventLog["subscribeHostStream"] = (host, after, onEvents, onUndecodable) =>
    this.o.direct.subscribeHostStream(host, after, onEvents, onUndecodable)
  close: EventLog["close"] = () => this.o.direct.close()
}

/** The base URLs the masters announce in ZooKeeper (master/master.ts writes them). */
export const zkMasterUrls = (zk: ZkClient, root: string) => async (): Promise<string[]> => {
  const paths = zkPaths(root)
  const names = await zk.getChildrenIfExists(paths.masters)
  const urls = await Promise.all(names.map((n) => zk.getDataIfExists(paths.master(n))))
  return urls.map((b) => b?.toString("utf8") ?? "").filter((u) => /^https?:\/\/[^\s/]+$/.test(u))
}
