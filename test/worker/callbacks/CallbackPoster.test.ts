import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Ref, Scope, TestClock } from "effect"
import { LoadMetrics } from "../../../src/worker/autoscaler/LoadMetrics.js"
import { CallbackPoster, type CloseCallback, defaultPolicy } from "../../../src/worker/callbacks/CallbackPoster.js"
import { callbackBody } from "../../../src/protocol/callback.js"
import { SlotPool } from "../../../src/worker/slots/SlotPool.js"
import { type Answer, type SeenRequest, scriptedClient } from "../../support/fakeHttpClient.js"
import { advanceUntilDone } from "../../support/clock.js"
import { testConfig } from "../../support/layers.js"
import { authData } from "../../support/sessions.js"

const callback: CloseCallback = {
  sessionId: "aB3dE5fG7hJ9k",
  route: "http://127.0.0.1:9/closed",
  body: { job_id: "j-1", session_id: "aB3dE5fG7hJ9k" },
  reason: "ended"
}

/** A poster over a scripted client, built in `scope`, with the requests it made. */
const posterWith = (script: ReadonlyArray<Answer>, scope: Scope.Scope) =>
  Effect.gen(function* () {
    const { layer, seen } = yield* scriptedClient(script)
    const context = yield* Layer.buildWithScope(CallbackPoster.layer().pipe(Layer.provide(layer)), scope)
    return { poster: Context.get(context, CallbackPoster), seen }
  })

const attemptTimes = (seen: Ref.Ref<ReadonlyArray<SeenRequest>>) =>
  Effect.map(Ref.get(seen), (all) => all.map((request) => request.at))

describe("callbackBody", () => {
  it("copies an object payload and adds session_id and close_reason", () => {
    const payload = { job_id: "j-1" }
    const body = callbackBody(payload, "s", "released")
    assert.deepStrictEqual(body, { job_id: "j-1", session_id: "s", close_reason: "released" })
    assert.deepStrictEqual(payload, { job_id: "j-1" })
  })
  it("keeps a session_id or close_reason the user put in the payload", () => {
    assert.deepStrictEqual(callbackBody({ session_id: "mine", close_reason: "x" }, "s", "expired"), { session_id: "mine", close_reason: "x" })
  })
  it("sends {} for no payload and wraps any other JSON value", () => {
    assert.deepStrictEqual(callbackBody(null, "s", "ended"), { session_id: "s", close_reason: "ended" })
    assert.deepStrictEqual(callbackBody("done", "s", "ended"), { payload: "done", session_id: "s", close_reason: "ended" })
    assert.deepStrictEqual(callbackBody([1, 2], "s", "ended"), { payload: [1, 2], session_id: "s", close_reason: "ended" })
    assert.deepStrictEqual(callbackBody(0, "s", "shutdown"), { payload: 0, session_id: "s", close_reason: "shutdown" })
  })
})

describe("CallbackPoster", () => {
  it.scoped("delivers the body as JSON and records the delivery", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([204], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      const [request] = yield* Ref.get(seen)
      assert.deepStrictEqual(request?.body, callback.body)
      assert.strictEqual(request?.url, callback.route)
      const [record] = yield* poster.deliveries
      assert.strictEqual(record?.state, "delivered")
      assert.strictEqual(record?.attempts, 1)
      assert.strictEqual(record?.lastStatus, 204)
    })
  )

  it.scoped("retries 5xx, 429 and network errors on the schedule 1, 2, 4, 8, 16 s, then gives up", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([503, 429, "network-error", 500], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0])
      yield* TestClock.adjust("999 millis")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
      yield* TestClock.adjust("60 seconds")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000, 3000, 7000, 15000, 31000])
      const [record] = yield* poster.deliveries
      assert.strictEqual(record?.state, "failed")
      assert.strictEqual(record?.attempts, 1 + defaultPolicy.retries)
      assert.strictEqual(record?.lastStatus, 500)
    })
  )

  it.scoped("a target that recovers gets the callback on the retry", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([502, 200], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.scoped("gives up at once on a 4xx other than 429", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith([404], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("60 seconds")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0])
      const [record] = yield* poster.deliveries
      assert.strictEqual(record?.state, "failed")
      assert.strictEqual(record?.lastStatus, 404)
    })
  )

  it.scoped("an attempt that hangs times out after 10 s and is retried", () =>
    Effect.gen(function* () {
      const { poster, seen } = yield* posterWith(["hang", 200], yield* Effect.scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0])
      assert.strictEqual((yield* poster.deliveries)[0]?.lastError, "timed out")
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 11000])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.effect("shutdown waits (bounded) for pending deliveries", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { poster, seen } = yield* posterWith([503, 200], scope)
      yield* poster.post(callback)
      yield* TestClock.adjust("0 millis")
      yield* advanceUntilDone(yield* Effect.fork(Scope.close(scope, Exit.void)))
      assert.deepStrictEqual(yield* attemptTimes(seen), [0, 1000])
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "delivered")
    })
  )

  it.effect("a failing callback target never keeps the slot busy", () =>
    Effect.gen(function* () {
      const { layer, seen } = yield* scriptedClient(["hang"])
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        SlotPool.Default.pipe(
          Layer.provideMerge(CallbackPoster.layer()),
          Layer.provide(LoadMetrics.Default),
          Layer.provide(layer),
          Layer.provide(testConfig())
        ),
        scope
      )
      const pool = Context.get(context, SlotPool)
      const poster = Context.get(context, CallbackPoster)
      const first = yield* pool.create({
        authData: authData(),
        cost: 100,
        requestIdx: 1,
        lifetimeMs: 60_000,
        onCloseRoute: "http://127.0.0.1:9/closed",
        onClosePayload: null
      })
      yield* pool.end(first.sessionId, authData())
      yield* TestClock.adjust("0 millis")
      assert.lengthOf(yield* Ref.get(seen), 1)
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "pending")
      const slots = yield* pool.slots
      assert.deepStrictEqual(slots.map((slot) => slot.state), ["idle"])
      // Shutdown gives the hung delivery its bounded drain time, then stops it.
      const started = yield* TestClock.currentTimeMillis
      yield* advanceUntilDone(yield* Effect.fork(Scope.close(scope, Exit.void)))
      assert.strictEqual((yield* TestClock.currentTimeMillis) - started, 5000)
      assert.strictEqual((yield* poster.deliveries)[0]?.state, "pending")
    })
  )
})
