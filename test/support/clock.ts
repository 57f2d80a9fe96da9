import { Clock, Duration, Effect, Fiber, Option, TestClock } from "effect"

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

/**
 * `clock`'s timers, read through `wall` (what `currentTimeMillis` shows) and `monotonic` (what `currentTimeNanos`
 * shows, in milliseconds), each given the clock's own milliseconds: a wall clock stepped or running slow beside timers
 * that are not.
 */
export const readThrough = (
  clock: Clock.Clock,
  wall: (millis: number) => number,
  monotonic: (millis: number) => number = (millis) => millis
): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => wall(clock.unsafeCurrentTimeMillis()),
  currentTimeMillis: Effect.map(clock.currentTimeMillis, wall),
  unsafeCurrentTimeNanos: () => BigInt(Math.round(monotonic(clock.unsafeCurrentTimeMillis()) * 1e6)),
  currentTimeNanos: Effect.map(clock.currentTimeMillis, (millis) => BigInt(Math.round(monotonic(millis) * 1e6))),
  sleep: (duration) => clock.sleep(duration)
})
