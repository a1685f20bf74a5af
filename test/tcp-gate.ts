/**
 * A TCP forwarder from a free 127.0.0.1 port to 127.0.0.1:upstream that a test can fail on purpose:
 *
 *   cut()      every open connection is reset and new ones are reset on arrival (a crashed link
 *              the client notices at once);
 *   freeze()   connections stay open but no byte, end or reset passes in either direction, and new
 *              connections are held unanswered (a partition or a stalled peer: only timeouts tell);
 *   restore()  forwarding resumes; what a frozen connection held (data, then its end or reset) is
 *              delivered in order.
 */
import { createServer, connect, type Socket } from "node:net"

export type GateState = "open" | "cut" | "frozen"

export interface TcpGate {
  /** The port clients connect to. */
  readonly port: number
  readonly upstream: number
  readonly state: GateState
  /** Connections currently forwarded (or held). */
  readonly connections: number
  cut(): void
  freeze(): void
  restore(): void
  /** Cut everything and stop listening. */
  close(): Promise<void>
}

/** One forwarded connection: its two sockets and what to do with the other side when one side closes. */
interface Link {
  readonly client: Socket
  readonly upstream: Socket
  /** Closes seen while frozen, applied on restore. */
  pending: (() => void)[]
}

export async function tcpGate(upstream: number): Promise<TcpGate> {
  let state: GateState = "open"
  const links = new Set<Link>()

  const reset = (socket: Socket) => {
    if (!socket.destroyed) socket.resetAndDestroy()
  }
  const destroy = (link: Link) => {
    links.delete(link)
    link.client.destroy()
    link.upstream.destroy()
  }

  /** Forward `from` -> `to`, holding back pressure; nothing moves while the gate is frozen (sockets paused). */
  const forward = (link: Link, from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (!to.write(chunk)) {
        from.pause()
        to.once("drain", () => {
          if (state === "open") from.resume()
        })
      }
    })
    // A paused socket emits 'end' only after its buffered data was read, so an end cannot overtake
    // held data; a close without end (reset, error) is held explicitly.
    from.on("end", () => to.end())
    from.on("close", (hadError) => {
      // After a clean close `to` still flushes what it was given, then closes itself.
      const close = () => {
        if (hadError) destroy(link)
        else if (link.client.destroyed && link.upstream.destroyed) links.delete(link)
      }
      if (state === "frozen") link.pending.push(close)
      else close()
    })
    from.on("error", () => {
      // 'close' follows with hadError
    })
  }

  const server = createServer({ pauseOnConnect: true }, (client) => {
    if (state === "cut") {
      client.on("error", () => undefined)
      reset(client)
      return
    }
    const up = connect({ host: "127.0.0.1", port: upstream })
    up.pause()
    const link: Link = { client, upstream: up, pending: [] }
    links.add(link)
    forward(link, client, up)
    forward(link, up, client)
    if (state === "open") {
      client.resume()
      up.resume()
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const port = (server.address() as { port: number }).port

  const cut = () => {
    state = "cut"
    for (const link of [...links]) {
      reset(link.client)
      reset(link.upstream)
      links.delete(link)
    }
  }

  return {
    port,
    upstream,
    get state() {
      return state
    },
    get connections() {
      return links.size
    },
    cut,
    freeze: () => {
      if (state === "cut") return
      state = "frozen"
      for (const link of links) {
        link.client.pause()
        link.upstream.pause()
      }
    },
    restore: () => {
      state = "open"
      for (const link of [...links]) {
        link.client.resume()
        link.upstream.resume()
        const pending = link.pending
        link.pending = []
        for (const close of pending) close()
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        cut()
        server.close(() => resolve())
      }),
  }
}
