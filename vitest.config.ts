import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/support/effectValuesInAssert.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: end-to-end tests spawn processes, so files run two at a time at most.
    maxWorkers: 2,
    minWorkers: 1
  }
})
