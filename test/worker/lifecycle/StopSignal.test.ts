/** The stop signal alone: the first reason wins, a later signal hurries the stop, and a signal's echo does not. */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, TestClock } from "effect"
import { capturedLogs } from "../../support/logs.js"
import { ECHO_WINDOW_MS } from "../../../src/shared/signalEcho.js"
import { StopSignal } from "../../../src/worker/lifecycle/StopSignal.js"

/** Whether `effect` has completed once every fiber that can run has run. */
const hasCompleted = <A>(fiber: Fiber.RuntimeFiber<A>) => Effect.map(Effect.yieldNow().pipe(Effect.zipRight(Fiber.poll(fiber))), Option.isSome)

describe("StopSignal", () => {
  it.scoped("with no stop asked for, the reason is none; the first request's reason is kept, a later one changes nothing", () =>
    Effect.gen(function* () {
      const stop = yield* StopSignal
      assert.isTrue(Option.isNone(yield* stop.reason))
      assert.isFalse(yield* stop.isRequested)
      yield* stop.request("pyworker update")
      yield* stop.request("SIGTERM")
      assert.deepStrictEqual(yield* stop.reason, Option.some("pyworker update"))
      assert.strictEqual(yield* stop.requested, "pyworker update")
      assert.isTrue(yield* stop.isRequested)
    }).pipe(Effect.provide(StopSignal.Default))
  )

  it.scoped("a repeated request does not hurry the stop; a signal after it does", () =>
    Effect.gen(function* () {
      const stop = yield* StopSignal
      const hurried = yield* Effect.fork(stop.hurried)
      yield* stop.request("pyworker update")
      yield* stop.request("pyworker update")
      assert.isFalse(yield* hasCompleted(hurried))
      yield* stop.signal("SIGTERM")
      assert.isTrue(yield* hasCompleted(hurried))
    }).pipe(Effect.provide(StopSignal.Default))
  )

  it.scoped("the same signal again within the echo window is its echo, and said so; after it, or another signal at once, hurries the stop", () =>
    Effect.gen(function* () {
      const logs = capturedLogs()
      for (const [second, after] of [
        ["SIGTERM", ECHO_WINDOW_MS],
        ["SIGINT", 0]
      ] as const) {
        const stop = yield* Effect.provide(StopSignal, StopSignal.Default.pipe(Layer.provide(logs.layer)))
        const hurried = yield* Effect.fork(stop.hurried)
        yield* stop.signal("SIGTERM")
        assert.deepStrictEqual(yield* stop.reason, Option.some("SIGTERM"))
        if (second === "SIGTERM") {
          yield* TestClock.adjust(Duration.millis(ECHO_WINDOW_MS - 1))
          yield* stop.signal("SIGTERM")
          assert.isFalse(yield* hasCompleted(hurried), "an echo")
          yield* Effect.yieldNow()
          // Said once (probe 50 I1: a second SIGTERM 200 ms after the first was dropped without a word).
          assert.deepStrictEqual(logs.lines.map((line) => String(line.message[0]).split(":")[0]), ["SIGTERM again within 500 ms of the first"])
          yield* TestClock.adjust(Duration.millis(after - (ECHO_WINDOW_MS - 1)))
        }
        yield* stop.signal(second)
        assert.isTrue(yield* hasCompleted(hurried), second)
        assert.deepStrictEqual(yield* stop.reason, Option.some("SIGTERM"))
      }
    })
  )
})
