/**
 * A durable replace makes the directories it had to create durable too: each new directory's entry
 * is in its parent, so the parents up to the first existing one are fsynced (an archive written to
 * a new --dir could otherwise lose the directory, and the file in it, to a power loss).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { nodeFs, nodeFsAsync, parentsToSync, replaceFileDurably, replaceFileDurablyAsync, type DurableFs, type DurableFsAsync } from "./durable-file.ts"

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe("durable replace into directories it creates", () => {
  it("parentsToSync: from the file's directory's parent up to the parent of the first directory created; none when none was", () => {
    expect(parentsToSync("/base/a/b/c", "/base/a")).toEqual(["/base/a/b", "/base/a", "/base"])
    expect(parentsToSync("/base/a", "/base/a")).toEqual(["/base"])
    expect(parentsToSync("/base/a", undefined)).toEqual([])
  })

  it("fsyncs the file's directory and every parent of a directory it created (async and sync), and the file reads back", async () => {
    const base = mkdtempSync(join(tmpdir(), "helios-durable-"))
    dirs.push(base)
    const synced: string[] = []
    const io: DurableFsAsync = {
      ...nodeFsAsync,
      open: async (path, flags, mode) => {
        const handle = await nodeFsAsync.open(path, flags, mode)
        return flags === "r" ? { ...handle, sync: async () => (synced.push(path), handle.sync()), close: () => handle.close(), write: handle.write.bind(handle) } : handle
      },
    }
    const file = join(base, "a", "b", "c", "archive")
    await replaceFileDurablyAsync(file, [Buffer.from("hello")], io)
    expect(readFileSync(file, "utf8")).toBe("hello")
    expect(synced).toEqual([join(base, "a", "b", "c"), join(base, "a", "b"), join(base, "a"), base])

    const syncedSync: string[] = []
    const fds = new Map<number, string>()
    const ioSync: DurableFs = {
      ...nodeFs,
      openSync: (path, flags, mode) => {
        const fd = nodeFs.openSync(path, flags, mode)
        fds.set(fd, path)
        return fd
      },
      fsyncSync: (fd) => {
        if (fds.get(fd) !== undefined && !fds.get(fd)!.includes(".tmp-")) syncedSync.push(fds.get(fd)!)
        nodeFs.fsyncSync(fd)
      },
      writeFileSync: nodeFs.writeFileSync,
      closeSync: nodeFs.closeSync,
      renameSync: nodeFs.renameSync,
      unlinkSync: nodeFs.unlinkSync,
      mkdirSync: nodeFs.mkdirSync,
    }
    replaceFileDurably(join(base, "x", "y", "state.json"), "{}", ioSync)
    expect(syncedSync).toEqual([join(base, "x", "y"), join(base, "x"), base])
  })
})
