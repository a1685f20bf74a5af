import { EventEmitter } from "node:events"
import zookeeper, { type Acl, type Client, type OpResult, type Stat, type Transaction } from "node-zookeeper-client"
import { LogUnavailable } from "../core/event-log.ts"

export const ZK = { CreateMode: zookeeper.CreateMode, Exception: zookeeper.Exception } as const

/** A ZooKeeper error with its code (ZK.Exception.*), or a connection problem. */
export const zkCode = (error: unknown): number | undefined =>
  typeof (error as { getCode?: unknown })?.getCode === "function" ? (error as { getCode(): number }).getCode() : undefined

/** ZooKeeper's name of an error (`NO_NODE`, `BAD_VERSION`...), or `error` for anything else. */
const zkErrorName = (error: unknown): string => {
  const name = (error as { name?: unknown })?.name
  return typeof name === "string" && /^[A-Z_]+$/.test(name) ? name : "error"
}

export interface MultiFailure {
  readonly code: number
  /** Index of the op that failed the transaction. */
  readonly index: number
}

/**
 * Hears about every request this client sends (metrics): the operation (`getData`, `multi`...), how
 * long ZooKeeper took to answer, and the outcome: `ok`, `unavailable` (not connected, connection
 * lost, no answer in time) or ZooKeeper's error name (`NO_NODE`, `NODE_EXISTS`, `BAD_VERSION`...).
 */
export type ZkRequestObserver = (op: string, seconds: number, outcome: string) => void

export interface ZkClientOptions {
  readonly sessionTimeoutMs?: number
  /** A digest identity (`user`, `password`) added to every session of this client (log/zk-acl.ts). */
  readonly auth?: { readonly user: string; readonly password: string }
  /** The ACL of each node this client creates, by path; absent: world-open (OPEN_ACL_UNSAFE). */
  readonly aclFor?: (path: string) => ReadonlyArray<Acl>
  /** How long an operation may wait for an answer before it fails with LogUnavailable. */
  readonly operationTimeoutMs?: number
}

/** A transaction whose creates carry the ACL of their path. */
const withAcls = (tx: Transaction, aclFor: (path: string) => ReadonlyArray<Acl>): Transaction => {
  const wrapped: Transaction = {
    create: (path: string, data?: Buffer, mode?: number | ReadonlyArray<Acl>) => {
      tx.create(path, data, aclFor(path), typeof mode === "number" ? mode : ZK.CreateMode.PERSISTENT)
      return wrapped
    },
    check: (path, version) => (tx.check(path, version), wrapped),
    setData: (path, data, version) => (tx.setData(path, data, version), wrapped),
    remove: (path, version) => (tx.remove(path, version), wrapped),
    commit: (callback) => tx.commit(callback),
  }
  return wrapped
}

/**
 * A promise-based ZooKeeper session that fails fast while disconnected (a 503, never a hang) and
 * replaces itself with a new session when ZooKeeper expires the old one.
 */
export class ZkClient extends EventEmitter {
  private client: Client
  private connected = false
  private closed = false
  private readonly opTimeout: number
  private readonly observers = new Set<ZkRequestObserver>()

  private constructor(
    private readonly connectString: string,
    private readonly options: ZkClientOptions,
  ) {
    super()
    this.opTimeout = options.operationTimeoutMs ?? 5000
    this.client = this.open()
  }

  static async connect(connectString: string, options: ZkClientOptions = {}, timeoutMs = 15_000): Promise<ZkClient> {
    const zk = new ZkClient(connectString, options)
    try {
      await zk.waitConnected(timeoutMs)
    } catch (error) {
      await zk.close() // do not leave a client retrying in the background
      throw error
    }
    return zk
  }

  private open(): Client {
    const client = zookeeper.createClient(this.connectString, {
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      spinDelay: 200,
      retries: 0,
    })
    // Sent at every (re)connection of this session, before any request.
    if (this.options.auth) client.addAuthInfo("digest", Buffer.from(`${this.options.auth.user}:${this.options.auth.password}`, "utf8"))
    client.on("state", (state: { name: string }) => {
      if (client !== this.client) return
      const wasConnected = this.connected
      this.connected = state.name === "SYNC_CONNECTED"
      if (this.connected && !wasConnected) this.emit("connected")
      if (!this.connected && wasConnected) this.emit("disconnected")
      if (state.name === "EXPIRED" && !this.closed) {
        // The session is gone for good (its ephemeral nodes too): start a new one.
        client.close()
        this.client = this.open()
        this.emit("expired")
      }
    })
    client.connect()
    return client
  }

  get isConnected(): boolean {
    return this.connected
  }

