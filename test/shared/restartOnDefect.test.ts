import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Fiber, Option, Ref, TestClock } from "effect"
import { describeRestart, type Restart, restartOnDefect } from "../../src/shared/restartOnDefect.js"

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
        restartOnDefect(loop, "3 seconds", (cause, restart) =>
          Ref.update(said, (all) => [...all, `${Cause.pretty(cause).split("\n")[0] ?? ""}; ${describeRestart(restart)}`])
        )
      )
      yield* TestClock.adjust("2999 millis")
      assert.deepStrictEqual(yield* Ref.get(runs), [0])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* Ref.get(runs), [0, 3_000])
      // The second death in a row waits twice as long.
      yield* TestClock.adjust("5999 millis")
      assert.deepStrictEqual(yield* Ref.get(runs), [0, 3_000])
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(runs), [0, 3_000, 9_000])
      assert.deepStrictEqual(yield* Ref.get(said), [
        "Error: bug 1; starting it again in 3s",
        "Error: bug 2; starting it again in 6s (crash 2 in a row)"
      ])
    })
  )

  it.effect("a loop that always dies at once is run again at doubling waits, up to a minute: it cannot fill the log (review 55 I3)", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make<ReadonlyArray<number>>([])
      const loop = Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.zipRight(Ref.update(runs, (all) => [...all, now]), Effect.die(new Error("always")))
      )
      const waits = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.fork(restartOnDefect(loop, "1 second", (_, restart) => Ref.update(waits, (all) => [...all, Duration.format(restart.nextIn)])))
      yield* TestClock.adjust("10 minutes")
      const seconds = (yield* Ref.get(runs)).map((at) => at / 1_000)
      assert.deepStrictEqual(seconds.slice(0, 9), [0, 1, 3, 7, 15, 31, 63, 123, 183])
      // Ten minutes of a loop that dies at once: 15 runs, not 600.
      assert.lengthOf(seconds, 15)
      assert.deepStrictEqual((yield* Ref.get(waits)).slice(0, 8), ["1s", "2s", "4s", "8s", "16s", "32s", "1m", "1m"])
    })
  )

  it.effect("a run that lasted a minute or more was not dying at once: the next death waits the first pause again", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make<ReadonlyArray<number>>([])
      // Dies at once three times, then runs 90 s before dying, then ends.
      const loop = Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const before = yield* Ref.getAndUpdate(runs, (all) => [...all, now])
        if (before.length === 3) yield* Effect.sleep("90 seconds")
        if (before.length < 4) return yield* Effect.die(new Error("bug"))
      })
      const waits = yield* Ref.make<ReadonlyArray<Restart>>([])
      const fiber = yield* Effect.fork(restartOnDefect(loop, "1 second", (_, restart) => Ref.update(waits, (all) => [...all, restart])))
      yield* TestClock.adjust("3 minutes")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual((yield* Ref.get(runs)).map((at) => at / 1_000), [0, 1, 3, 7, 98])
      assert.deepStrictEqual(
        (yield* Ref.get(waits)).map(({ inARow, nextIn }) => [inARow, Duration.toMillis(nextIn)]),
        [[1, 1_000], [2, 2_000], [3, 4_000], [1, 1_000]]
      )
    })
  )

  it.effect("a first pause longer than a minute is the longest wait", () =>
    Effect.gen(function* () {
      const waits = yield* Ref.make<ReadonlyArray<number>>([])
      yield* Effect.fork(
        restartOnDefect(Effect.die(new Error("always")), "5 minutes", (_, restart) => Ref.update(waits, (all) => [...all, Duration.toMillis(restart.nextIn)]))
      )
      yield* TestClock.adjust("16 minutes")
      assert.deepStrictEqual(yield* Ref.get(waits), [300_000, 300_000, 300_000, 300_000])
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
