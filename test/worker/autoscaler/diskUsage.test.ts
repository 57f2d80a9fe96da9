import { execFileSync } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { diskUsedGib, diskUsedGibAt } from "../../../src/worker/autoscaler/diskUsage.js"

describe("diskUsedGib", () => {
  it.effect("is the used space on / in GiB, as df counts it (psutil's `used`, which the Python worker reports)", () =>
    Effect.gen(function* () {
      const used = yield* diskUsedGib
      // df's own count, from outside the code under test (review 49 I5: the test recomputed the code's formula).
      const [, line] = execFileSync("df", ["-B1", "--output=used", "/"], { encoding: "utf8" }).trim().split("\n")
      const dfUsed = Number(line?.trim()) / 2 ** 30
      assert.isTrue(Number.isFinite(dfUsed) && dfUsed > 0, line)
      // Other processes write meanwhile: a tenth of a GiB either way.
      assert.isBelow(Math.abs(used - dfUsed), 0.1)
    })
  )

  it.effect("is 0, not a failure, when the file system cannot be read", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* diskUsedGibAt("/no/such/directory/for/null-worker"), 0)
    })
  )
})
