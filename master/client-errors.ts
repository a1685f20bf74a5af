import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Socket } from "node:net"

/**
 * Node's answer to bytes it cannot parse on a connection (its default `clientError` handling), except
 * that a request already handed to the master and received in full gets its own answer first.
 *
 * Node writes "400 Bad Request" and closes the connection as soon as it meets the bad bytes, even
 * when they follow a complete request that the master is still handling: data after
 * `Connection: close`, a pipelined request it cannot parse, a body longer than its Content-Length.
 * That request goes on to be applied, so the client read a 400 for a command that took effect.
 */
export const answerInFlightRequestsFirst = (server: Server): void => {
  const inFlight = new Map<Socket, { req: IncomingMessage; res: ServerResponse }>()
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket
    inFlight.set(socket, { req, res })
    res.once("close", () => {
      if (inFlight.get(socket)?.res === res) inFlight.delete(socket)
    })
  })
  server.on("clientError", (error: Error & { code?: string }, socket: Socket) => {
    const current = inFlight.get(socket)
    if (current && current.req.complete && !current.res.headersSent) {
      current.res.once("close", () => socket.destroy())
      return
    }
    // Node's own handling (lib/_http_server.js socketOnError) when no listener is installed.
    if (socket.writable && !(current?.res.headersSent ?? false)) {
      const status =
        error.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large"
        : error.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? "413 Payload Too Large"
        : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout"
        : "400 Bad Request"
      socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`)
    }
    socket.destroy(error)
  })
}
