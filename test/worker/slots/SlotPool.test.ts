import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer, Option, Scope, TestClock } from "effect"
import { getSimplePaths } from "xstate/graph"
import { type SlotEvent, slotMachine } from "../../../machines/slot.js"
import { SlotPool, type SessionRequest } from "../../../src/worker/slots/SlotPool.js"
import { posted, poolLayer } from "../../support/layers.js"
import { authData, slotSession } from "../../support/sessions.js"

const request = (overrides: Partial<SessionRequest> = {}): SessionRequest => ({
  authData: authData(),
  cost: 100,
  requestIdx: 4242,
  lifetimeMs: 1000,
  onCloseRoute: "http://127.0.0.1:9/closed",
  onClosePayload: { job_id: "j-1" },
  ...overrides
})

const stateOf = Effect.map(SlotPool, (pool) => pool.slots).pipe(
  Effect.flatten,
  Effect.map((slots) => slots.map((slot) => slot.state))
)

const closes = Effect.flatMap(SlotPool, (pool) => pool.recentCloses)

describe("SlotPool", () => {
  it.effect("a create takes a free slot; a create beyond max_sessions fails with SlotsExhausted", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const first = yield* pool.create(request())
      assert.match(first.sessionId, /^[A-Za-z0-9]{13}$/)
      assert.strictEqual(first.expiresAt, 1000)
      const second = yield* Effect.either(pool.create(request()))
      assert.isTrue(Either.isLeft(second) && second.left._tag === "SlotsExhausted")
      assert.deepStrictEqual(yield* stateOf, ["reserved"])
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("50 concurrent creates against one slot: exactly one wins", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const results = yield* Effect.all(
        Array.from({ length: 50 }, () => Effect.either(pool.create(request()))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter(Either.isRight).length, 1)
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("NULL_MAX_SESSIONS slots hold that many sessions at once", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const ids = yield* Effect.all([pool.create(request()), pool.create(request()), pool.create(request())])
      assert.strictEqual(new Set(ids.map((created) => created.sessionId)).size, 3)
      assert.isTrue(Either.isLeft(yield* Effect.either(pool.create(request()))))
    }).pipe(Effect.provide(poolLayer({ maxSessions: 3 })))
  )

  it.effect("expiry closes the session exactly at its lifetime, not a millisecond before", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const { sessionId } = yield* pool.create(request({ lifetimeMs: 30_000 }))
      yield* TestClock.adjust("29999 millis")
      assert.deepStrictEqual(yield* stateOf, ["reserved"])
      assert.lengthOf(yield* posted, 0)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* stateOf, ["idle"])
      assert.deepStrictEqual(yield* closes, [{ sessionId, slot: 0, reason: "expired", closedAt: 30_000 }])
      const callbacks = yield* posted
      assert.lengthOf(callbacks, 1)
      assert.deepStrictEqual(callbacks[0]?.body, { job_id: "j-1", session_id: sessionId, close_reason: "expired" })
      assert.strictEqual(callbacks[0]?.reason, "expired")
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("a ping at t moves the deadline to t + lifetime, and pings do not accumulate", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const { sessionId } = yield* pool.create(request({ lifetimeMs: 1000 }))
      yield* TestClock.adjust("600 millis")
      yield* pool.ping(sessionId, authData())
      const pinged = yield* pool.ping(sessionId, authData())
      assert.strictEqual(pinged.expiresAt, 1600)
      assert.strictEqual(pinged.pingCount, 2)
      yield* TestClock.adjust("999 millis")
      assert.deepStrictEqual(yield* stateOf, ["reserved"])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* stateOf, ["idle"])
      assert.deepStrictEqual((yield* closes).map((closed) => [closed.reason, closed.closedAt]), [["expired", 1600]])
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("ping checks the session and its auth_data", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const { sessionId } = yield* pool.create(request())
      const unknown = yield* Effect.flip(pool.ping("nope", authData()))
      assert.strictEqual(unknown._tag, "InvalidSession")
      const stranger = yield* Effect.flip(pool.ping(sessionId, authData({ reqnum: 1 })))
      assert.strictEqual(stranger._tag, "SessionAuthMismatch")
      // Key order does not matter: auth_data is compared as a JSON value.
      const reordered = Object.fromEntries(Object.entries(authData()).reverse())
      assert.strictEqual((yield* pool.ping(sessionId, reordered)).pingCount, 1)
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("ping and expiry at the same instant: one consistent outcome", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const { sessionId } = yield* pool.create(request({ lifetimeMs: 1000 }))
      yield* TestClock.adjust("999 millis")
      const [pinged] = yield* Effect.all(
        [Effect.either(Effect.zipRight(TestClock.adjust("1 millis"), pool.ping(sessionId, authData()))), TestClock.adjust("0 millis")],
        { concurrency: "unbounded" }
      )
      const state = yield* stateOf
      if (Either.isRight(pinged)) {
        assert.deepStrictEqual(state, ["reserved"])
        assert.lengthOf(yield* closes, 0)
      } else {
        assert.strictEqual(pinged.left._tag, "InvalidSession")
        assert.deepStrictEqual(state, ["idle"])
        assert.lengthOf(yield* closes, 1)
      }
    }).pipe(Effect.provide(poolLayer()))
  )

  const closers = {
    end: (pool: SlotPool, id: string) => Effect.either(pool.end(id, authData())),
    release: (pool: SlotPool) => Effect.either(pool.releaseAll("released")),
    expire: () => Effect.either(TestClock.adjust("1 millis")),
    ping: (pool: SlotPool, id: string) => Effect.either(pool.ping(id, authData()))
  } as const
  const orders: ReadonlyArray<ReadonlyArray<keyof typeof closers>> = [
    ["end", "release", "expire"],
    ["release", "end", "expire"],
    ["expire", "end", "release"],
    ["end", "expire", "release", "ping"],
    ["release", "ping", "expire", "end"]
  ]

  for (const order of orders) {
    it.effect(`racing closes in order ${order.join(" → ")} at the deadline: one close, one callback`, () =>
      Effect.gen(function* () {
        const pool = yield* SlotPool
        const { sessionId } = yield* pool.create(request({ lifetimeMs: 1000 }))
        yield* TestClock.adjust("999 millis")
        for (const closer of order) yield* closers[closer](pool, sessionId)
        assert.lengthOf(yield* closes, 1)
        assert.lengthOf(yield* posted, 1)
        assert.strictEqual((yield* closes)[0]?.reason, { end: "ended", release: "released", expire: "expired", ping: "" }[order[0]!])
        assert.deepStrictEqual(yield* stateOf, ["idle"])
      }).pipe(Effect.provide(poolLayer()))
    )
  }

  it.effect("racing closes run concurrently: exactly one close and one callback", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const { sessionId } = yield* pool.create(request({ lifetimeMs: 1000 }))
      yield* TestClock.adjust("999 millis")
      const [ended, released] = yield* Effect.all(
        [closers.end(pool, sessionId), closers.release(pool), closers.expire(), closers.ping(pool, sessionId)],
        { concurrency: "unbounded" }
      )
      assert.lengthOf(yield* closes, 1)
      assert.lengthOf(yield* posted, 1)
      const endWon = Either.isRight(ended)
      const releaseWon = Either.isRight(released) && released.right.length === 1
      assert.isAtMost(Number(endWon) + Number(releaseWon), 1)
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("end needs the session's auth_data; a second end gets SessionAlreadyClosed", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const { sessionId } = yield* pool.create(request())
      assert.strictEqual((yield* Effect.flip(pool.end(sessionId, undefined)))._tag, "SessionAuthInvalid")
      assert.strictEqual((yield* Effect.flip(pool.end(sessionId, authData({ cost: 101 }))))._tag, "SessionAuthInvalid")
      assert.strictEqual((yield* Effect.flip(pool.end("unknown", authData())))._tag, "SessionNotFound")
      yield* pool.end(sessionId, authData())
      assert.strictEqual((yield* Effect.flip(pool.end(sessionId, authData())))._tag, "SessionAlreadyClosed")
      assert.deepStrictEqual((yield* posted).map((callback) => callback.reason), ["ended"])
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("a slot freed by a close takes the next session at once", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const first = yield* pool.create(request())
      yield* pool.releaseAll("released")
      const second = yield* pool.create(request())
      assert.notStrictEqual(second.sessionId, first.sessionId)
      // The old session's timer is gone: only the new session expires.
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual((yield* closes).map((closed) => closed.reason), ["released", "expired"])
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("no callback is posted for a session without on_close_route", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      yield* pool.create(request({ onCloseRoute: null }))
      yield* pool.releaseAll("released")
      assert.lengthOf(yield* posted, 0)
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("find returns the session only with the right session_auth", () =>
    Effect.gen(function* () {
      const pool = yield* SlotPool
      const { sessionId } = yield* pool.create(request())
      assert.isTrue(Option.isNone(yield* pool.find("unknown", undefined)))
      assert.strictEqual((yield* Effect.flip(pool.find(sessionId, {})))._tag, "SessionAuthInvalid")
      const found = yield* pool.find(sessionId, authData())
      assert.isTrue(Option.isSome(found) && found.value.id === sessionId)
    }).pipe(Effect.provide(poolLayer()))
  )

  it.effect("shutdown closes every open session with reason shutdown and posts their callbacks", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(poolLayer({ maxSessions: 2 }), scope)
      const pool = yield* Effect.provide(SlotPool, context)
      yield* pool.create(request())
      yield* pool.create(request({ onClosePayload: "scalar" }))
      yield* Scope.close(scope, Exit.void)
      const callbacks = yield* Effect.provide(posted, context)
      assert.deepStrictEqual(callbacks.map((callback) => callback.reason), ["shutdown", "shutdown"])
      assert.deepStrictEqual(callbacks[1]?.body, { payload: "scalar", session_id: callbacks[1]?.sessionId, close_reason: "shutdown" })
      // No timer survives the scope: moving time past the lifetimes closes nothing more.
      yield* TestClock.adjust("10 seconds")
      assert.lengthOf(yield* Effect.provide(posted, context), 2)
    })
  )

  describe("model-based: xstate/graph paths replayed against the pool", () => {
    const session = slotSession()
    const events: ReadonlyArray<SlotEvent> = [
      { type: "slot.reserve", session },
      { type: "slot.end", sessionId: session.id, reason: "ended", now: 10 },
      { type: "slot.end", sessionId: session.id, reason: "released", now: 10 },
      { type: "slot.end", sessionId: session.id, reason: "shutdown", now: 10 },
      { type: "slot.expire", sessionId: session.id, now: session.expiresAt },
      { type: "slot.finalized" }
    ]
    const paths = getSimplePaths(slotMachine, {
      events,
      input: { slot: 0 },
      serializeState: (snapshot) => String(snapshot.value)
    })

    for (const path of paths) {
      const name = path.steps.map((step) => step.event.type + ("reason" in step.event ? `(${step.event.reason})` : "")).join(" → ")
      it.effect(`path ${name || "(initial)"}`, () =>
        Effect.gen(function* () {
          const pool = yield* SlotPool
          let sessionId = ""
          for (const step of path.steps) {
            const event = step.event
            switch (event.type) {
              case "slot.reserve":
                sessionId = (yield* pool.create(request({ lifetimeMs: session.lifetimeMs }))).sessionId
                break
              case "slot.end":
                if (event.reason === "ended") yield* pool.end(sessionId, authData())
                else yield* pool.releaseAll(event.reason)
                break
              case "slot.expire":
                yield* TestClock.adjust(`${session.lifetimeMs} millis`)
                break
              default:
                break
            }
            // The pool finalizes at once, so the machine's `releasing` is observed as a closed, idle slot.
            const expected = step.state.value === "releasing" ? "idle" : step.state.value
            assert.deepStrictEqual(yield* stateOf, [expected])
            if (step.state.value === "releasing") {
              assert.deepStrictEqual((yield* closes).map((closed) => closed.reason), [step.state.context.closeReason])
            }
          }
        }).pipe(Effect.provide(poolLayer()))
      )
    }
  })
})
