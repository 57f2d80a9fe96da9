import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer } from "effect"
import { untilReaderGone } from "../../src/shared/safeOutput.js"

class Launcher extends Context.Tag("test/Launcher")<Launcher, { readonly name: string }>() {}

describe("untilReaderGone", () => {
  it.effect("a stop signal's interruption: the program's finalizers end before its layer's begin, and both before what follows the run (newcomer 28 #1, review 44 M2)", () =>
    Effect.gen(function* () {
      const events: Array<string> = []
      // The program's finalizer (the demo stopping its client) takes until `clientExited`.
      const clientExited = yield* Deferred.make<void>()
      const program = Effect.scoped(
        Effect.zipRight(
          Effect.addFinalizer(() => Effect.zipRight(Deferred.await(clientExited), Effect.sync(() => events.push("program's finalizer done")))),
          Effect.zipRight(Launcher, Effect.never)
        )
      )
      // The layer's finalizer: the launcher's stop-all.
      const layer = Layer.scoped(Launcher, Effect.as(Effect.addFinalizer(() => Effect.sync(() => events.push("layer closed"))), { name: "launcher" }))
      const reader = { closed: Effect.never, happened: () => false }
      // What follows the run (the exit's wait for the output) comes after both.
      const run = yield* Effect.fork(Effect.ensuring(untilReaderGone(program, layer, reader), Effect.sync(() => events.push("after the run"))))
      yield* Effect.yieldNow()
      yield* Fiber.interruptFork(run)
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      const whileWaiting = events.slice()
      yield* Deferred.succeed(clientExited, undefined)
      yield* Fiber.await(run)
      assert.deepStrictEqual(whileWaiting, [], "nothing closes while the program's finalizer waits")
      assert.deepStrictEqual(events, ["program's finalizer done", "layer closed", "after the run"])
    })
  )

  it.effect("the reader gone: the program is interrupted, its finalizers run, and the run ends without a failure", () =>
    Effect.gen(function* () {
      const gone = yield* Deferred.make<void>()
      const events: Array<string> = []
      const program = Effect.scoped(Effect.zipRight(Effect.addFinalizer(() => Effect.sync(() => events.push("stopped"))), Effect.never))
      const run = yield* Effect.fork(untilReaderGone(program, Layer.empty, { closed: Deferred.await(gone), happened: () => true }))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gone, undefined)
      const exit = yield* Fiber.await(run)
      assert.isTrue(exit._tag === "Success")
      assert.deepStrictEqual(events, ["stopped"])
    })
  )
})
