import { randomBytes } from "node:crypto"
import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs"
import { dirname, join } from "node:path"
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from "../log/durable-file.ts"

/*
 * The agent's state dir: its id, a lock, and the files that let it work without the log
 * (desired-state snapshot + host stream checkpoint, executions with port allocations, last
 * reported task statuses, the outbox of transitions not yet appended).
 */

export class StateDirLocked extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`state dir ${dir} is in use by another agent (pid ${pid})`)
    this.name = "StateDirLocked"
  }
}

const pidAlive = (pid: number): boolean => {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Locks held by this process, so a second agent in the same process is refused too. */
const heldHere = new Set<string>()

/**
 * Takes `<dir>/lock` with O_EXCL, writing our pid. A lock whose pid is dead is stale and taken over.
 * Returns the release function.
 */
export const acquireLock = (dir: string): (() => void) => {
  const file = join(dir, "lock")
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(file, "wx", PRIVATE_FILE_MODE)
      writeSync(fd, `${process.pid}\n`)
      fsyncSync(fd)
      closeSync(fd)
      heldHere.add(file)
      let released = false
      return () => {
        if (released) return
        released = true
        heldHere.delete(file)
        try {
          if (Number(readFileSync(file, "utf8").trim()) === process.pid) unlinkSync(file)
        } catch {
          // already gone
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      let pid = NaN
      try {
        pid = Number(readFileSync(file, "utf8").trim())
      } catch {
        continue // removed under us: try again
      }
      const holder = pid === process.pid ? heldHere.has(file) : pidAlive(pid)
      if (holder) throw new StateDirLocked(dir, pid)
      // Stale: its owner died. Move it aside atomically (only one taker wins the rename), then retry.
      const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString("hex")}`
      try {
        renameSync(file, aside)
        if (Number(readFileSync(aside, "utf8").trim()) !== pid) {
          // We moved a lock another agent had just taken: give it back (link fails if one exists again).
          try {
            linkSync(aside, file)
          } catch {
            // a third agent holds it now; fine
          }
        }
        unlinkSync(aside)
      } catch {
        // another agent won the race; the next attempt tells
      }
    }
  }
  throw new Error(`could not take the lock ${file}`)
}

/** Writes JSON so that a crash leaves either the old or the new content: temp file, fsync, rename. */
/** Opens `tmp` for writing, creating its directory when it is missing (not on every write: a mkdir per
 * state write was a tenth of a thousand simulated agents' CPU). */
const openCreating = (tmp: string): number => {
  try {
    return openSync(tmp, "w", PRIVATE_FILE_MODE)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
    mkdirSync(dirname(tmp), { recursive: true, mode: PRIVATE_DIR_MODE })
    return openSync(tmp, "w", PRIVATE_FILE_MODE)
  }
}

/** Replaces `file` with `value` (temp file, rename): never half written; fsynced unless `durable` is false. */
export const writeJsonAtomic = (file: string, value: unknown, { durable = true }: { readonly durable?: boolean } = {}): void => {
  const tmp = `${file}.tmp-${process.pid}`
  const fd = openCreating(tmp)
  try {
    writeSync(fd, JSON.stringify(value))
    if (durable) fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

export const readJson = <T>(file: string): T | undefined => {
  if (!existsSync(file)) return undefined
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T
  } catch {
    return undefined
  }
}

/** Appends one JSON line with a single write (a torn last line after a crash is skipped on read). */
export const appendJsonLine = (file: string, value: unknown): void => {
  appendFileSync(file, JSON.stringify(value) + "\n", { mode: PRIVATE_FILE_MODE })
}

export const readJsonLines = <T>(file: string): T[] => {
  if (!existsSync(file)) return []
  const out: T[] = []
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue
    try {
      out.push(JSON.parse(line) as T)
    } catch {
      // a torn write at the end: ignore
    }
  }
  return out
}

const AGENT_ID = /^[0-9a-f]{40}$/

/** The agent id in `<dir>/id`: 20 random bytes in hex, created on first start. */
export const loadOrCreateAgentId = (dir: string, pinned?: string): string => {
  const file = join(dir, "id")
  if (existsSync(file)) {
    const id = readFileSync(file, "utf8").trim()
    if (pinned !== undefined && pinned !== id) throw new Error(`state dir ${dir} belongs to agent ${id}, not ${pinned}`)
    if (id !== "") return id
  }
  const id = pinned ?? randomBytes(20).toString("hex")
  if (pinned === undefined && !AGENT_ID.test(id)) throw new Error("bad random id")
  writeJsonAtomicText(file, id + "\n")
  return id
}

const writeJsonAtomicText = (file: string, text: string): void => {
  const tmp = `${file}.tmp-${process.pid}`
  const fd = openSync(tmp, "w", PRIVATE_FILE_MODE)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

export interface StateDir {
  readonly dir: string
  readonly agentId: string
  file(name: string): string
  release(): void
}

/** Creates the dir if needed, takes its lock and loads (or creates) the agent id. */
export const openStateDir = (dir: string, pinnedId?: string): StateDir => {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  const release = acquireLock(dir)
  try {
    const agentId = loadOrCreateAgentId(dir, pinnedId)
    return { dir, agentId, file: (name) => join(dir, name), release }
  } catch (e) {
    release()
    throw e
  }
}
