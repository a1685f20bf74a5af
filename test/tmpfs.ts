/**
 * Small tmpfs mounts for tests of a full or read-only disk (needs root and CAP_SYS_ADMIN; tests
 * skip themselves when `canMountTmpfs` is false).
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface SmallDisk {
  readonly dir: string
  /** Unmounts (lazily, so an open file cannot keep it) and removes the mount point. */
  remove(): void
}

/** Mounts a tmpfs of `size` (e.g. "1m") on a fresh temp dir. */
export const mountSmallDisk = (size: string): SmallDisk => {
  const dir = mkdtempSync(join(tmpdir(), "helios-disk-"))
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" })
  } catch (e) {
    rmdirSync(dir)
    throw e
  }
  return {
    dir,
    remove: () => {
      execFileSync("umount", ["-l", dir], { stdio: "pipe" })
      rmdirSync(dir)
    },
  }
}

/** Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN). */
export const canMountTmpfs = ((): boolean => {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false
  try {
    mountSmallDisk("64k").remove()
    return true
  } catch {
    return false
  }
})()

/** Writes files into `dir` until the disk refuses another byte; returns their names. */
export const fillDisk = (dir: string): string[] => {
  const files: string[] = []
  for (const chunk of [64 * 1024, 4096, 512, 1])
    for (;;) {
      const file = join(dir, `filler-${files.length}`)
      try {
        writeFileSync(file, Buffer.alloc(chunk, 1))
        files.push(file)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e
        break
      }
    }
  return files
}

/** Remounts a mounted disk read-only (EBUSY while any process has a file open for writing there). */
export const remountReadOnly = (dir: string): void => {
  execFileSync("mount", ["-o", "remount,ro", dir], { stdio: "pipe" })
}
