import { createSocket } from "node:dgram"
import { createServer } from "node:net"
import type { PortProtocol } from "../core/container-runtime.ts"

/*
 * Port allocation (Helios's PortAllocator): static external ports are taken as given (checked only
 * against ports this agent already uses); dynamic ones come from a range, shuffled once, skipping
 * ports other executions use and ports that cannot be bound right now. Allocations are persisted
 * with the executions, so they are stable across container and agent restarts.
 */

/** [start, end): Helios's `--port-range 20000:32768` has an exclusive end. */
export interface PortRange {
  readonly start: number
  readonly end: number
}

export const DEFAULT_PORT_RANGE: PortRange = { start: 20000, end: 32768 }

/** "20000:32768" or "20000-32768" (end exclusive). */
export const parsePortRange = (text: string): PortRange => {
  const m = /^\s*(\d{1,5})\s*[:-]\s*(\d{1,5})\s*$/.exec(text)
  if (!m) throw new Error(`bad port range "${text}": expected START:END`)
  const start = Number(m[1])
  const end = Number(m[2])
  if (start < 1 || end > 65536 || start >= end) throw new Error(`bad port range "${text}": need 1 <= START < END <= 65536`)
  return { start, end }
}

/** What a job asks for: port name → internal port, optional static external port, protocol. */
export interface PortRequest {
  readonly externalPort?: number
  readonly protocol?: PortProtocol
}

/**
 * Picks external ports for `requested` (pure). `used`: ports other executions of this agent hold;
 * `unavailable`: ports known not to be bindable; `candidates`: the (shuffled) range, tried in order.
 * Returns port name → external port, or undefined when the range has nothing left.
 */
export const pickPorts = (
  requested: Readonly<Record<string, PortRequest>>,
  used: ReadonlySet<number>,
  candidates: ReadonlyArray<number>,
  unavailable: ReadonlySet<number> = new Set(),
): Record<string, number> | undefined => {
  const taken = new Set(used)
  const out: Record<string, number> = {}
  const names = Object.keys(requested).sort()
  for (const name of names) {
    const p = requested[name]!.externalPort
    if (p !== undefined) {
      // Static ports: the master already refused conflicting deployments; two ports of one job may
      // share a number with different protocols, so only other executions count here.
      if (used.has(p)) return undefined
      out[name] = p
      taken.add(p)
    }
  }
  let i = 0
  for (const name of names) {
    if (requested[name]!.externalPort !== undefined) continue
    while (i < candidates.length && (taken.has(candidates[i]!) || unavailable.has(candidates[i]!))) i++
    if (i >= candidates.length) return undefined
    out[name] = candidates[i]!
    taken.add(candidates[i]!)
    i++
  }
  return out
}

/** Fisher-Yates with an injectable random source (tests pass a seeded one). */
export const shuffled = (range: PortRange, random: () => number = Math.random): number[] => {
  const a = Array.from({ length: range.end - range.start }, (_, i) => range.start + i)
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

/** Whether `port` can be bound on `address` right now (racy by nature, like Helios's probe). */
export const canBind = (address: string, port: number, protocol: PortProtocol = "tcp"): Promise<boolean> =>
  new Promise((resolve) => {
    if (protocol === "udp") {
      const socket = createSocket(address.includes(":") ? "udp6" : "udp4")
      socket.once("error", () => {
        socket.close()
        resolve(false)
      })
      socket.bind(port, address, () => socket.close(() => resolve(true)))
      return
    }
    const server = createServer()
    server.unref()
    server.once("error", () => resolve(false))
    server.listen({ port, host: address, exclusive: true }, () => server.close(() => resolve(true)))
  })

export type PortProbe = (port: number, protocol: PortProtocol) => Promise<boolean>

export class PortAllocator {
  private readonly candidates: number[]

  constructor(
    range: PortRange,
    private readonly probe: PortProbe,
    random: () => number = Math.random,
  ) {
    this.candidates = shuffled(range, random)
  }

  /**
   * Allocates ports for one execution. Dynamic picks that fail the bind probe are skipped;
   * `avoid` lists ports that just failed (e.g. "port is already allocated" at start).
   */
  async allocate(
    requested: Readonly<Record<string, PortRequest>>,
    used: ReadonlySet<number>,
    avoid: ReadonlySet<number> = new Set(),
  ): Promise<Record<string, number> | undefined> {
    const unavailable = new Set(avoid)
    for (;;) {
      const picked = pickPorts(requested, used, this.candidates, unavailable)
      if (picked === undefined) return undefined
      let retry = false
      for (const [name, port] of Object.entries(picked)) {
        const req = requested[name]!
        if (req.externalPort !== undefined) continue
        if (!(await this.probe(port, req.protocol ?? "tcp"))) {
          unavailable.add(port)
          retry = true
        }
      }
      if (!retry) return picked
    }
  }
}
