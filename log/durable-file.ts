import * as fs from "node:fs"
import { dirname } from "node:path"

/*
 * Replacing a file so that a crash or power loss leaves either the old or the new content, whole:
 * write a temp file, fsync it, rename it over the target, fsync the directory (the rename itself
 * is only durable once the directory is). Shared by the master's snapshots and the agent's outbox;
 * the file-system calls come through a port so tests can see their order.
 */

/**
 * What Helios writes to disk holds fleet data — jobs' env and tokens among it (snapshots,
 * checkpoints, an agent's desired state and outbox, archives): readable by its owner only, in
 * directories created for it alone.
 */
export const PRIVATE_FILE_MODE = 0o600
export const PRIVATE_DIR_MODE = 0o700

/** The file-system calls a durable replace makes (node:fs fits). */
export interface DurableFs {
  openSync(path: string, flags: string, mode?: number): number
  writeFileSync(fd: number, data: string | Uint8Array): void
  fsyncSync(fd: number): void
  closeSync(fd: number): void
  renameSync(from: string, to: string): void
  unlinkSync(path: string): void
  mkdirSync(path: string, options: { recursive: true; mode?: number }): unknown
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

/**
 * The directories to fsync, beyond `dir` itself, so that directories `mkdir -p` just created are
 * durable too: each created one's entry is in its parent, from `dir`'s parent up to the parent of
 * the first one created (`created`, what a recursive mkdir answers; undefined: none was). Without
 * them a power loss could take a new archive directory, and the file in it, with it.
 */
export const parentsToSync = (dir: string, created: unknown): string[] => {
  if (typeof created !== "string") return []
  const out: string[] = []
  for (let d = dirname(dir); ; d = dirname(d)) {
    out.push(d)
    if (d === dirname(created) || d === dirname(d)) return out
  }
}

/** Atomically and durably replaces `file` with `data`; a failure leaves the old file and no temp file. */
export const replaceFileDurably = (file: string, data: string | Uint8Array, io: DurableFs = nodeFs): void => {
  const dir = dirname(file)
  const created = io.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  const tmp = `${file}.tmp-${process.pid}`
  try {
    const fd = io.openSync(tmp, "w", PRIVATE_FILE_MODE)
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
  for (const parent of parentsToSync(dir, created)) fsyncPath(io, parent, "r")
}

/** An open file, as a durable replace writes it (node:fs/promises' FileHandle fits). */
export interface DurableFileHandle {
  write(data: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>
  sync(): Promise<void>
  close(): Promise<void>
}

/** The asynchronous file-system calls a durable replace makes (node:fs/promises fits). */
export interface DurableFsAsync {
  open(path: string, flags: string, mode?: number): Promise<DurableFileHandle>
  rename(from: string, to: string): Promise<void>
  unlink(path: string): Promise<void>
  mkdir(path: string, options: { recursive: true; mode?: number }): Promise<unknown>
}

export const nodeFsAsync: DurableFsAsync = {
  open: (path, flags, mode) => fs.promises.open(path, flags, mode),
  rename: (from, to) => fs.promises.rename(from, to),
  unlink: (path) => fs.promises.unlink(path),
  mkdir: (path, options) => fs.promises.mkdir(path, options),
}

/** Chunks are written about this many bytes at a time (small ones joined). */
const WRITE_BYTES = 1 << 20

/**
 * replaceFileDurably without blocking the event loop (the writes and fsyncs run on libuv's
 * threads): for large files written while serving, e.g. a master's snapshot. The data comes as
 * chunks, in order (produced as they are written when an async iterable: an archive of hundreds of
 * MiB is never held whole), written as they are (small ones joined up to ~1 MiB).
 */
export const replaceFileDurablyAsync = async (
  file: string,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  io: DurableFsAsync = nodeFsAsync,
  mode = PRIVATE_FILE_MODE,
): Promise<void> => {
  const dir = dirname(file)
  const created = await io.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  const tmp = `${file}.tmp-${process.pid}`
  try {
    const handle = await io.open(tmp, "w", mode)
    try {
      const writeAll = async (data: Uint8Array) => {
        for (let offset = 0; offset < data.length; ) offset += (await handle.write(data, offset, data.length - offset)).bytesWritten
      }
      let group: Uint8Array[] = []
      let size = 0
      const flush = async () => {
        if (group.length === 0) return
        await writeAll(group.length === 1 ? group[0]! : Buffer.concat(group, size))
        group = []
        size = 0
      }
      for await (const chunk of chunks) {
        if (size + chunk.length > WRITE_BYTES) await flush()
        if (chunk.length >= WRITE_BYTES) await writeAll(chunk)
        else {
          group.push(chunk)
          size += chunk.length
        }
      }
      await flush()
      await handle.sync()
    } finally {
      await handle.close()
    }
    await io.rename(tmp, file)
  } catch (e) {
    await io.unlink(tmp).catch(() => undefined)
    throw e
  }
  for (const d of [dir, ...parentsToSync(dir, created)]) {
    const handle = await io.open(d, "r")
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }
}
