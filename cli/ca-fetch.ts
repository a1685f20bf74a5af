import { request } from "node:https"
import { Readable } from "node:stream"

/*
 * fetch for https:// masters whose certificate a CA file vouches for (`--ca-file`). Node's fetch
 * trusts only its built-in roots (and NODE_EXTRA_CA_CERTS, read once at start); this sends the
 * request through node:https with the CA given and answers a web Response, so the client reads it
 * as it reads fetch's (status, headers, text, a streamed body). Other URLs go to fetch.
 */
export const fetchTrusting = (ca: string | Buffer): typeof fetch =>
  (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url)
    if (url.protocol !== "https:") return fetch(input, init)
    const signal = init.signal ?? undefined
    const headers = Object.fromEntries(new Headers(init.headers).entries())
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason)
      const req = request(url, { method: init.method ?? "GET", headers, ca }, (res) => {
        const status = res.statusCode ?? 502
        const out = new Headers()
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) for (const item of Array.isArray(v) ? v : [v]) out.append(k, item)
        const noBody = status === 204 || status === 304 || init.method === "HEAD"
        if (noBody) res.resume()
        resolve(new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers: out }))
      })
      // As fetch: an abort rejects with the signal's reason, a connection failure with a TypeError whose cause names it.
      const onAbort = () => {
        req.destroy()
        reject(signal!.reason)
      }
      signal?.addEventListener("abort", onAbort, { once: true })
      req.on("close", () => signal?.removeEventListener("abort", onAbort))
      req.on("error", (e) => reject(signal?.aborted ? signal.reason : new TypeError("fetch failed", { cause: e })))
      req.end(typeof init.body === "string" ? init.body : undefined)
    })
  }) as typeof fetch
