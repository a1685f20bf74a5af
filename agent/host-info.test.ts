import { expect, it } from "vitest"
import { checkHostInfo } from "../core/host-info.ts"
import { collectHostInfo } from "./host-info.ts"
import { MemoryRuntime } from "./memory-runtime.ts"

it("collects a valid host info", async () => {
  const now = Date.now()
  const i = await collectHostInfo({ runtime: new MemoryRuntime(), agentId: "agent-x", startTime: now - 1000, now, labels: { role: "web" }, environment: { A: "1" } })
  expect(checkHostInfo(i)).toBeUndefined()
  expect(i.cpus).toBeGreaterThan(0)
  expect(i.dockerVersion?.version).toBe("memory")
  expect(i.uptimeMs).toBe(1000)
})
