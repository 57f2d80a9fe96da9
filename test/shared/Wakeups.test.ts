import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, TestClock } from "effect"
import { Wakeups } from "../../src/shared/Wakeups.js"

describe("Wakeups", () => {
  it.effect("wakeAll wakes every waiting fiber once and says whether there was one; a later wait waits for the next", () =>
    Effect.gen(function* () {
      const wakeups = new Wakeups()
      assert.isFalse(wakeups.wakeAll())
      const first = yield* Effect.fork(wakeups.wait)
      const second = yield* Effect.fork(wakeups.wait)
      yield* Effect.yieldNow()
      assert.isTrue(wakeups.wakeAll())
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.isFalse(wakeups.wakeAll())
      const later = yield* Effect.fork(Effect.timeoutOption(wakeups.wait, "1 second"))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.join(later)))
    })
  )

  it.effect("a wait that is interrupted or times out leaves the list (a stale wake-up would make wakeAll say true)", () =>
    Effect.gen(function* () {
      const wakeups = new Wakeups()
      const waiting = yield* Effect.fork(wakeups.wait)
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiting)
      const timed = yield* Effect.fork(Effect.timeoutOption(wakeups.wait, "10 millis"))
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(timed)
      assert.isFalse(wakeups.wakeAll())
    })
  )
})
