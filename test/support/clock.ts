import { Duration, Effect, Fiber, Option, TestClock } from "effect"

/**
 * Move the TestClock forward in `step`s until `fiber` ends (at most `limit` steps), letting other
 * fibers run between steps: for work that starts its own sleeps only after some scheduling.
 */
export const advanceUntilDone = <A, E>(
  fiber: Fiber.Fiber<A, E>,
  step: Duration.DurationInput = "100 millis",
  limit = 1000
) =>
  Effect.gen(function* () {
    for (let i = 0; i < limit; i++) {
      yield* Effect.yieldNow()
      if (Option.isSome(yield* Fiber.poll(fiber))) break
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })
