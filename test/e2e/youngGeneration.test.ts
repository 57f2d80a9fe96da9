/**
 * A running worker caps its young generation at `YOUNG_GENERATION_MB` (default 16) and says so in its start-up line,
 * with the size it has then; it leaves V8's own growth with 0, or when the operator gave Node a semi-space option on
 * its command line or in `NODE_OPTIONS`. (That V8 obeys the cap: test/worker/lifecycle/youngGeneration.v8.test.ts.)
 */
import { describe, expect, it } from "vitest"
import { mainJs, spawnProcess } from "../support/process.js"
import { autoscalerPerTest, processes, workerEnv } from "../support/workerProcess.js"

const autoscaler = autoscalerPerTest()

/** What the start-up line says of the young generation, for a worker started with `nodeArgs` and `extra`. */
const saidAtStart = async (extra: Record<string, string>, nodeArgs: ReadonlyArray<string> = []) => {
  const { env } = await workerEnv(autoscaler(), extra)
  const worker = spawnProcess(process.execPath, [...nodeArgs, mainJs], env)
  processes.push(worker)
  const [, quoted, bare] = await worker.waitFor(/young_generation=(?:"([^"]*)"|(\S+))/, 20_000)
  return quoted ?? bare
}

describe("the young generation's cap", () => {
  it("by default: at most 16 MiB, with the size it has at start, no more than that", async () => {
    const said = await saidAtStart({})
    const [, now] = /^at most 16 MiB \(([\d.]+) MiB now\)$/.exec(said ?? "") ?? []
    expect(Number(now)).toBeGreaterThan(0)
    expect(Number(now)).toBeLessThanOrEqual(16)
  })

  it.each([
    [{ YOUNG_GENERATION_MB: "8" }, /^at most 8 MiB \([\d.]+ MiB now\)$/],
    [{ YOUNG_GENERATION_MB: "0" }, /^off$/],
    [{ NODE_OPTIONS: "--max-semi-space-size=8" }, /^as Node was told$/],
    [{ NODE_OPTIONS: '"--max-semi-space-size=8"' }, /^as Node was told$/]
  ])("with %o the start-up line says %s", async (extra, expected) => {
    expect(await saidAtStart(extra)).toMatch(expected)
  })

  it("YOUNG_GENERATION_MB set beside a semi-space option given to Node: the option wins, and a warning says the variable is not used", async () => {
    const { env } = await workerEnv(autoscaler(), { YOUNG_GENERATION_MB: "8", NODE_OPTIONS: "--max-semi-space-size=4" })
    const worker = spawnProcess(process.execPath, [mainJs], env)
    processes.push(worker)
    await worker.waitFor(/young_generation="as Node was told"/, 20_000)
    await worker.waitFor(/level=WARN.*YOUNG_GENERATION_MB is set, but Node was given a semi-space option/, 20_000)
  })

  it("a semi-space option on Node's command line leaves V8's own growth", async () => {
    expect(await saidAtStart({}, ["--max-semi-space-size=8"])).toBe("as Node was told")
  })
})
