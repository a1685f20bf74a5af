import { connect } from "node:net"

/*
 * An HTTP/1.1 client that sends exactly the bytes it is given: any method, an unencoded request
 * target, repeated or malformed headers, a Content-Length that lies, bytes that are not UTF-8.
 * (fetch and node:http validate or fix all of these.) One request per connection.
 */

export interface RawRequest {
  readonly method: string
  /** The request target as sent, e.g. `/jobs?user=a b` (no encoding is applied). */
  readonly target: string
  /** In order; sent as they are. Content-Length is added only when `declaredLength` says so. */
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Buffer
  /** The body's content when `body` frames it (chunked); else `body` is the content. */
  readonly content?: Buffer
  /** "actual": the body's length; "none": no Content-Length; a number: that value, true or not. */
  readonly declaredLength: "actual" | "none" | number
}

export type RawResponse =
  | { readonly kind: "answered"; readonly status: number; readonly headers: ReadonlyMap<string, string>; readonly body: Buffer; readonly streaming: boolean }
  | { readonly kind: "no-answer"; readonly reason: string }

const headerBlock = (r: RawRequest): Buffer => {
  const lines = [`${r.method} ${r.target} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...r.headers.map(([k, v]) => `${k}: ${v}`)]
  if (r.declaredLength === "actual") lines.push(`Content-Length: ${r.body.length}`)
  else if (typeof r.declaredLength === "number") lines.push(`Content-Length: ${r.declaredLength}`)
  // latin1: a header value's code units go out as single bytes, as a client writing raw bytes would.
  return Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1")
}

const dechunk = (raw: Buffer): { body: Buffer; complete: boolean } => {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = raw.indexOf("\r\n", at)
    if (eol < 0) return { body: Buffer.concat(parts), complete: false }
    const size = parseInt(raw.subarray(at, eol).toString("latin1"), 16)
    if (!Number.isFinite(size)) return { body: Buffer.concat(parts), complete: false }
    if (size === 0) return { body: Buffer.concat(parts), complete: true }
    if (eol + 2 + size > raw.length) return { body: Buffer.concat(parts), complete: false }
    parts.push(raw.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
}

/** Parses what arrived; `complete` once the whole response (by its framing) is there. */
const parse = (data: Buffer): { status: number; headers: Map<string, string>; body: Buffer; complete: boolean } | undefined => {
  const end = data.indexOf("\r\n\r\n")
  if (end < 0) return undefined
  const [statusLine, ...lines] = data.subarray(0, end).toString("latin1").split("\r\n")
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1])
  if (!Number.isInteger(status)) return undefined
  // An interim answer (100 Continue) comes before the real one.
  if (status >= 100 && status < 200 && status !== 101) return parse(data.subarray(end + 4))
  const headers = new Map<string, string>()
  for (const line of lines) {
    const colon = line.indexOf(":")
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  const rest = data.subarray(end + 4)
  if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") return { status, headers, ...dechunk(rest) }
  const length = headers.get("content-length")
  if (length !== undefined) return { status, headers, body: rest.subarray(0, Number(length)), complete: rest.length >= Number(length) }
  return { status, headers, body: rest, complete: false }
}

/**
 * Sends the request and reads the answer. A streamed answer (NDJSON that stays open) is cut
 * `streamGraceMs` after its headers arrive; no answer within `timeoutMs` is reported as such.
 */
export const sendRaw = (port: number, request: RawRequest, opts: { timeoutMs?: number; streamGraceMs?: number } = {}): Promise<RawResponse> =>
  new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" })
    const chunks: Buffer[] = []
    let settled = false
    let streamTimer: NodeJS.Timeout | undefined
    const finish = (streaming = false, reason = "connection closed without an answer") => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(streamTimer)
      socket.destroy()
      const parsed = parse(Buffer.concat(chunks))
      resolve(parsed ? { kind: "answered", status: parsed.status, headers: parsed.headers, body: parsed.body, streaming } : { kind: "no-answer", reason })
    }
    const timer = setTimeout(() => finish(false, `no answer within ${opts.timeoutMs ?? 20_000} ms`), opts.timeoutMs ?? 20_000)
    socket.on("data", (chunk) => {
      chunks.push(chunk)
      const parsed = parse(Buffer.concat(chunks))
      if (parsed?.complete) return finish()
      if (parsed && streamTimer === undefined) streamTimer = setTimeout(() => finish(true), opts.streamGraceMs ?? 300)
    })
    socket.on("error", (e) => finish(false, `socket error: ${e.message}`))
    socket.on("close", () => finish())
    socket.on("connect", () => {
      socket.write(Buffer.concat([headerBlock(request), request.body]))
      // A declared length longer than the body would leave the server waiting: say we are done.
      if (typeof request.declaredLength === "number" && request.declaredLength > request.body.length) socket.end()
    })
  })

/** The request as a line or two, for failure messages. */
export const showRequest = (r: RawRequest): string => {
  const body = r.body.length > 300 ? `${r.body.subarray(0, 300).toString("latin1")}… (${r.body.length} bytes)` : r.body.toString("latin1")
  const target = r.target.length > 300 ? `${r.target.slice(0, 300)}… (${r.target.length} chars)` : r.target
  return `${r.method} ${target}\n  headers: ${JSON.stringify(r.headers.map(([k, v]) => [k, v.length > 80 ? `${v.slice(0, 80)}…` : v]))} length: ${r.declaredLength}\n  body: ${body}`
}
