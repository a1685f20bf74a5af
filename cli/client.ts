import { randomUUID } from "node:crypto"
import { Result, Schema, SchemaIssue } from "effect"
import type { Answer } from "./answers.ts"
import { ApiError, CliError, UnreachableError, oneLine } from "./errors.ts"

/** Names per `POST …/statuses` request: 1,000 names of at most 253 characters stay well under the master's 512 KiB body limit. */
export const STATUS_NAMES_PER_REQUEST = 1_000
import { httpRequest, type HttpResponse } from "./http.ts"

/*
 * The HTTP client of the master API. It tries the endpoints in turn when one cannot be reached
 * (and sticks to the first that answers), sends `?user=` and `Helios-Version` on every request,
 * tags every write with a fresh `Helios-Command-Id` (so a write retried on another master is not
 * applied twice), and remembers the position of its last write: later reads carry it as
 * `?after=`, so they see that write even on another master (read-your-writes). A master of another
 * major version refuses every request (426, Helios-Version-Status INCOMPATIBLE): that becomes one
 * clear error naming both versions; a master older than the client (MAYBE) gets one warning.
 */

export type Query = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

export interface ClientOptions {
  readonly endpoints: ReadonlyArray<string>
  readonly user: string
  readonly version: string
  /** Per-request timeout in ms (not applied to streams). */
  readonly timeoutMs?: number
  /** CA certificates that vouch for an https:// master's certificate (`--ca-file`), beside Node's own roots. */
  readonly ca?: string | Buffer
  /** Bearer token sent as `Authorization` (a master with authentication on requires one). */
  readonly token?: string
  /** Where a warning goes (a master older than this client); once per client. Default: none. */
  readonly warn?: (message: string) => void
}

export interface RequestOptions {
  readonly query?: Query
  readonly body?: unknown
  /** Abort (e.g. Ctrl-C); streams stop cleanly. */
  readonly signal?: AbortSignal
  /** Do not add `?after=` (for /events, where `after` means something else). */
  readonly noAfter?: boolean
}

const isWrite = (method: string) => method !== "GET" && method !== "HEAD"

/** Why a request failed to connect, in a few words ("connect ECONNREFUSED 127.0.0.1:5801", "timed out"). */
const connectionProblem = (e: unknown): string => {
  const isTimeout = (x: unknown) => x instanceof DOMException && x.name === "TimeoutError"
  if (isTimeout(e) || isTimeout((e as { cause?: unknown } | undefined)?.cause)) return "timed out"
  return oneLine((e as Error | undefined)?.message ?? String(e))
}

/** `{status, errors|message}` of an error body, as one line. */
const describeApiFailure = (code: number, body: unknown): { status: string; detail: string } => {
  const b = (typeof body === "object" && body !== null ? body : {}) as { status?: unknown; errors?: unknown; message?: unknown }
  const status = typeof b.status === "string" ? b.status : `HTTP_${code}`
  const errors = Array.isArray(b.errors) ? b.errors.filter((x): x is string => typeof x === "string") : []
  const detail = errors.length > 0 ? errors.join("; ") : typeof b.message === "string" ? b.message : typeof body === "string" ? body.slice(0, 200) : ""
  return { status, detail: oneLine(detail) }
}

/**
 * A master of another major version refuses every request with 426 (Helios-Version-Status
 * INCOMPATIBLE): say so plainly, naming both versions, rather than as a failed request.
 */
const incompatibleError = async (response: HttpResponse, base: string, clientVersion: string): Promise<ApiError> => {
  const text = await response.text().catch(() => "")
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: the message below says enough
  }
  const serverVersion = response.headers.get("Helios-Server-Version") ?? "unknown"
  return new ApiError(
    `this helios client (version ${clientVersion}) is incompatible with the master at ${base} (version ${serverVersion}): ` +
      `their major versions differ; use a client of the master's major version`,
    response.status,
    "INCOMPATIBLE",
    typeof body === "object" && body !== null ? body : { status: "INCOMPATIBLE", clientVersion, serverVersion },
  )
}

