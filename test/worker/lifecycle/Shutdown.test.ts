import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Option, Ref, Scope, TestClock } from "effect"
import type { DeleteRequestsBody, WorkerStatusBody } from "../../../src/protocol/workerStatus.js"
import { AutoscalerReporter } from "../../../src/worker/autoscaler/AutoscalerReporter.js"
import { AutoscalerPost } from "../../../src/worker/autoscaler/jsonPost.js"
import { LoadMetrics } from "../../../src/worker/autoscaler/LoadMetrics.js"
import type { WorkerSettings } from "../../../src/worker/config/WorkerConfig.js"
import { Listeners } from "../../../src/worker/http/Listeners.js"
import { Lifecycle } from "../../../src/worker/lifecycle/Lifecycle.js"
import { Shutdown } from "../../../src/worker/lifecycle/Shutdown.js"
import { StopSignal } from "../../../src/worker/lifecycle/StopSignal.js"
import { WorkerMetrics } from "../../../src/worker/metrics/WorkerMetrics.js"
import { SlotPool } from "../../../src/worker/slots/SlotPool.js"
import { routedClient } from "../../support/fakeHttpClient.js"
import { posted, quietLogs, recordingCallbacks, testConfig } from "../../support/layers.js"
import { authData } from "../../support/sessions.js"
import { NO_PAYLOAD } from "../../../src/protocol/callback.js"

/** The shutdown sequence over a real pool and reporter, a recording outbox and listeners that record their close. */
const build = (settings: Partial<WorkerSettings>, scope: Scope.Scope) =>
  Effect.gen(function* () {
    const { layer: client, seen } = yield* routedClient(() => 200)
    const listenersClosedAt = yield* Ref.make(Option.none<number>())
    const closingConnectionsFrom = yield* Ref.make(Option.none<number>())
    // The steps of the stop after the drain, in the order they ran.
    const steps = yield* Ref.make<ReadonlyArray<string>>([])
    const step = (name: string) => Ref.update(steps, (done) => [...done, name])
    const listeners = Layer.succeed(
      Listeners,
      Listeners.make({
        ports: [],
        connections: Effect.succeed(0),
        closeAfterAnswers: Effect.flatMap(TestClock.currentTimeMillis, (at) => Ref.set(closingConnectionsFrom, Option.some(at))),
        close: () => Effect.flatMap(TestClock.currentTimeMillis, (at) => Effect.zipRight(Ref.set(listenersClosedAt, Option.some(at)), step("listeners closed")))
      })
    )
    // The health checks' side of the stop: a consumer that stops answering during it, completed by the test.
    const consumerGone = yield* Deferred.make<string>()
    const lifecycle = Layer.succeed(
      Lifecycle,
      Lifecycle.make({
        health: Effect.succeed({ healthySeen: true, consecutiveFailures: 0, failuresTotal: 0, forgivenTimeouts: 0 }),
        consumerGone: Deferred.await(consumerGone)
      })
    )
    const context = yield* Layer.buildWithScope(
      Shutdown.DefaultWithoutDependencies.pipe(
        Layer.provideMerge(AutoscalerReporter.DefaultWithoutDependencies),
        Layer.provideMerge(SlotPool.DefaultWithoutDependencies),
        Layer.provideMerge(Layer.mergeAll(recordingCallbacks({ onDrain: step("outbox drained") }), LoadMetrics.Default, WorkerMetrics.Default, StopSignal.Default, listeners, lifecycle)),
        Layer.provide(AutoscalerPost.fromHttpClient),
        Layer.provide(client),
        Layer.provideMerge(testConfig({ drainTimeoutSeconds: 30, ...settings })),
        Layer.provide(quietLogs)
      ),
      scope
    )
    yield* TestClock.adjust("0 millis")
    return {
      pool: Context.get(context, SlotPool),
      metrics: Context.get(context, LoadMetrics),
      stop: Context.get(context, StopSignal),
      posted: Effect.provide(posted, context),
      listenersClosedAt,
      closingConnectionsFrom,
      consumerGone: (message: string) => Deferred.succeed(consumerGone, message),
      steps,
      reports: Effect.map(Ref.get(seen), (all) => all.filter((request) => request.url.endsWith("/worker_status/")).map((request) => ({ at: request.at, body: request.body as WorkerStatusBody }))),
      deletions: Effect.map(Ref.get(seen), (all) => all.filter((request) => request.url.endsWith("/delete_requests/")).flatMap((request) => (request.body as DeleteRequestsBody).requests))
    }
  })

