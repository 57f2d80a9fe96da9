import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Effect, Fiber, Option, Ref, TestClock } from "effect"
import { restartOnDefect } from "../../src/shared/restartOnDefect.js"

describe("restartOnDefect", () => {
  it.effect("a loop that dies is said, then run again after the pause; it ends when the loop ends", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make<ReadonlyArray<number>>([])
      const said = yield* Ref.make<ReadonlyArray<string>>([])
      const loop = Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const before = yield* Ref.getAndUpdate(runs, (all) => [...all, now])
        if (before.length < 2) return yield* Effect.die(new Error(`bug ${before.length + 1}`))
      })
      const fiber = yield* Effect.fork(
        restartOnDefect(loop, "3 seconds", (cause) => Ref.update(said, (all) => [...all, Cause.pretty(cause).split("\n")[0] ?? ""]))
      )
      yield* TestClock.adjust("2999 millis")
      assert.deepStrictEqual(yield* Ref.get(runs), [0])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Ref.get(runs), [0, 3_000])
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(runs), [0, 3_000, 6_000])
      assert.deepStrictEqual(yield* Ref.get(said), ["Error: bug 1", "Error: bug 2"])
    })
  )

  it.effect("interruption stops it, and is not taken for a defect", () =>
    Effect.gen(function* () {
      const said = yield* Ref.make(0)
      const fiber = yield* Effect.fork(restartOnDefect(Effect.never, "1 second", () => Ref.update(said, (n) => n + 1)))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(fiber)
      assert.isTrue(Option.isSome(yield* Fiber.poll(fiber)))
      assert.strictEqual(yield* Ref.get(said), 0)
    })
  )
})
