import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, FiberId, Layer, Redacted, Ref, Scope, TestClock } from "effect"
import { keepSessionAlive, reserveScoped } from "../../src/client/scopedSession.js"
import { type Endpoint, type Session, VastClient } from "../../src/client/VastClient.js"
import { ENDPOINT_KEY, ENDPOINT_NAME, USER_KEY } from "./fakeControlPlane.js"
import { type FakeAnswer, type SeenRequest, fakeHttp } from "./fakeHttp.js"
import { capturedLogs } from "../support/logs.js"

const W1 = "https://203.0.113.7:41234"
const session: Session = {
  sessionId: "abcdefghijklm",
  url: W1,
  authData: { url: W1, signature: "c2ln", reqnum: 1, request_idx: 1, endpoint: ENDPOINT_NAME, cost: 100 },
  expiration: 60,
  lifetime: 60,
  requestIdx: 1
}

const endpoint: Endpoint = { id: 2, name: ENDPOINT_NAME, apiKey: Redacted.make(ENDPOINT_KEY) }
const options = { endpoint, cost: 100, lifetime: 600, onCloseRoute: null, onClosePayload: null, timeout: "5 minutes" } as const

/** A fake Vast whose /route/ gives `route` and whose worker W1 creates with `create`; the requests, and a scope to reserve in. */
const harness = (route: FakeAnswer, create: FakeAnswer) =>
  Effect.gen(function* () {
    const http = yield* fakeHttp((request: SeenRequest) =>
      request.path === "/route/" ? route : request.path === "/session/create" ? create : { status: 200, body: { ended: true } }
    )
    const client = VastClient.layer({ apiKey: Redacted.make(USER_KEY), webserverUrl: "https://console.test", autoscalerUrl: "https://run.test" })
    const scope = yield* Scope.make()
    const fiber = yield* Effect.fork(Effect.provide(reserveScoped(options), Layer.merge(client.pipe(Layer.provide(http.layer)), Layer.succeed(Scope.Scope, scope))))
    const paths = Effect.map(Ref.get(http.seen), (all) => all.map((request) => request.path))
    return { fiber, scope, paths }
  })

const ready = { status: 200, body: { ...session.authData } }
const created = { status: 201, body: { session_id: "s-1", expiration: 600 } }

