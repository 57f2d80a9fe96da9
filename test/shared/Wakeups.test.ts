import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, TestClock } from "effect"
import { Wakeups } from "../../src/shared/Wakeups.js"
import { missedWakeups } from "../support/missedWakeups.js"

describe("Wakeups", () => {
  it.effect("until completes at once when its condition holds; otherwise at the first wakeAll after which it does", () =>
    Effect.gen(function* () {
      const wakeups = new Wakeups()
      let count = 0
      yield* wakeups.until(() => true)
      assert.isFalse(wakeups.wakeAll(), "a wait that completed at once joined no list")
      const first = yield* Effect.fork(wakeups.until(() => count >= 2))
      const second = yield* Effect.fork(wakeups.until(() => count >= 1))
      yield* Effect.yieldNow()
      count = 1
      assert.isTrue(wakeups.wakeAll())
      yield* Fiber.join(second)
      assert.isTrue(Option.isNone(yield* Fiber.poll(first)), "still waiting: its condition does not hold yet")
      count = 2
      assert.isTrue(wakeups.wakeAll(), "the first waits on")
      yield* Fiber.join(first)
      assert.isFalse(wakeups.wakeAll())
      const later = yield* Effect.fork(Effect.timeoutOption(wakeups.until(() => count >= 3), "1 second"))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.join(later)))
    })
  )

  it.effect("a wait that is interrupted or times out leaves the list (a stale wake-up would make wakeAll say true)", () =>
    Effect.gen(function* () {
      const wakeups = new Wakeups()
      const waiting = yield* Effect.fork(wakeups.until(() => false))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiting)
      const timed = yield* Effect.fork(Effect.timeoutOption(wakeups.until(() => false), "10 millis"))
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(timed)
      assert.isFalse(wakeups.wakeAll())
    })
  )

  it.effect("a change at any point of a fiber's wait, between any two of its steps, ends the wait (review 39 I6)", () =>
    Effect.gen(function* () {
      const missed = yield* missedWakeups(
        Effect.sync(() => {
          const wakeups = new Wakeups()
          let changed = false
          return {
            wait: wakeups.until(() => changed),
            change: () => {
              changed = true
              wakeups.wakeAll()
            }
          }
        })
      )
      assert.deepStrictEqual(missed, [])
    })
  )
})
