import type { IncomingMessage } from "node:http"
import { pipeline, type Readable } from "node:stream"
import { createGunzip } from "node:zlib"

/*
 * The CLI's HTTP requests, on node:http rather than fetch: loading fetch (undici) costs a short-lived
 * `helios` about 0.1 s of CPU, a third of its whole run. Only what the client needs of a Response.
 * Like fetch, it asks for gzip and reads a gzip answer as its plain bytes: a master compresses large
 * answers (a rollout's statuses shrink 10 to 24 times).
 */

export interface HttpResponse {
  readonly status: number
  readonly ok: boolean
  readonly headers: { get(name: string): string | null }
  /** The body as text (read once, or iterate `body` instead). */
  text(): Promise<string>
  readonly body: AsyncIterable<Uint8Array>
}

/** How much a gzip answer is decoded into at a time. */
export const GUNZIP_CHUNK_BYTES = 1024 * 1024

export interface HttpRequest {
  readonly method: string
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string
  /** Aborts the request and its response's body (timeouts, Ctrl-C). */
  readonly signal?: AbortSignal
  /** https: CA certificates to trust (`--ca-file`). */
  readonly ca?: string | Buffer
}

/**
 * The answer's body as sent before its Content-Encoding (gzip is the only one asked for). Decoded
 * into 1 MiB buffers: with zlib's default 16 KiB, a 7 MB status answer takes 450 trips between the
 * thread pool and JavaScript, 6 times the time (29 against 5 ms on an idle machine).
 */
const decoded = (res: IncomingMessage): Readable =>
  res.headers["content-encoding"] === "gzip" ? pipeline(res, createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }), () => {}) : res

const wrap = (res: IncomingMessage): HttpResponse => {
  const body = decoded(res)
  return {
    status: res.statusCode ?? 0,
    ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300,
    headers: {
      get: (name) => {
        const v = res.headers[name.toLowerCase()]
        return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v
      },
    },
    text: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk)
      return Buffer.concat(chunks).toString("utf8")
    },
    body: body as AsyncIterable<Uint8Array>,
  }
}

/** Sends one request; resolves with the answer's head (its body still to read), rejects on a connection failure. */
export const httpRequest = async (url: string, init: HttpRequest): Promise<HttpResponse> => {
  const target = new URL(url)
  if (target.protocol !== "http:" && target.protocol !== "https:") throw new TypeError(`unsupported protocol ${target.protocol}`)
  const { request } = target.protocol === "https:" ? await import("node:https") : await import("node:http")
  init.signal?.throwIfAborted()
  return new Promise((resolve, reject) => {
    const asked = { "Accept-Encoding": "gzip", ...init.headers }
    const headers = init.body === undefined ? asked : { ...asked, "Content-Length": String(Buffer.byteLength(init.body)) }
    const tls = init.ca !== undefined && target.protocol === "https:" ? { ca: init.ca } : {}
    const req = request(target, { method: init.method, headers, ...tls, ...(init.signal ? { signal: init.signal } : {}) }, (res) => resolve(wrap(res)))
    req.on("error", reject)
    req.end(init.body)
  })
}