/** The ApiError for a non-2xx answer: its Helios status name and errors (or message), on one line. */
const apiError = async (response: HttpResponse): Promise<ApiError> => {
  const text = await response.text().catch(() => "")
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON (a proxy's error page...): the text is the detail
  }
  const { status, detail } = describeApiFailure(response.status, body)
  return new ApiError(`${status} (HTTP ${response.status})${detail ? `: ${detail}` : ""}`, response.status, status, body)
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()
const fieldName = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined): string =>
  path === undefined || path.length === 0 ? "(root)" : path.map((p) => String(typeof p === "object" ? p.key : p)).join(".")

/** What is wrong with `body` as `answer`, in a few words (the first problems), or undefined if nothing. */
const mismatch = (answer: Answer<unknown>, body: unknown): string | undefined => {
  // Unknown fields are ignored (not refused): a newer master may add some.
  const result = Schema.decodeUnknownResult(answer.schema)(body, { errors: "all" })
  if (Result.isSuccess(result)) return undefined
  const issues = formatter(result.failure.issue).issues.map((i) => `${fieldName(i.path)}: ${i.message}`)
  return oneLine(issues.slice(0, 3).join("; ") + (issues.length > 3 ? ` (and ${issues.length - 3} more)` : "")).slice(0, 400)
}

export class HeliosClient {
  /** Highest position returned by a write of this client (0: none yet). */
  position = 0
  private current = 0
  private warnedNewer = false

  constructor(readonly options: ClientOptions) {
    if (options.endpoints.length === 0) throw new CliError("no masters specified")
  }

  /** The endpoint that answered last (or the first one). */
  get endpoint(): string {
    return this.options.endpoints[this.current]!
  }

