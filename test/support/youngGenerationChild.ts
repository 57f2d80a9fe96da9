/**
 * Run in a fresh Node (test/worker/lifecycle/youngGeneration.v8.test.ts bundles it): the young generation's size
 * before, at the end of bulk surviving work under the cap, and after the same work once the cap's scope closed.
 */
import { Effect } from "effect"
import { capYoungGeneration, v8Heap } from "../../src/worker/lifecycle/youngGeneration.js"

const MiB = 1024 * 1024

/** Allocate ~`megabytes` MiB, keeping the last 2 MiB or so reachable: each scavenge finds them alive and copies them. */
const churn = (megabytes: number): number => {
  const kept: Array<Array<number>> = new Array(16_384)
  for (let i = 0; i < megabytes * 8_192; i++) kept[i % kept.length] = [i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7, i + 8, i + 9, i + 10, i + 11]
  return kept.length
}

const program = Effect.gen(function* () {
  const before = v8Heap.youngBytes()
  const capped = yield* Effect.scoped(
    Effect.gen(function* () {
      const cap = yield* capYoungGeneration(Math.ceil(before / MiB), v8Heap)
      churn(200)
      return { cap: cap._tag, young: v8Heap.youngBytes() }
    })
  )
  churn(200)
  return { before, capped, after: v8Heap.youngBytes() }
})

Effect.runPromise(program).then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
