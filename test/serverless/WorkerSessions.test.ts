/** The local serverless's asks of its workers' sessions, for `/status` (a fake HTTP client, TestClock). */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Ref, TestClock } from "effect"
import { WorkerSessions } from "../../src/serverless/WorkerSessions.js"
import { fakeHttp } from "../client/fakeHttp.js"

const answer = { status: 200, body: { sessions: [], draining: false, index: 3 }, delay: "100 millis" } as const

describe("WorkerSessions", () => {
  it.scoped("a /status that finds an ask of the same worker in flight shares its answer: a flood does not fill a worker's control connections (probe 36 L1)", () =>
    Effect.gen(function* () {
      const http = yield* fakeHttp(() => answer)
      const sessions = Context.get(yield* Layer.build(WorkerSessions.layer.pipe(Layer.provide(http.layer))), WorkerSessions)
      const asks = Effect.map(Ref.get(http.seen), (seen) => seen.map((request) => request.url))
      const flood = Effect.forEach(["http://127.0.0.1:7001", "http://127.0.0.1:7002"], (url) => Effect.replicateEffect(sessions.held(url), 50, { concurrency: "unbounded" }), {
        concurrency: "unbounded"
      }).pipe(Effect.fork)
      const first = yield* flood
      yield* TestClock.adjust("100 millis")
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(first)))
      assert.deepStrictEqual((yield* asks).sort(), ["http://127.0.0.1:7001/sessions", "http://127.0.0.1:7002/sessions"])
      // Once answered, the next /status asks again: what it shows is never older than its own request.
      const again = yield* Effect.fork(sessions.held("http://127.0.0.1:7001"))
      yield* TestClock.adjust("100 millis")
      assert.deepStrictEqual(Option.getOrNull(yield* Fiber.join(again)), [])
      assert.lengthOf(yield* asks, 3)
    })
  )
})