  waitConnected(timeoutMs: number): Promise<void> {
    if (this.connected) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("connected", onConnected)
        reject(new LogUnavailable({ reason: `ZooKeeper at ${this.connectString} not reachable within ${timeoutMs} ms` }))
      }, timeoutMs)
      const onConnected = () => {
        clearTimeout(timer)
        resolve()
      }
      this.once("connected", onConnected)
    })
  }

  /** Calls `observer` after every request (see ZkRequestObserver); returns the way to stop. */
  observe(observer: ZkRequestObserver): () => void {
    this.observers.add(observer)
    return () => this.observers.delete(observer)
  }

  private observed(what: string, startedAt: number, outcome: string): void {
    if (this.observers.size === 0) return
    const op = what.split(" ", 1)[0]!
    const seconds = (performance.now() - startedAt) / 1000
    for (const o of this.observers) o(op, seconds, outcome)
  }

  private call<T>(what: string, run: (client: Client, done: (error: unknown, value?: T) => void) => void): Promise<T> {
    const startedAt = performance.now()
    if (this.closed || !this.connected) this.observed(what, startedAt, "unavailable")
    if (this.closed) return Promise.reject(new LogUnavailable({ reason: "ZooKeeper client closed" }))
    if (!this.connected)
      return Promise.reject(new LogUnavailable({ reason: `ZooKeeper at ${this.connectString} is unreachable (${what})` }))
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const settle = (outcome: string) => {
        if (settled) return false
        settled = true
        this.observed(what, startedAt, outcome)
        return true
      }
      const timer = setTimeout(() => {
        if (settle("unavailable")) reject(new LogUnavailable({ reason: `ZooKeeper did not answer ${what} within ${this.opTimeout} ms` }))
      }, this.opTimeout)
      run(this.client, (error, value) => {
        clearTimeout(timer)
        if (error) {
          const code = zkCode(error)
          const lost = code === ZK.Exception.CONNECTION_LOSS || code === ZK.Exception.SESSION_EXPIRED || code === ZK.Exception.OPERATION_TIMEOUT
          if (!settle(lost ? "unavailable" : zkErrorName(error))) return
          if (lost) reject(new LogUnavailable({ reason: `ZooKeeper connection lost during ${what}` }))
          else reject(error)
        } else if (settle("ok")) resolve(value as T)
      })
    })
  }

  create(path: string, data: Buffer | null = null, mode: number = ZK.CreateMode.PERSISTENT): Promise<string> {
    const acls = this.options.aclFor?.(path)
    return this.call(`create ${path}`, (c, done) =>
      acls ? c.create(path, data, acls, mode, (e, p) => done(e, p)) : c.create(path, data, mode, (e, p) => done(e, p)),
    )
  }

  /**
   * Creates a node and any missing parents, each with its own ACL; an existing node is fine. Nodes
   * that exist are not created again: a client may lack the right to create them (an agent under
   * the log's root).
   */
  async ensurePath(path: string): Promise<void> {
    const parts = path.split("/").filter((p) => p !== "")
    let missingFrom = parts.length
    for (let i = parts.length; i > 0; i--) {
      if ((await this.exists("/" + parts.slice(0, i).join("/"))) !== undefined) break
      missingFrom = i - 1
    }
    for (let i = missingFrom; i < parts.length; i++) {
      try {
        await this.create("/" + parts.slice(0, i + 1).join("/"))
      } catch (e) {
        if (zkCode(e) !== ZK.Exception.NODE_EXISTS) throw e
      }
    }
  }

  getData(path: string, watcher?: () => void): Promise<{ data: Buffer; stat: Stat }> {
    return this.call(`getData ${path}`, (c, done) =>
      c.getData(path, watcher, (e, data, stat) => done(e, { data: data ?? Buffer.alloc(0), stat: stat! })),
    )
  }

  /** Data of a node, or undefined when it does not exist. */
  async getDataIfExists(path: string): Promise<Buffer | undefined> {
    try {
      return (await this.getData(path)).data
    } catch (e) {
      if (zkCode(e) === ZK.Exception.NO_NODE) return undefined
      throw e
    }
  }

  /**
   * Makes the server this session is connected to catch up with the leader: a read issued after it
   * resolves sees every write the ensemble acknowledged before the call. An ensemble follower may
   * lag, so every read that decides something (did an append land? is the log behind what we
   * applied?) is preceded by one. ZooKeeper syncs the whole server; `path` only names the request.
   */
  async sync(path: string): Promise<void> {
    await this.call<string | undefined>(`sync ${path}`, (c, done) => c.sync(path, (e, p) => done(e, p)))
  }

  setData(path: string, data: Buffer, version = -1): Promise<Stat> {
    return this.call(`setData ${path}`, (c, done) => c.setData(path, data, version, (e, s) => done(e, s)))
  }

  exists(path: string, watcher?: () => void): Promise<Stat | undefined> {
    return this.call(`exists ${path}`, (c, done) => c.exists(path, watcher, (e, s) => done(e, s ?? undefined)))
  }

  getChildren(path: string, watcher?: () => void): Promise<string[]> {
    return this.call(`getChildren ${path}`, (c, done) => c.getChildren(path, watcher, (e, children) => done(e, children ?? [])))
  }

  /** Children of a node, or [] when it does not exist. */
  async getChildrenIfExists(path: string): Promise<string[]> {
    try {
      return await this.getChildren(path)
    } catch (e) {
      if (zkCode(e) === ZK.Exception.NO_NODE) return []
      throw e
    }
  }

  remove(path: string, version = -1): Promise<void> {
    return this.call(`remove ${path}`, (c, done) => c.remove(path, version, (e) => done(e)))
  }

  /**
   * Runs a multi-op transaction. Resolves with undefined on success or with the failing op's code
   * and index (ZooKeeper applied nothing); rejects with LogUnavailable if the outcome is unknown.
   */
  multi(build: (tx: Transaction) => void): Promise<MultiFailure | undefined> {
    return this.call("multi", (c, done) => {
      const tx = c.transaction()
      build(this.options.aclFor ? withAcls(tx, this.options.aclFor) : tx)
      tx.commit((error, results) => {
        if (!error) return done(null, undefined)
        const index = (results ?? []).findIndex(
          (r: OpResult) => r.err !== undefined && r.err !== ZK.Exception.OK && r.err !== ZK.Exception.RUNTIME_INCONSISTENCY,
        )
        const code = zkCode(error)
        if (index >= 0 && code !== undefined) done(null, { code, index })
        else done(error)
      })
    })
  }

  async close(): Promise<void> {
    this.closed = true
    this.connected = false
    this.client.close()
  }
}
