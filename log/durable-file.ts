import * as fs from "node:fs"
import { dirname } from "node:path"

/*
 * Replacing a file so that a crash or power loss leaves either the old or the new content, whole:
 * write a temp file, fsync it, rename it over the target, fsync the directory (the rename itself
 * is only durable once the directory is). Shared by the master's snapshots and the agent's outbox;
 * the file-system calls come through a port so tests can see their order.
 */

/** The file-system calls a durable replace makes (node:fs fits). */
export interface DurableFs {
  openSync(path: string, flags: string, mode?: number): number
  writeFileSync(fd: number, data: string | Uint8Array): void
  fsyncSync(fd: number): void
  closeSync(fd: number): void
  renameSync(from: string, to: string): void
  unlinkSync(path: string): void
  mkdirSync(path: string, options: { recursive: true }): unknown
}

export const nodeFs: DurableFs = fs

const fsyncPath = (io: DurableFs, path: string, flags: string): void => {
  const fd = io.openSync(path, flags)
  try {
    io.fsyncSync(fd)
  } finally {
    io.closeSync(fd)
  }
}

/** Atomically and durably replaces `file` with `data`; a failure leaves the old file and no temp file. */
export const replaceFileDurably = (file: string, data: string | Uint8Array, io: DurableFs = nodeFs): void => {
  const dir = dirname(file)
  io.mkdirSync(dir, { recursive: true })
  const tmp = `${file}.tmp-${process.pid}`
  try {
    const fd = io.openSync(tmp, "w", 0o644)
    try {
      io.writeFileSync(fd, data)
      io.fsyncSync(fd)
    } finally {
      io.closeSync(fd)
    }
    io.renameSync(tmp, file)
  } catch (e) {
    try {
      io.unlinkSync(tmp)
    } catch {
      // never created, or already renamed
    }
    throw e
  }
  fsyncPath(io, dir, "r")
}
