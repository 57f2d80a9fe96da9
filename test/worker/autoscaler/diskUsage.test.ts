import { statfsSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { diskUsedGib, diskUsedGibAt } from "../../../src/worker/autoscaler/diskUsage.js"

describe("diskUsedGib", () => {
  it.effect("is the used space on / in GiB: blocks in use times the block size", () =>
    Effect.gen(function* () {
      const used = yield* diskUsedGib
      const stats = statfsSync("/")
      const size = (stats.blocks * stats.bsize) / 2 ** 30
      const free = (stats.bfree * stats.bsize) / 2 ** 30
      // Other processes write meanwhile: a tenth of a GiB either way.
      assert.isBelow(Math.abs(used - (size - free)), 0.1)
    })
  )

  it.effect("is 0, not a failure, when the file system cannot be read", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* diskUsedGibAt("/no/such/directory/for/null-worker"), 0)
    })
  )
})
