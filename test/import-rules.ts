/*
 * The house's import rules, checked on the source text (test/architecture.test.ts runs them on the
 * tree): the domain (core/, projections/) imports nothing that does I/O, master/ and agent/ do not
 * import each other (facts meet in the log, not in code), and production code never imports test
 * code. Pure functions over { path, source } so the rules themselves can be tested.
 */
import { posix } from "node:path"

export interface SourceFile {
  /** Relative to the repository root, with `/` separators, e.g. `core/job.ts`. */
  readonly path: string
  readonly source: string
}

export interface ImportRef {
  readonly specifier: string
  /** Imported names (`default` for a default import); `*` for a namespace, side-effect or dynamic import. */
  readonly names: ReadonlyArray<string>
  readonly line: number
}

export const PRODUCTION_FOLDERS = ["core", "projections", "master", "agent", "cli", "log"] as const

/**
 * Everything outside the repository that core/ and projections/ may import, with the names they
 * may take from it (`*`: any). node:crypto and node:net give pure functions too, but their other
 * exports are I/O or randomness, so only the pure ones are listed.
 */
const PURE_MODULES: Readonly<Record<string, ReadonlyArray<string>>> = {
  effect: ["*"],
  "effect/schema": ["*"],
  msgpackr: ["*"],
  "node:crypto": ["createHash"],
  "node:net": ["isIP"],
}

/** Which folders of the repository each pure folder may import from. */
const PURE_FOLDERS: Readonly<Record<string, ReadonlyArray<string>>> = {
  core: ["core"],
  projections: ["core", "projections"],
}

/** The test harness: what production code must never import. */
const TEST_ONLY_MODULES = ["vitest", "fast-check"]

const isTestFile = (path: string): boolean => path.endsWith(".test.ts")

const topFolder = (path: string): string => path.split("/")[0] ?? ""

/** The names an import clause binds, e.g. `type A, { b as c, type D }` → default, b, D. */
const namesOf = (clause: string): string[] => {
  const c = clause.replace(/^type\s+/, "").trim()
  if (c.startsWith("*")) return ["*"]
  const names: string[] = []
  const braces = /\{([^}]*)\}/.exec(c)
  const before = (braces === null ? c : c.slice(0, braces.index)).replace(/,\s*$/, "").trim()
  if (before !== "") names.push("default")
  if (braces !== null)
    for (const part of braces[1]!.split(",")) {
      const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0]!.trim()
      if (name !== "") names.push(name)
    }
  return names
}

const lineAt = (source: string, index: number): number => source.slice(0, index).split("\n").length

/**
 * The import specifiers of a module: static imports and re-exports (at the start of a line, so
 * text in comments and strings is not taken for one) and dynamic `import("…")`.
 */
export const importsOf = (source: string): ImportRef[] => {
  const refs: ImportRef[] = []
  const statics = /^[ \t]*(import|export)\s+([^;"'`=()]*?)\s*\bfrom\s*["']([^"']+)["']|^[ \t]*import\s*["']([^"']+)["']/gm
  for (const m of source.matchAll(statics)) {
    if (m[4] !== undefined) refs.push({ specifier: m[4], names: ["*"], line: lineAt(source, m.index) })
    else refs.push({ specifier: m[3]!, names: m[1] === "export" && m[2]!.trim().startsWith("*") ? ["*"] : namesOf(m[2]!), line: lineAt(source, m.index) })
  }
  for (const m of source.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g))
    refs.push({ specifier: m[1]!, names: ["*"], line: lineAt(source, m.index) })
  return refs
}

/** Where a specifier points: a repository path for relative ones, else the package/module name. */
const target = (from: string, specifier: string): { readonly local: boolean; readonly path: string } =>
  specifier.startsWith(".")
    ? { local: true, path: posix.normalize(posix.join(posix.dirname(from), specifier)) }
    : { local: false, path: specifier }

/** Every broken rule, one line each (`path:line: what`); empty when the files keep the rules. */
export const importViolations = (files: ReadonlyArray<SourceFile>): string[] => {
  const out: string[] = []
  for (const file of files) {
    const folder = topFolder(file.path)
    if (!(PRODUCTION_FOLDERS as ReadonlyArray<string>).includes(folder)) continue
    for (const ref of importsOf(file.source)) {
      const t = target(file.path, ref.specifier)
      const to = t.local ? topFolder(t.path) : undefined
      const at = `${file.path}:${ref.line}: imports ${ref.specifier}`
      const pure = PURE_FOLDERS[folder]
      if (pure !== undefined && !isTestFile(file.path)) {
        if (t.local && !pure.includes(to!)) out.push(`${at} (${folder}/ is pure: it may import only ${pure.join("/, ")}/)`)
        if (!t.local) {
          const allowed = PURE_MODULES[t.path]
          if (allowed === undefined) out.push(`${at} (${folder}/ is pure: not an allowed module)`)
          else if (!allowed.includes("*")) {
            const extra = ref.names.filter((n) => !allowed.includes(n))
            if (extra.length > 0) out.push(`${at} (${folder}/ is pure: only ${allowed.join(", ")} from it, not ${extra.join(", ")})`)
          }
        }
      }
      if (folder === "master" && to === "agent") out.push(`${at} (master/ must not import agent/)`)
      if (folder === "agent" && to === "master") out.push(`${at} (agent/ must not import master/)`)
      if (!isTestFile(file.path)) {
        if (to === "test") out.push(`${at} (production code must not import test/)`)
        const pkg = t.local ? undefined : t.path.split("/")[0]
        if (pkg !== undefined && TEST_ONLY_MODULES.includes(pkg)) out.push(`${at} (production code must not import ${pkg})`)
      }
    }
  }
  return out
}