const openSession = (pool: SlotPool) =>
  pool.create({ authData: authData(), cost: 100, requestIdx: 77, lifetimeMs: 3_600_000, onCloseRoute: "http://198.51.100.9:9/cb", onClosePayload: NO_PAYLOAD })

/** Close the worker's scope in a fiber (as SIGTERM does) and let it run. */
const stopping = (scope: Scope.CloseableScope) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(Scope.close(scope, Exit.void))
    yield* TestClock.adjust("0 millis")
    return fiber
  })

describe("Shutdown", () => {
  it.effect("drain: the session may run for DRAIN_TIMEOUT, then closes with shutdown; listeners and the last report come after", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const worker = yield* build({}, scope)
      yield* openSession(worker.pool)
      const fiber = yield* stopping(scope)
      assert.strictEqual(yield* worker.pool.mode, "draining")
      // From the drain's start every answer closes its connection; the listeners themselves close at its end.
      assert.deepStrictEqual(yield* Ref.get(worker.closingConnectionsFrom), Option.some(0))
      yield* TestClock.adjust("29999 millis")
      assert.lengthOf(yield* worker.pool.open, 1)
      assert.isTrue(Option.isNone(yield* Ref.get(worker.listenersClosedAt)))
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual((yield* worker.posted).map((callback) => callback.reason), ["shutdown"])
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(30_000))
      // The listeners close before the outbox's bounded wait, not after it (review 41 L3).
      assert.deepStrictEqual(yield* Ref.get(worker.steps), ["listeners closed", "outbox drained"])
      // The last report says the worker is empty, and the close's record went out with it.
      const last = (yield* worker.reports).at(-1)
      assert.deepStrictEqual([last?.at, last?.body.cur_load, last?.body.working_request_idxs], [30_000, 0, []])
      assert.deepStrictEqual((yield* worker.deletions).map((record) => [record.request_idx, record.status]), [[77, "Success"]])
    })
  )

  it.effect("a stop that comes as the interruption of the fiber holding the worker (runMain's on SIGTERM) still drains for the whole window (review 36 L5)", () =>
    Effect.gen(function* () {
      const built = yield* Deferred.make<Effect.Effect.Success<ReturnType<typeof build>>>()
      const holder = yield* Effect.fork(
        Effect.scoped(
          Effect.gen(function* () {
            yield* Deferred.succeed(built, yield* build({}, yield* Effect.scope))
            return yield* Effect.never
          })
        )
      )
      const worker = yield* Deferred.await(built)
      yield* openSession(worker.pool)
      const interrupting = yield* Effect.fork(Fiber.interrupt(holder))
      yield* TestClock.adjust("29999 millis")
      assert.lengthOf(yield* worker.pool.open, 1)
      assert.deepStrictEqual(yield* worker.posted, [])
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(interrupting)
      assert.deepStrictEqual((yield* worker.posted).map((callback) => callback.reason), ["shutdown"])
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(30_000))
    })
  )

  /** A worker with one session, 5 s into its drain, when `event` happens; its stop run to the end. */
  const eventFiveSecondsIntoTheDrain = (event: (worker: Effect.Effect.Success<ReturnType<typeof build>>) => Effect.Effect<unknown, unknown>) =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const worker = yield* build({}, scope)
      yield* openSession(worker.pool)
      const fiber = yield* stopping(scope)
      yield* TestClock.adjust("5 seconds")
      assert.lengthOf(yield* worker.pool.open, 1)
      yield* event(worker)
      yield* TestClock.adjust("0 millis")
      // Done now, 25 s before the window's end: a stop that waited for it would still be running.
      assert.isTrue(Option.isSome(yield* Fiber.poll(fiber)), "the stop went on at once")
      yield* Fiber.join(fiber)
      return worker
    })

  it.effect("a release inside the window ends the drain at once", () =>
    Effect.gen(function* () {
      const worker = yield* eventFiveSecondsIntoTheDrain((worker) => worker.pool.release({ _tag: "Any" }))
      assert.deepStrictEqual((yield* worker.posted).map((callback) => callback.reason), ["released"])
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(5_000))
    })
  )

  it.effect("a worker that becomes errored during the drain ends it at once: its open session closes with shutdown (review 56 M1)", () =>
    Effect.gen(function* () {
      const worker = yield* eventFiveSecondsIntoTheDrain((worker) => worker.metrics.markErrored("Healthcheck failed with status: 503"))
      assert.deepStrictEqual((yield* worker.posted).map((callback) => callback.reason), ["shutdown"])
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(5_000))
      // The last report carries the error: the autoscaler replaces the worker, not only scales it in.
      assert.strictEqual((yield* worker.reports).at(-1)?.body.error_msg, "Healthcheck failed with status: 503")
    })
  )

  it.effect("a consumer that stops answering its health checks during the drain ends it at once, and is not reported as an error: the stop is deliberate (review 58 M2)", () =>
    Effect.gen(function* () {
      const worker = yield* eventFiveSecondsIntoTheDrain((worker) => worker.consumerGone("Healthcheck failed with status: 503"))
      assert.deepStrictEqual((yield* worker.posted).map((callback) => callback.reason), ["shutdown"])
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(5_000))
      assert.strictEqual((yield* worker.reports).at(-1)?.body.error_msg, "")
    })
  )

  /** A worker with one session, 2 s into the drain a `/pyworker/update` started. */
  const drainingAfterUpdate = Effect.gen(function* () {
    const scope = yield* Scope.make()
    const worker = yield* build({}, scope)
    yield* openSession(worker.pool)
    yield* worker.stop.request("pyworker update")
    const fiber = yield* stopping(scope)
    yield* TestClock.adjust("2 seconds")
    return { worker, fiber }
  })

  it.effect.each(["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"] as const)("a signal after the stop was asked for (%s) skips the rest of the window", (signal) =>
    Effect.gen(function* () {
      const { fiber, worker } = yield* drainingAfterUpdate
      yield* worker.stop.signal(signal)
      yield* TestClock.adjust("0 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual((yield* worker.posted).map((callback) => callback.reason), ["shutdown"])
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(2_000))
    })
  )

  /** A worker with one session, draining after a SIGTERM (no time has passed). */
  const drainingAfterSigterm = Effect.gen(function* () {
    const scope = yield* Scope.make()
    const worker = yield* build({}, scope)
    yield* openSession(worker.pool)
    yield* worker.stop.signal("SIGTERM")
    return { worker, fiber: yield* stopping(scope) }
  })

  it.effect("the first signal's echo (the same signal within 500 ms, as timeout(1) sends it) keeps the window; the same signal later skips it", () =>
    Effect.gen(function* () {
      const { fiber, worker } = yield* drainingAfterSigterm
      yield* worker.stop.signal("SIGTERM")
      yield* TestClock.adjust("499 millis")
      yield* worker.stop.signal("SIGTERM")
      yield* TestClock.adjust("0 millis")
      assert.deepStrictEqual(yield* worker.posted, [])
      assert.lengthOf(yield* worker.pool.open, 1)
      yield* TestClock.adjust("1 millis")
      yield* worker.stop.signal("SIGTERM")
      yield* TestClock.adjust("0 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual((yield* worker.posted).map((callback) => callback.reason), ["shutdown"])
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(500))
    })
  )

  it.effect("another signal within the echo window is a second stop: SIGTERM, then Ctrl-C at once, skips the window", () =>
    Effect.gen(function* () {
      const { fiber, worker } = yield* drainingAfterSigterm
      yield* worker.stop.signal("SIGINT")
      yield* TestClock.adjust("0 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(0))
    })
  )

  it.effect("a repeated /pyworker/update does not cut the drain short: the session keeps its window", () =>
    Effect.gen(function* () {
      const { fiber, worker } = yield* drainingAfterUpdate
      yield* worker.stop.request("pyworker update")
      yield* TestClock.adjust("0 millis")
      assert.deepStrictEqual(yield* worker.posted, [])
      assert.deepStrictEqual(yield* worker.stop.requested, "pyworker update")
      yield* TestClock.adjust("28 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual((yield* worker.posted).map((callback) => callback.reason), ["shutdown"])
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(30_000))
    })
  )

  it.effect("DRAIN_TIMEOUT=0 closes at once", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const worker = yield* build({ drainTimeoutSeconds: 0 }, scope)
      yield* openSession(worker.pool)
      yield* Fiber.join(yield* stopping(scope))
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(0))
      assert.deepStrictEqual((yield* worker.posted).map((callback) => callback.reason), ["shutdown"])
    })
  )

  it.effect("an errored worker does not drain: its consumer is presumed dead", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const worker = yield* build({}, scope)
      yield* openSession(worker.pool)
      yield* worker.metrics.markErrored("Healthcheck failed with status: 503")
      yield* Fiber.join(yield* stopping(scope))
      assert.deepStrictEqual(yield* Ref.get(worker.listenersClosedAt), Option.some(0))
    })
  )
})
