/**
 * A running worker caps its young generation at `YOUNG_GENERATION_MB` (default 16), says so in its start-up line,
 * and leaves V8's own growth with 0 or when the operator gave Node a semi-space option. (That V8 obeys the cap:
 * test/worker/lifecycle/youngGeneration.v8.test.ts.)
 */
import { describe, expect, it } from "vitest"
import { autoscalerPerTest, startWorkerProcess } from "../support/workerProcess.js"

const autoscaler = autoscalerPerTest()

const saidAtStart = async (extra: Record<string, string>) => {
  const { worker } = await startWorkerProcess(autoscaler(), extra)
  const [, quoted, bare] = await worker.waitFor(/young_generation=(?:"([^"]*)"|(\S+))/)
  return quoted ?? bare
}

describe("the young generation's cap", () => {
  it.each([
    [{}, "16 MiB"],
    [{ YOUNG_GENERATION_MB: "8" }, "8 MiB"],
    [{ YOUNG_GENERATION_MB: "0" }, "off"],
    [{ NODE_OPTIONS: "--max-semi-space-size=8" }, "as Node was told"]
  ])("with %o the start-up line says %s", async (extra, expected) => {
    expect(await saidAtStart(extra)).toBe(expected)
  })
})
