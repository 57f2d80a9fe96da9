/**
 * Run in a fresh Node (test/worker/lifecycle/youngGeneration.v8.test.ts bundles it): the young generation's size
 * before, the sizes it took under a cap of twice that while surviving work ran in chunks (the event loop turning
 * between them, so that the `gc` observer runs), and the sizes it took under the same work once the cap's scope closed.
 */
import { Effect } from "effect"
import { capYoungGeneration, v8Heap } from "../../src/worker/lifecycle/youngGeneration.js"

const MiB = 1024 * 1024

/** Allocate ~1 MiB, keeping the last 2 MiB or so reachable across calls: each scavenge finds them alive and copies them. */
const kept: Array<Array<number>> = new Array(16_384)
let next = 0
const churnOneMiB = () => {
  for (let i = 0; i < 8_192; i++, next++) kept[next % kept.length] = [i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7, i + 8, i + 9, i + 10, i + 11]
}

/** `megabytes` chunks of surviving work, a turn of the event loop after each; the distinct sizes seen, in order. */
const churn = (megabytes: number) =>
  Effect.gen(function* () {
    const sizes: Array<number> = []
    for (let i = 0; i < megabytes; i++) {
      churnOneMiB()
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      const size = v8Heap.youngBytes()
      if (sizes.at(-1) !== size) sizes.push(size)
    }
    return sizes
  })

const program = Effect.gen(function* () {
  const before = v8Heap.youngBytes()
  const capped = yield* Effect.scoped(
    Effect.gen(function* () {
      const cap = yield* capYoungGeneration((2 * before) / MiB, v8Heap)
      return { cap: cap._tag, sizes: yield* churn(300) }
    })
  )
  return { before, capped, after: yield* churn(300) }
})

Effect.runPromise(program).then((result) => process.stdout.write(`${JSON.stringify(result)}\n`))
