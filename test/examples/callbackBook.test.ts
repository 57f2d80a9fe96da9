import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Option } from "effect"
import { makeCallbackBook } from "../../examples/redis-queue/callbackBook.js"

describe("the Redis dispatcher's callback book", () => {
  it.effect("a callback before the create's answer and one after both reach the session's waiter", () =>
    Effect.gen(function* () {
      const book = yield* makeCallbackBook()
      yield* book.received("early", "released")
      assert.deepStrictEqual(yield* Deferred.await(yield* book.waitFor("early")), "released")
      const late = yield* book.waitFor("late")
      assert.isTrue(Option.isNone(yield* Deferred.poll(late)))
      yield* book.received("late", "expired")
      assert.deepStrictEqual(yield* Deferred.await(late), "expired")
      assert.deepStrictEqual(book.counts(), { reasons: { released: 1, expired: 1 }, duplicates: 0 })
    })
  )

  it.effect("a second callback for a session counts as a duplicate and does not change the first reason", () =>
    Effect.gen(function* () {
      const book = yield* makeCallbackBook()
      const closed = yield* book.waitFor("s")
      yield* book.received("s", "released")
      yield* book.received("s", "shutdown")
      assert.deepStrictEqual(yield* Deferred.await(closed), "released")
      assert.strictEqual(book.counts().duplicates, 1)
    })
  )

  it.effect("a stream of forged callbacks is bounded: the oldest unknown ones are dropped, known sessions are kept", () =>
    Effect.gen(function* () {
      const limits = { early: 10, remembered: 50 }
      const book = yield* makeCallbackBook(limits)
      const known = yield* book.waitFor("known")
      for (let i = 0; i < 1_000; i++) yield* book.received(`forged-${i}`, "ended")
      assert.deepStrictEqual(book.sizes(), { waiting: 1 + limits.early, early: limits.early, remembered: limits.remembered })
      // The newest early callback is still there for a create that answers late; the oldest is gone.
      const newest = yield* book.waitFor("forged-999")
      assert.isTrue(yield* Deferred.isDone(newest))
      assert.strictEqual(yield* Deferred.await(newest), "ended")
      assert.isFalse(yield* Deferred.isDone(yield* book.waitFor("forged-0")))
      yield* book.received("known", "released")
      assert.deepStrictEqual(yield* Deferred.await(known), "released")
    })
  )

  it.effect("a session waited on is no longer early, so a later flood does not drop it; forget lets it go", () =>
    Effect.gen(function* () {
      const book = yield* makeCallbackBook({ early: 2, remembered: 10 })
      yield* book.received("came-first", "released")
      const closed = yield* book.waitFor("came-first")
      for (let i = 0; i < 5; i++) yield* book.received(`forged-${i}`, "ended")
      assert.strictEqual(yield* book.waitFor("came-first"), closed)
      yield* book.forget("came-first")
      assert.notStrictEqual(yield* book.waitFor("came-first"), closed)
    })
  )
})
