import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { importsOf, importViolations, PRODUCTION_FOLDERS, type SourceFile } from "./import-rules.ts"

const ROOT = fileURLToPath(new URL("..", import.meta.url))

const sourcesOf = (folder: string): SourceFile[] =>
  readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => {
      const path = `${folder}/${f.split("\\").join("/")}`
      return { path, source: readFileSync(join(ROOT, path), "utf8") }
    })

describe("import rules", () => {
  it("hold for the repository: pure domain, master and agent apart, no test code in production", () => {
    const files = PRODUCTION_FOLDERS.flatMap(sourcesOf)
    expect(files.length).toBeGreaterThan(50)
    expect(importViolations(files)).toEqual([])
  })

  it("find imports however they are written, and not in comments", () => {
    const refs = importsOf(
      [
        `import { a, type B, c as d } from "./x.ts"`,
        `import type { E } from "../e.ts"`,
        `import os, { hostname } from "node:os"`,
        `import * as fs from "node:fs"`,
        `import "./side-effect.ts"`,
        `export { f } from "./f.ts"`,
        `export * from "./g.ts"`,
        `import {`,
        `  h,`,
        `} from "./h.ts"`,
        ` * import { nope } from "in-a-comment"`,
        `const z = await import("node:child_process")`,
      ].join("\n"),
    )
    expect(refs.map((r) => [r.specifier, r.names, r.line])).toEqual([
      ["./x.ts", ["a", "B", "c"], 1],
      ["../e.ts", ["E"], 2],
      ["node:os", ["default", "hostname"], 3],
      ["node:fs", ["*"], 4],
      ["./side-effect.ts", ["*"], 5],
      ["./f.ts", ["f"], 6],
      ["./g.ts", ["*"], 7],
      ["./h.ts", ["h"], 8],
      ["node:child_process", ["*"], 12],
    ])
  })

  it("report each broken rule, and exempt test files only from the test-code rule", () => {
    const files: SourceFile[] = [
      { path: "core/ok.ts", source: `import { Schema } from "effect"\nimport { createHash } from "node:crypto"\nimport { isIP } from "node:net"\nimport { x } from "./x.ts"` },
      { path: "core/io.ts", source: `import { readFileSync } from "node:fs"\nimport { randomBytes } from "node:crypto"\nimport { ZkClient } from "../log/zk-client.ts"` },
      { path: "projections/p.ts", source: `import type { State } from "../core/state.ts"\nimport Database from "better-sqlite3"` },
      { path: "master/m.ts", source: `import { collectHostInfo } from "../agent/host-info.ts"` },
      { path: "agent/a.ts", source: `const m = await import("../master/master.ts")` },
      { path: "cli/helpers.ts", source: `import { expect } from "vitest"\nimport { waitFor } from "../test/services.ts"` },
      { path: "cli/x.test.ts", source: `import { expect } from "vitest"\nimport { waitFor } from "../test/services.ts"` },
      { path: "core/y.test.ts", source: `import { readFileSync } from "node:fs"` },
      { path: "master/z.test.ts", source: `import { startAgent } from "../agent/agent.ts"` },
      { path: "bench/b.ts", source: `import { startZooKeeper } from "../test/zookeeper.ts"` },
    ]
    expect(importViolations(files)).toEqual([
      "core/io.ts:1: imports node:fs (core/ is pure: not an allowed module)",
      "core/io.ts:2: imports node:crypto (core/ is pure: only createHash from it, not randomBytes)",
      "core/io.ts:3: imports ../log/zk-client.ts (core/ is pure: it may import only core/)",
      "projections/p.ts:2: imports better-sqlite3 (projections/ is pure: not an allowed module)",
      "master/m.ts:1: imports ../agent/host-info.ts (master/ must not import agent/)",
      "agent/a.ts:1: imports ../master/master.ts (agent/ must not import master/)",
      "cli/helpers.ts:1: imports vitest (production code must not import vitest)",
      "cli/helpers.ts:2: imports ../test/services.ts (production code must not import test/)",
      "master/z.test.ts:1: imports ../agent/agent.ts (master/ must not import agent/)",
    ])
  })
})
