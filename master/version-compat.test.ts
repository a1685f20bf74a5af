import { describe, expect, it } from "vitest"
import { compareVersions, formatPomVersion, parsePomVersion, refusalCodeOf, versionStatusOf, type PomVersion } from "./version-compat.ts"

const v = (text: string): PomVersion => {
  const parsed = parsePomVersion(text)
  if (!parsed) throw new Error(`bad version in test: ${text}`)
  return parsed
}

describe("Helios version compatibility", () => {
  const server = v("0.9.282")

  it("parses n.n.n and n.n.n-SNAPSHOT, and nothing else", () => {
    expect(parsePomVersion("0.9.282")).toEqual({ major: 0, minor: 9, patch: 282, snapshot: false })
    expect(parsePomVersion("1.2.3-SNAPSHOT")).toEqual({ major: 1, minor: 2, patch: 3, snapshot: true })
    for (const bad of ["", "1.2", "1.2.3.4", "a.b.c", "1.2.3-rc1", "1..3", " 1.2.3", "1.2.3-snapshot", "99999999999.0.0"])
      expect(parsePomVersion(bad), bad).toBeUndefined()
    expect(formatPomVersion(v("1.2.3-SNAPSHOT"))).toBe("1.2.3-SNAPSHOT")
  })

  it("EQUAL only when major, minor, patch and the snapshot flag all match", () => {
    expect(compareVersions(server, v("0.9.282"))).toBe("EQUAL")
    expect(compareVersions(server, v("0.9.282-SNAPSHOT"))).toBe("COMPATIBLE")
  })

  it("COMPATIBLE for an older minor, or the same minor with another patch (older or newer)", () => {
    expect(compareVersions(server, v("0.8.999"))).toBe("COMPATIBLE")
    expect(compareVersions(server, v("0.9.1"))).toBe("COMPATIBLE")
    expect(compareVersions(server, v("0.9.300"))).toBe("COMPATIBLE")
  })

  it("MAYBE for a newer minor within the same major", () => {
    expect(compareVersions(server, v("0.10.0"))).toBe("MAYBE")
  })

  it("INCOMPATIBLE for another major, older or newer", () => {
    expect(compareVersions(server, v("1.0.0"))).toBe("INCOMPATIBLE")
    expect(compareVersions(v("2.0.0"), v("1.99.99"))).toBe("INCOMPATIBLE")
  })

  it("MISSING without a header, INVALID for a malformed (or empty) one; 426 and 400 refuse the request", () => {
    expect(versionStatusOf(server, undefined)).toBe("MISSING")
    expect(versionStatusOf(server, "")).toBe("INVALID")
    expect(versionStatusOf(server, "latest")).toBe("INVALID")
    expect(versionStatusOf(server, "0.9.282")).toBe("EQUAL")
    expect(refusalCodeOf("INVALID")).toBe(400)
    expect(refusalCodeOf("INCOMPATIBLE")).toBe(426)
    for (const s of ["EQUAL", "COMPATIBLE", "MAYBE", "MISSING"] as const) expect(refusalCodeOf(s)).toBeUndefined()
  })
})