describe("reserveScoped (the library's session for a job)", () => {
  it.effect("the session is ended when the scope closes", () =>
    Effect.gen(function* () {
      const run = yield* harness(ready, created)
      assert.strictEqual((yield* Fiber.join(run.fiber)).session.sessionId, "s-1")
      assert.deepStrictEqual(yield* run.paths, ["/route/", "/session/create"])
      yield* Scope.close(run.scope, Exit.void)
      assert.deepStrictEqual(yield* run.paths, ["/route/", "/session/create", "/session/end"])
    })
  )

  it.effect("an end on interruption is logged as ended; a clean close says nothing (the caller does); a failed end is logged as not ended", () =>
    Effect.gen(function* () {
      const logs = capturedLogs()
      const closeWith = (exit: Exit.Exit<unknown, unknown>, end: FakeAnswer) =>
        Effect.gen(function* () {
          const http = yield* fakeHttp((request: SeenRequest) =>
            request.path === "/route/" ? ready : request.path === "/session/create" ? created : end
          )
          const client = VastClient.layer({ apiKey: Redacted.make(USER_KEY), webserverUrl: "https://console.test", autoscalerUrl: "https://run.test" })
          const scope = yield* Scope.make()
          yield* Effect.provide(reserveScoped(options), Layer.merge(client.pipe(Layer.provide(http.layer)), Layer.succeed(Scope.Scope, scope)))
          const before = logs.lines.length
          yield* Scope.close(scope, exit)
          return logs.lines.slice(before).map((line) => `${line.level} ${String(line.message[0])}`)
        }).pipe(Effect.provide(logs.layer))
      assert.deepStrictEqual(yield* closeWith(Exit.interrupt(FiberId.none), { status: 200, body: { ended: true } }), ["INFO session s-1 ended"])
      assert.deepStrictEqual(yield* closeWith(Exit.void, { status: 200, body: { ended: true } }), [])
      const failed = yield* closeWith(Exit.interrupt(FiberId.none), { status: 500, body: "down" })
      assert.deepStrictEqual([failed.length, failed[0]?.startsWith("ERROR session s-1 not ended: ")], [1, true])
    })
  )

  it.effect("ended, read once the scope has closed, says how the end went: its outcome, or why the session was not ended", () =>
    Effect.gen(function* () {
      const endWith = (end: FakeAnswer) =>
        Effect.gen(function* () {
          const http = yield* fakeHttp((request: SeenRequest) => (request.path === "/route/" ? ready : request.path === "/session/create" ? created : end))
          const client = VastClient.layer({ apiKey: Redacted.make(USER_KEY), webserverUrl: "https://console.test", autoscalerUrl: "https://run.test" })
          const scope = yield* Scope.make()
          const held = yield* Effect.provide(reserveScoped(options), Layer.merge(client.pipe(Layer.provide(http.layer)), Layer.succeed(Scope.Scope, scope)))
          yield* Scope.close(scope, Exit.void)
          return yield* Effect.either(held.ended)
        }).pipe(Effect.provide(capturedLogs().layer))
      assert.deepStrictEqual(yield* endWith({ status: 200, body: { ended: true } }), Either.right("ended"))
      assert.deepStrictEqual(yield* endWith({ status: 410 }), Either.right("already-closed"))
      const failed = yield* endWith({ status: 500, body: "down" })
      assert.strictEqual(Either.isLeft(failed) ? failed.left._tag : "ended", "UnexpectedResponse")
    })
  )

  it.effect("interrupted while the create is in flight, the create finishes and its session is ended with the scope", () =>
    Effect.gen(function* () {
      const run = yield* harness(ready, { ...created, delay: "3 seconds" })
      yield* TestClock.adjust("1 second")
      const interrupting = yield* Effect.fork(Fiber.interrupt(run.fiber))
      yield* TestClock.adjust("3 seconds")
      assert.isTrue(Exit.isInterrupted(yield* Fiber.join(interrupting)))
      yield* Scope.close(run.scope, Exit.void)
      assert.deepStrictEqual(yield* run.paths, ["/route/", "/session/create", "/session/end"])
    })
  )

  it.effect("interrupted while routing, it stops at once: no create, nothing to end", () =>
    Effect.gen(function* () {
      const run = yield* harness({ status: 200, body: { endpoint: ENDPOINT_NAME } }, created)
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(run.fiber)
      yield* Scope.close(run.scope, Exit.void)
      assert.deepStrictEqual([...new Set(yield* run.paths)], ["/route/"])
    })
  )
})

describe("keepSessionAlive (the library's keep-alive)", () => {
  it.effect("pings every interval through failed pings (no answer, 5xx), and stops at the worker's 410", () =>
    Effect.gen(function* () {
      const answers: ReadonlyArray<FakeAnswer> = [{ status: 200, body: {} }, "network-error", { status: 503 }, { status: 200, body: {} }, { status: 410 }]
      const http = yield* fakeHttp((_, index) => answers[index] ?? { status: 410 })
      const client = VastClient.layer({ apiKey: Redacted.make(USER_KEY), webserverUrl: "https://console.test", autoscalerUrl: "https://run.test" })
      const fiber = yield* Effect.fork(Effect.provide(keepSessionAlive(session, "20 seconds"), client.pipe(Layer.provide(http.layer))))
      yield* TestClock.adjust("200 seconds")
      yield* Fiber.join(fiber)
      const pings = yield* Ref.get(http.seen)
      assert.deepStrictEqual(pings.map((request) => [request.path, request.at]), [
        ["/ping", 20_000], ["/ping", 40_000], ["/ping", 60_000], ["/ping", 80_000], ["/ping", 100_000]
      ])
    })
  )
})
