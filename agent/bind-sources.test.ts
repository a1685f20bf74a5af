/**
 * The agent checks a job's bind-mount sources as they resolve on its host (Docker follows symlinks
 * when it mounts): a symlink under an allowed prefix does not lead past the policy.
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { DEFAULT_CONTAINER_POLICY } from "../core/container-policy.ts"
import { aJob } from "../test/fixtures.ts"
import { policyViolationsOnThisHost, realHostPath } from "./bind-sources.ts"

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
/** <tmp>/allowed (the prefix a policy allows) and <tmp>/secret beside it. */
const hostFiles = () => {
  const base = realpathSync(mkdtempSync(join(tmpdir(), "helios-bind-")))
  dirs.push(base)
  mkdirSync(join(base, "allowed", "data"), { recursive: true })
  mkdirSync(join(base, "secret"))
  return { base, allowed: join(base, "allowed"), policy: { ...DEFAULT_CONTAINER_POLICY, allowedBindMounts: [join(base, "allowed")] } }
}

describe("bind-mount sources on this host", () => {
  it("a symlink under an allowed prefix that leads out of it (left there by an earlier job) is refused, naming the field", () => {
    const { base, allowed, policy } = hostFiles()
    symlinkSync(join(base, "secret"), join(allowed, "to-secret"))
    symlinkSync("/", join(allowed, "to-root"))
    const job = aJob({ id: "a:v1", volumes: { "/a": join(allowed, "to-secret"), "/b": join(allowed, "to-root", "etc"), "/c": join(allowed, "data") } })
    const refused = policyViolationsOnThisHost(job, policy)
    expect(refused.map((e) => e.field)).toEqual(["volumes./a", "volumes./b"])
    expect(refused[0]!.message).toContain("through a symlink")
    // As written, every source is under the allowed prefix: only the host's files tell.
    expect(policyViolationsOnThisHost({ ...job, volumes: { "/c": join(allowed, "data") } }, policy)).toEqual([])
  })

  it("resolves `..` after a symlink as the kernel does, and keeps a part that does not exist yet (Docker creates it)", () => {
    const { base, allowed, policy } = hostFiles()
    mkdirSync(join(base, "secret", "inner"))
    symlinkSync(join(base, "secret", "inner"), join(allowed, "deep"))
    expect(realHostPath(`${allowed}/deep/..`)).toBe(join(base, "secret"))
    expect(realHostPath(join(allowed, "data", "not-yet", "x"))).toBe(join(allowed, "data", "not-yet", "x"))
    expect(policyViolationsOnThisHost(aJob({ id: "a:v1", volumes: { "/x": `${allowed}/deep/..` } }), policy).map((e) => e.field)).toEqual(["volumes./x"])
    expect(policyViolationsOnThisHost(aJob({ id: "a:v1", volumes: { "/x": join(allowed, "data", "new") } }), policy)).toEqual([])
  })
})