  private url(base: string, path: string, method: string, query: Query, noAfter: boolean): string {
    const url = new URL(path, base.endsWith("/") ? base : base + "/")
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue
      for (const item of typeof v === "string" ? [v] : v) url.searchParams.append(k, item)
    }
    url.searchParams.set("user", this.options.user)
    if (!isWrite(method) && !noAfter && this.position > 0 && !url.searchParams.has("after"))
      url.searchParams.set("after", String(this.position))
    return url.toString()
  }

  /** Sends a request, trying each endpoint in turn on a connection failure. */
  async fetch(method: string, path: string, options: RequestOptions & { readonly stream?: boolean } = {}): Promise<HttpResponse> {
    const { endpoints, timeoutMs = 60_000 } = this.options
    const headers: Record<string, string> = { "Helios-Version": this.options.version, Accept: "application/json" }
    if (options.body !== undefined) headers["Content-Type"] = "application/json"
    if (this.options.token !== undefined) headers["Authorization"] = `Bearer ${this.options.token}`
    if (isWrite(method)) headers["Helios-Command-Id"] = `cli-${randomUUID()}`
    const failures: string[] = []
    for (let n = 0; n < endpoints.length; n++) {
      const i = (this.current + n) % endpoints.length
      const base = endpoints[i]!
      const signals = [options.signal, options.stream ? undefined : AbortSignal.timeout(timeoutMs)].filter((s) => s !== undefined)
      let response: HttpResponse
      try {
        response = await httpRequest(this.url(base, path, method, options.query ?? {}, options.noAfter ?? false), {
          method,
          headers,
          ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
          ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
          ...(signals.length > 0 ? { signal: AbortSignal.any(signals) } : {}),
        })
      } catch (e) {
        if (options.signal?.aborted) throw e
        failures.push(`${base}: ${connectionProblem(e)}`)
        continue
      }
      this.current = i
      return this.checkVersion(response, base)
    }
    throw new UnreachableError(`cannot reach master at ${failures.join("; at ")}`)
  }

  /** Refuses the answer of a master of another major version; warns once about an older one. */
  private async checkVersion(response: HttpResponse, base: string): Promise<HttpResponse> {
    const status = response.headers.get("Helios-Version-Status")
    if (response.status === 426 || status === "INCOMPATIBLE") throw await incompatibleError(response, base, this.options.version)
    if (status === "MAYBE" && !this.warnedNewer) {
      this.warnedNewer = true
      this.options.warn?.(
        `warning: this helios client (version ${this.options.version}) is newer than the master at ${base} ` +
          `(version ${response.headers.get("Helios-Server-Version") ?? "unknown"}); it will probably work, but what the master lacks will fail`,
      )
    }
    return response
  }

  /** The error for an answer this client cannot use: one line naming the endpoint and what was wrong. */
  private badAnswer(method: string, path: string, problem: string): CliError {
    return new CliError(`the master at ${this.endpoint} answered ${method} ${path} with something this helios cannot read: ${problem}`, {
      status: "BAD_ANSWER",
      endpoint: `${method} ${path}`,
    })
  }

  /**
   * A JSON request; a non-2xx answer throws an ApiError naming its status and errors. The body is
   * not checked: commands use `requestDecoded`/`getDecoded`.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<unknown> {
    const response = await this.fetch(method, path, options)
    if (!response.ok) throw await apiError(response)
    const text = await response.text()
    let body: unknown
    try {
      body = text === "" ? undefined : JSON.parse(text)
    } catch {
      throw new CliError(`master at ${this.endpoint} answered ${method} ${path} with non-JSON: ${oneLine(text).slice(0, 120)}`)
    }
    const position = Number(response.headers.get("Helios-Position"))
    if (isWrite(method) && Number.isSafeInteger(position)) this.position = Math.max(this.position, position)
    return body
  }

  get(path: string, query: Query = {}, options: Omit<RequestOptions, "query" | "body"> = {}): Promise<unknown> {
    return this.request("GET", path, { ...options, query })
  }

  /** `request`, and an answer `answer` does not accept throws a CliError naming the endpoint. The answer is returned as sent. */
  /**
   * `POST /hosts/statuses` or `/jobs/statuses` for any number of names: in pieces of
   * STATUS_NAMES_PER_REQUEST (a fleet's names in one body passed the master's 512 KiB limit at
   * ~11,000 hosts), the answers merged.
   */
  async statusesOf<T>(path: "/hosts/statuses" | "/jobs/statuses", answer: Answer<Readonly<Record<string, T>>>, names: ReadonlyArray<string>, options: Omit<RequestOptions, "body"> = {}): Promise<Readonly<Record<string, T>>> {
    const out: Record<string, T> = {}
    for (let i = 0; i < names.length; i += STATUS_NAMES_PER_REQUEST)
      Object.assign(out, await this.requestDecoded("POST", path, answer, { ...options, body: names.slice(i, i + STATUS_NAMES_PER_REQUEST) }))
    return out
  }

  async requestDecoded<T>(method: string, path: string, answer: Answer<T>, options: RequestOptions = {}): Promise<T> {
    const body = await this.request(method, path, options)
    const problem = mismatch(answer, body)
    if (problem !== undefined) throw this.badAnswer(method, path, problem)
    return body as T
  }

  getDecoded<T>(path: string, answer: Answer<T>, query: Query = {}, options: Omit<RequestOptions, "query" | "body"> = {}): Promise<T> {
    return this.requestDecoded("GET", path, answer, { ...options, query })
  }

  /** Streams NDJSON lines (`/events`), calling `onLine` for each line `answer` accepts, until the end or abort. */
  async ndjson<T>(path: string, query: Query, answer: Answer<T>, onLine: (value: T) => void, signal?: AbortSignal): Promise<void> {
    const response = await this.fetch("GET", path, { query, noAfter: true, stream: true, ...(signal ? { signal } : {}) })
    if (!response.ok) throw await apiError(response)
    let lineNumber = 0
    const handle = (text: string) => {
      const line = text.trim()
      lineNumber++
      if (line === "") return
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        throw this.badAnswer("GET", path, `line ${lineNumber}: not JSON: ${oneLine(line).slice(0, 120)}`)
      }
      const problem = mismatch(answer, value)
      if (problem !== undefined) throw this.badAnswer("GET", path, `line ${lineNumber}: ${problem}`)
      onLine(value as T)
    }
    const decoder = new TextDecoder()
    let buffered = ""
    try {
      for await (const chunk of response.body) {
        buffered += decoder.decode(chunk as Uint8Array, { stream: true })
        let nl: number
        while ((nl = buffered.indexOf("\n")) !== -1) {
          const line = buffered.slice(0, nl)
          buffered = buffered.slice(nl + 1)
          handle(line)
        }
      }
    } catch (e) {
      if (e instanceof CliError) throw e // a bad line, not a broken stream
      if (signal?.aborted) return
      throw new CliError(`the event stream from ${this.endpoint} broke: ${connectionProblem(e)}`)
    }
    handle(buffered)
    if (query["follow"] !== undefined && !signal?.aborted) throw new CliError(`the event stream from ${this.endpoint} ended (did the master stop?)`)
  }
}
