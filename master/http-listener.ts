import { serve, type ServerType } from "@hono/node-server"
import { createServer as createHttpsServer } from "node:https"
import { hostname as osHostname } from "node:os"
import type { AddressInfo } from "node:net"
import type { Server } from "node:http"
import { answerInFlightRequestsFirst } from "./client-errors.ts"

/** How long a stopping master lets requests under way finish before it closes their connections. */
export const CLOSE_GRACE_MS = 2_000

export interface ListenOptions {
  /** Default 5801; 0 picks a free port. */
  readonly port?: number
  /** Default 0.0.0.0. */
  readonly bindAddress?: string
  /** The URL to announce; default: see `advertisedUrl` below. */
  readonly advertisedUrl?: string
  /** Serve HTTPS with this certificate chain and key (PEM); absent: plain HTTP. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer }
}

export interface Listener {
  readonly port: number
  /** Where this process reaches the API (127.0.0.1 when bound to every address). */
  readonly url: string
  /**
   * Where others reach it, announced in ZooKeeper: as given, or http://<bind address>:<port>, or
   * http://<this machine's host name>:<port> when bound to 0.0.0.0.
   */
  readonly advertisedUrl: string
  /** Stops accepting connections; resolves once the open ones are done. */
  close(): Promise<void>
}

/** The master's HTTP server, serving `fetch` once it listens. */
export const listen = async (fetch: Parameters<typeof serve>[0]["fetch"], options: ListenOptions): Promise<Listener> => {
  // An address that cannot be bound (not this machine's, a port in use) rejects, naming it.
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve(
      {
        fetch,
        port: options.port ?? 5801,
        hostname: options.bindAddress ?? "0.0.0.0",
        ...(options.tls ? { createServer: createHttpsServer, serverOptions: { cert: options.tls.cert, key: options.tls.key } } : {}),
      },
      () => resolve(s),
    )
    s.once("error", (e: Error) => reject(new Error(`cannot listen on ${options.bindAddress ?? "0.0.0.0"}:${options.port ?? 5801}: ${e.message}`)))
  })
  answerInFlightRequestsFirst(server as Server)
  const port = (server.address() as AddressInfo).port
  const boundToAll = options.bindAddress === undefined || options.bindAddress === "0.0.0.0"
  const scheme = options.tls ? "https" : "http"
  const url = `${scheme}://${boundToAll ? "127.0.0.1" : options.bindAddress}:${port}`
  return {
    port,
    url,
    advertisedUrl: options.advertisedUrl ?? (boundToAll ? `${scheme}://${osHostname()}:${port}` : url),
    close: () =>
      new Promise<void>((resolve) => {
        // Requests under way get a moment to finish; then what is still open is cut: an answer that
        // never ends by itself (a dashboard's `GET /events?follow=true`) held a stopping master, and
        // `helios solo`'s Ctrl-C, until the browser tab was closed.
        const cut = setTimeout(() => (server as Server).closeAllConnections(), CLOSE_GRACE_MS)
        server.close(() => {
          clearTimeout(cut)
          resolve()
        })
      }),
  }
}
