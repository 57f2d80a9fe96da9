import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/support/effectValuesInAssert.ts", "test/support/noProcessLeftBehind.ts"],
    // dist/ built once before every file when missing; no file builds on its own (buildOnce.ts says why). Temporary
    // files in one directory of the run, removed at its end (testTmpdir.ts).
    globalSetup: ["test/support/buildOnce.ts", "test/support/testTmpdir.ts"],
    // A bound against a hang, not a speed check: a test that runs real processes one after another can take several
    // times its usual few seconds on a busy 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: end-to-end tests spawn processes, so files run two at a time at most.
    maxWorkers: 2,
    minWorkers: 1
  }
})
