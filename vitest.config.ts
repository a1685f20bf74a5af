import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Real ZooKeeper and Docker tests share one engine: keep files parallel but modest on 2 cores.
    maxWorkers: 2,
  },
})
