import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { eventLogConformance } from "../test/log-conformance.ts"
import { SqliteEventLog } from "./sqlite-log.ts"

const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))

eventLogConformance("embedded SQLite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "helios-sqlite-log-"))
  dirs.push(dir)
  const file = join(dir, "events.db")
  const log = new SqliteEventLog(file)
  return {
    log,
    segmentSize: 4,
    openAnother: async () => new SqliteEventLog(file),
    reopen: async () => {
      await log.close()
      return new SqliteEventLog(file)
    },
  }
})
