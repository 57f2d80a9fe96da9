import { defineConfig } from "vitest/config"
export default defineConfig({
  test: {
    include: ["test/worker/http/onePerTurn.test.ts", "test/worker/auth/SignatureVerifier.test.ts", "test/worker/callbacks/OutboxJournal.test.ts", "test/protocol/callback.test.ts", "test/worker/slots/SlotPool.test.ts"],
    setupFiles: ["test/support/effectValuesInAssert.ts", "test/support/seedFastCheck.ts"],
    globalSetup: ["test/support/testTmpdir.ts"],
    env: { FUZZ_RUNS: "100", FUZZ_POOL_RUNS: "50" },
    isolate: false,
    testTimeout: 5_000
  }
})
