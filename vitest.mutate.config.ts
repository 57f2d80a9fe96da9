import { BaseSequencer, type TestSpecification } from "vitest/node"
import { defineConfig } from "vitest/config"

// Test files from the most direct to the broadest: a mutant is usually killed by the unit's own tests,
// and Stryker stops at the first failure, so these run first and the slow, broad ones last.
const order = [
  "test/machines/",
  "test/shared/redactUrl",
  "test/worker/slots/",
  "test/worker/callbacks/",
  "test/worker/autoscaler/",
  "test/worker/lifecycle/Shutdown",
  "test/worker/http/",
  "test/worker/",
  "test/property/pool",
  "test/property/"
]

const rank = (file: TestSpecification): number => {
  const found = order.findIndex((prefix) => file.moduleId.includes(prefix))
  return found < 0 ? order.length : found
}

class MostDirectFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    return [...files].sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId))
  }
}

/**
 * The tests `npm run mutate` (Stryker) runs against each mutant: the in-process ones only. End-to-end
 * tests run the bundled `dist/main.js`, which Stryker does not mutate. Property tests run fewer cases here,
 * from a fixed seed (`npm test` and `npm run fuzz` run the full, unseeded ones).
 */
export default defineConfig({
  test: {
    include: ["test/machines/**/*.test.ts", "test/shared/**/*.test.ts", "test/worker/**/*.test.ts", "test/property/**/*.test.ts"],
    setupFiles: ["test/support/effectValuesInAssert.ts", "test/support/seedFastCheck.ts"],
    // Temporary files in one directory of the run, removed at its end, as `npm test`'s (testTmpdir.ts).
    globalSetup: ["test/support/testTmpdir.ts"],
    env: { FUZZ_RUNS: "100", FUZZ_POOL_RUNS: "50" },
    sequence: { sequencer: MostDirectFirst },
    // One module graph per run instead of one per file: half the time. Each mutant run still starts
    // fresh workers, so a mutant that acts at import time (a static mutant) is seen by every file.
    isolate: false,
    // Every test here runs on TestClock or loopback in well under this; a mutant that hangs one fails fast.
    testTimeout: 5_000,
    hookTimeout: 10_000
  }
})
