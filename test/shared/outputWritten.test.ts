import { Writable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, TestClock } from "effect"
import { OUTPUT_GRACE, outputWritten } from "../../src/shared/outputWritten.js"

/** A stream whose reader takes each write only when `take` is called: what it holds until then is unwritten. */
const slowReader = () => {
  const held: Array<() => void> = []
  const stream = new Writable({
    write: (_chunk, _encoding, done) => void held.push(() => done())
  })
  return { stream, take: () => held.shift()?.() }
}

describe("outputWritten", () => {
  it.effect("waits while a stream holds lines its reader has not taken, and completes once it took them", () =>
    Effect.gen(function* () {
      const slow = slowReader()
      const idle = slowReader()
      slow.stream.write("worker stopped\n")
      const waiting = yield* Effect.fork(outputWritten([idle.stream, slow.stream]))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)))
      slow.take()
      yield* TestClock.adjust("10 millis")
      assert.isTrue(yield* Fiber.join(waiting))
    })
  )

  it.effect("a reader that never takes them holds the exit only for the grace, also where a finalizer runs it (uninterruptible)", () =>
    Effect.gen(function* () {
      const stalled = slowReader()
      stalled.stream.write("worker stopped\n")
      const waiting = yield* Effect.fork(Effect.uninterruptible(outputWritten([stalled.stream])))
      yield* TestClock.adjust(OUTPUT_GRACE)
      assert.isFalse(yield* Fiber.join(waiting))
    })
  )

  it.effect("run as the finalizer of a program a signal interrupts (runMain's Ctrl-C), it still waits for the reader (review 42 L1)", () =>
    Effect.gen(function* () {
      const slow = slowReader()
      slow.stream.write("done\n")
      const program = yield* Effect.fork(Effect.ensuring(Effect.never, outputWritten([slow.stream])))
      yield* Effect.yieldNow()
      const interrupting = yield* Effect.fork(Fiber.interrupt(program))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.poll(interrupting)))
      slow.take()
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(interrupting)
    })
  )

  it.effect("a stream that failed or closed is not waited for: what it holds will never be written", () =>
    Effect.gen(function* () {
      const gone = slowReader()
      gone.stream.on("error", () => undefined)
      gone.stream.write("worker stopped\n")
      gone.stream.destroy(new Error("EPIPE"))
      assert.isTrue(yield* outputWritten([gone.stream]))
    })
  )
})
