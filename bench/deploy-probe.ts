/**
 * Helpers of bench/deploy.ts: an HTTP probe of a published port, a check that a port is free
 * again, the docker CLI, and transparent timing wrappers around the agent's container runtime and
 * event logs (they record when each call starts and ends, in performance.now() milliseconds, and
 * change nothing else), so a deploy's time can be split into its steps.
 */
import { execFile } from "node:child_process"
import http from "node:http"
import { createServer } from "node:net"
import type { ContainerRuntime } from "../core/container-runtime.ts"
import type { EventLog } from "../core/event-log.ts"
import type { EventEnvelope } from "../core/events.ts"

export const now = (): number => performance.now()
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------
// Probes

/** One GET http://127.0.0.1:port/ without keep-alive; resolves with the body when it is 200 OK. */
export const httpGetOnce = (port: number, timeoutMs = 500): Promise<string> =>
  new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString("utf8")) : reject(new Error(`HTTP ${res.statusCode}`))))
      res.on("error", reject)
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", reject)
  })

/**
 * Starts a fresh HTTP GET of the port every `everyMs` (each on a new connection, without waiting
 * for the previous ones) until one answers 200 with `text` in the body; resolves with the
 * performance.now() of that answer. Rejects after `timeoutMs`, or when `stop` is aborted.
 *
 * Start probing only once the container is reported started. Measured here: docker-proxy listens
 * on the published port before the container's network is attached; a connection made in that
 * window makes the proxy dial the container's IP too early, the neighbour (ARP) entry of that IP
 * goes INCOMPLETE and stays so until the kernel's retry about 1 s later, and every connection,
 * later ones included, stalls until then (`docker run -d` returned at ~600 ms, HTTP answered at
 * ~1,200 ms with a prober running from the start, within a few ms of the CLI's return without).
 */
export const waitForHttp = (port: number, text: string, opts: { everyMs?: number; timeoutMs?: number; stop?: AbortSignal } = {}): Promise<number> =>
  new Promise((resolve, reject) => {
    const deadline = now() + (opts.timeoutMs ?? 30_000)
    let done = false
    let outstanding = 0
    let last: unknown
    let timer: NodeJS.Timeout | undefined
    const finish = (f: () => void) => {
      if (done) return
      done = true
      clearTimeout(timer)
      f()
    }
    const tick = () => {
      if (done) return
      if (opts.stop?.aborted) return finish(() => reject(new Error("stopped")))
      if (now() > deadline) return finish(() => reject(new Error(`port ${port} did not answer HTTP within ${opts.timeoutMs ?? 30_000} ms: ${String(last)}`)))
      if (outstanding < 400) {
        outstanding++
        httpGetOnce(port, 5_000).then(
          (body) => {
            outstanding--
            if (body.includes(text)) {
              const t = now()
              finish(() => resolve(t))
            } else last = new Error("unexpected body")
          },
          (e: unknown) => {
            outstanding--
            last = e
          },
        )
      }
      timer = setTimeout(tick, opts.everyMs ?? 5)
    }
    tick()
  })

/** Whether `host:port` can be bound right now (nobody, docker-proxy included, listens on it). */
export const portFree = (port: number, host: string): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createServer()
    s.once("error", () => resolve(false))
    s.listen(port, host, () => s.close(() => resolve(true)))
  })

export const waitPortFree = async (port: number, hosts: ReadonlyArray<string>, timeoutMs = 30_000): Promise<void> => {
  const deadline = now() + timeoutMs
  for (;;) {
    let free = true
    for (const h of hosts) if (!(await portFree(port, h))) free = false
    if (free) return
    if (now() > deadline) throw new Error(`port ${port} still taken after ${timeoutMs} ms`)
    await sleep(10)
  }
}

// ---------------------------------------------------------------------------------------------
// docker CLI

export const dockerCli = (args: ReadonlyArray<string>, timeoutMs = 60_000): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile("docker", [...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker ${args.join(" ")}: ${err.message}\n${stderr}`))
      else resolve(stdout.trim())
    })
  })

// ---------------------------------------------------------------------------------------------
// Timing wrappers

export interface Mark {
  readonly what: string
  readonly t0: number
  t1?: number
  ok?: boolean
  detail?: string
}

/** A list of marks; `since(t)` gives those that started at or after t. */
export class Marks {
  readonly all: Mark[] = []
  begin(what: string, detail?: string): Mark {
    const m: Mark = { what, t0: now(), ...(detail !== undefined ? { detail } : {}) }
    this.all.push(m)
    return m
  }
  point(what: string, detail?: string): void {
    const t = now()
    this.all.push({ what, t0: t, t1: t, ok: true, ...(detail !== undefined ? { detail } : {}) })
  }
  since(t: number): Mark[] {
    return this.all.filter((m) => m.t0 >= t)
  }
  /** Drops marks older than t (keeps memory flat over many rounds). */
  forgetBefore(t: number): void {
    const keep = this.all.filter((m) => m.t0 >= t)
    this.all.length = 0
    this.all.push(...keep)
  }
}

const timedCall = <T>(marks: Marks, what: string, f: () => Promise<T>, detail?: string): Promise<T> => {
  const m = marks.begin(what, detail)
  return f().then(
    (v) => {
      m.t1 = now()
      m.ok = true
      return v
    },
    (e: unknown) => {
      m.t1 = now()
      m.ok = false
      m.detail = String((e as { reason?: string }).reason ?? e)
      throw e
    },
  )
}

const RUNTIME_TIMED = new Set(["pullImage", "imageExists", "create", "start", "stop", "kill", "remove", "list", "inspect"])

/** The runtime, with every call of RUNTIME_TIMED recorded as `runtime.<name>`. */
export const timedRuntime = (target: ContainerRuntime, marks: Marks): ContainerRuntime =>
  new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown
      if (typeof prop === "string" && RUNTIME_TIMED.has(prop) && typeof value === "function")
        return (...args: unknown[]) => timedCall(marks, `runtime.${prop}`, () => (value as (...a: unknown[]) => Promise<unknown>).apply(t, args))
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(t) : value
    },
  })

/** What an envelope says, for marks: `JobDeployed`, `TaskStateChanged:RUNNING`... */
export const describe = (e: EventEnvelope): string => {
  const ev = e.event
  return ev._tag === "TaskStateChanged" ? `${ev._tag}:${ev.state}` : ev._tag
}

/**
 * The log as `who` uses it: appends are recorded as `<who>.append` (detail: the events), host
 * stream deliveries as `<who>.hostStream` (one point mark per event, detail: the event).
 */
export const timedLog = (target: EventLog, marks: Marks, who: string): EventLog =>
  new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown
      if (prop === "append")
        return (events: ReadonlyArray<EventEnvelope>, options?: unknown) =>
          timedCall(marks, `${who}.append`, () => (value as (e: unknown, o: unknown) => Promise<unknown>).call(t, events, options), events.map(describe).join(","))
      if (prop === "subscribeHostStream")
        return (host: string, after: number, onEvents: (events: ReadonlyArray<{ envelope: EventEnvelope }>) => void | Promise<void>) =>
          (value as (h: string, a: number, f: (events: ReadonlyArray<{ envelope: EventEnvelope }>) => void | Promise<void>) => unknown).call(t, host, after, (events) => {
            for (const e of events) marks.point(`${who}.hostStream`, describe(e.envelope))
            return onEvents(events)
          })
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(t) : value
    },
  })
