// Minimal types for node-zookeeper-client 1.1.3 (it ships none): only what log/zk-client.ts uses.
declare module "node-zookeeper-client" {
  import type { EventEmitter } from "node:events"
  export interface Stat {
    version: number
    cversion: number
    numChildren: number
    dataLength: number
  }
  export interface ZkException extends Error {
    getCode(): number
    getName(): string
  }
  export interface OpResult {
    type: number
    err?: number
    path?: string
  }
  export class Id {
    constructor(scheme: string, id: string)
  }
  export class Acl {
    constructor(permission: number, id: Id)
  }
  export interface Transaction {
    create(path: string, data?: Buffer, mode?: number): Transaction
    create(path: string, data: Buffer | undefined, acls: ReadonlyArray<Acl>, mode?: number): Transaction
    check(path: string, version?: number): Transaction
    setData(path: string, data: Buffer | null, version?: number): Transaction
    remove(path: string, version?: number): Transaction
    commit(callback: (error: ZkException | Error | null, results?: OpResult[]) => void): void
  }
  export interface WatcherEvent {
    type: number
    name: string
    path: string
  }
  export type Watcher = (event: WatcherEvent) => void
  export interface Client extends EventEmitter {
    connect(): void
    close(): void
    getState(): { name: string; code: number }
    create(path: string, data: Buffer | null, mode: number, callback: (error: ZkException | Error | null, path?: string) => void): void
    create(path: string, data: Buffer | null, acls: ReadonlyArray<Acl>, mode: number, callback: (error: ZkException | Error | null, path?: string) => void): void
    addAuthInfo(scheme: string, auth: Buffer): void
    getData(path: string, watcher: Watcher | undefined, callback: (error: ZkException | Error | null, data?: Buffer, stat?: Stat) => void): void
    setData(path: string, data: Buffer | null, version: number, callback: (error: ZkException | Error | null, stat?: Stat) => void): void
    exists(path: string, watcher: Watcher | undefined, callback: (error: ZkException | Error | null, stat?: Stat) => void): void
    getChildren(path: string, watcher: Watcher | undefined, callback: (error: ZkException | Error | null, children?: string[], stat?: Stat) => void): void
    remove(path: string, version: number, callback: (error: ZkException | Error | null) => void): void
    mkdirp(path: string, callback: (error: ZkException | Error | null, path?: string) => void): void
    /** Added by patches/node-zookeeper-client+1.1.3.patch (ZooKeeper's sync, opcode 9). */
    sync(path: string, callback: (error: ZkException | Error | null, path?: string) => void): void
    transaction(): Transaction
  }
  export function createClient(connectionString: string, options?: { sessionTimeout?: number; spinDelay?: number; retries?: number }): Client
  export const ACL: typeof Acl
  export const Permission: { READ: number; WRITE: number; CREATE: number; DELETE: number; ADMIN: number; ALL: number }
  export const CreateMode: { PERSISTENT: number; PERSISTENT_SEQUENTIAL: number; EPHEMERAL: number; EPHEMERAL_SEQUENTIAL: number }
  export const State: Record<"SYNC_CONNECTED" | "DISCONNECTED" | "EXPIRED" | "CONNECTED_READ_ONLY" | "AUTH_FAILED", { name: string; code: number }>
  export const Exception: Record<
    "OK" | "NO_AUTH" | "CONNECTION_LOSS" | "OPERATION_TIMEOUT" | "NO_NODE" | "BAD_VERSION" | "NODE_EXISTS" | "NOT_EMPTY" | "SESSION_EXPIRED" | "RUNTIME_INCONSISTENCY",
    number
  >
  const _default: {
    createClient: typeof createClient
    ACL: typeof Acl
    Id: typeof Id
    Permission: typeof Permission
    CreateMode: typeof CreateMode
    State: typeof State
    Exception: typeof Exception
  }
  export default _default
}
