/**
 * Which engine answers to a failed pull mean "no such image" (IMAGE_MISSING) and which mean "the
 * pull failed" (IMAGE_PULL_FAILED). The texts are the engine's own (Docker 20.10, recorded from a
 * real pull against a registry that answered each way), plus older engines' 500s.
 */
import { describe, expect, it } from "vitest"
import { classifyPullError } from "./docker-runtime.ts"

describe("classifyPullError", () => {
  it.each([
    [404, "manifest for 127.0.0.1:40895/x/y:1 not found: manifest unknown: manifest unknown"],
    [404, "repository 127.0.0.1:41113/x/y not found: name unknown: repository name not known to registry"],
    [404, "pull access denied for nosuch, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"],
    [404, "anything the engine calls not found"],
    // Old engines answered 500 for everything; errors inside the progress stream have no status.
    [500, "manifest for example.com/x:1 not found: manifest unknown: manifest unknown"],
    [undefined, "manifest unknown"],
  ])("%s %s → missing", (status, message) => expect(classifyPullError(status, message)).toBe("missing"))

  it.each([
    [500, 'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'],
    [500, 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host'],
    [500, "unauthorized: authentication required"],
    [500, "received unexpected HTTP status: 500 Internal Server Error"],
    [500, "toomanyrequests: You have reached your pull rate limit"],
    [undefined, "filesystem layer verification failed for digest sha256:abc"],
    [undefined, "pull timed out after 1000 ms"],
  ])("%s %s → failed", (status, message) => expect(classifyPullError(status, message)).toBe("failed"))
})
