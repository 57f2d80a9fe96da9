import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Either, Fiber, Layer, LogLevel, Option, Ref, TestClock } from "effect"
import { SignatureVerifier } from "../../../src/worker/auth/SignatureVerifier.js"
import { LoadMetrics } from "../../../src/worker/autoscaler/LoadMetrics.js"
import type { WorkerSettings } from "../../../src/worker/config/WorkerConfig.js"
import { HealthCheckFailed, type HealthFailureKind, HealthProber } from "../../../src/worker/health/HealthProber.js"
import { Listeners } from "../../../src/worker/http/Listeners.js"
import { defaultLifecyclePolicy, Lifecycle } from "../../../src/worker/lifecycle/Lifecycle.js"
import { refusals } from "../../../src/worker/errors.js"
import { SlotPool } from "../../../src/worker/slots/SlotPool.js"
import { poolLayer, quietLogs } from "../../support/layers.js"
import { capturedLogs } from "../../support/logs.js"
import { authData } from "../../support/sessions.js"
import { NO_PAYLOAD } from "../../../src/protocol/callback.js"

type Probe = "ok" | "die" | number | HealthFailureKind

/** A prober whose answers come from `script` in turn (the last repeats); records probe times. */
const scriptedProber = (script: ReadonlyArray<Probe>) =>
  Effect.gen(function* () {
    const probes = yield* Ref.make<ReadonlyArray<number>>([])
    const check = Effect.gen(function* () {
      const at = yield* TestClock.currentTimeMillis
      const count = (yield* Ref.getAndUpdate(probes, (all) => [...all, at])).length
      const answer = script[Math.min(count, script.length - 1)] ?? "ok"
      if (answer === "ok") return
      if (answer === "die") return yield* Effect.die(new TypeError("a bug in the probe"))
      if (typeof answer === "number") return yield* new HealthCheckFailed({ kind: "status", message: `Healthcheck failed with status: ${answer}` })
      return yield* new HealthCheckFailed({ kind: answer, message: `Healthcheck failed: ${answer}` })
    })
    return { probes, layer: Layer.succeed(HealthProber, HealthProber.of({ check })) }
  })

const noListeners = Layer.succeed(Listeners, Listeners.make({ ports: [], connections: Effect.succeed(0), closeAfterAnswers: Effect.void, close: () => Effect.void }))

const verifierThat = (ready: Effect.Effect<void>) => Layer.succeed(SignatureVerifier, SignatureVerifier.of({ verify: () => Either.void, verifyInSession: () => Either.void, ready }))

const start = (
  script: ReadonlyArray<Probe>,
  settings: Partial<WorkerSettings> = {},
  verifier = SignatureVerifier.layerUnsecured,
  logs: Layer.Layer<never> = quietLogs
) =>
  Effect.gen(function* () {
    const prober = yield* scriptedProber(script)
    const context = yield* Layer.build(
      Lifecycle.layerWith(defaultLifecyclePolicy).pipe(
        Layer.provideMerge(poolLayer({ healthcheckIntervalSeconds: 10, ...settings })),
        Layer.provide(prober.layer),
        Layer.provide(verifier),
        Layer.provide(noListeners),
        Layer.provide(logs)
      )
    )
    yield* TestClock.adjust("0 millis")
    return { metrics: Context.get(context, LoadMetrics), pool: Context.get(context, SlotPool), lifecycle: Context.get(context, Lifecycle), probes: prober.probes }
  })

const errorOf = (metrics: LoadMetrics) => Effect.map(metrics.snapshot, (snapshot) => snapshot.errorMsg)

describe("Lifecycle", () => {
  it.scoped("ready at once when the key is not needed and the first health check passes", () =>
    Effect.gen(function* () {
      const { metrics } = yield* start(["ok"])
      const snapshot = yield* metrics.snapshot
      assert.deepStrictEqual([snapshot.ready, snapshot.errorMsg], [true, ""])
    })
  )

  it.scoped("the first success says a check passed with BACKEND_HEALTH_URL, and that there is no consumer to check without it", () =>
    Effect.gen(function* () {
      const firstLine = (settings: Partial<WorkerSettings>) => {
        const logs = capturedLogs(LogLevel.Info)
        return Effect.map(Effect.scoped(Effect.zipRight(start(["ok"], settings, SignatureVerifier.layerUnsecured, logs.layer), Effect.succeed(logs))), (captured) =>
          captured.lines.map((line) => String(line.message[0])).filter((text) => /check|consumer/.test(text))
        )
      }
      assert.deepStrictEqual(yield* firstLine({ backendHealthUrl: Option.some("http://127.0.0.1:9/health") }), ["first health check passed"])
      assert.deepStrictEqual(yield* firstLine({ backendHealthUrl: Option.none() }), ["no consumer to check (BACKEND_HEALTH_URL is unset)"])
    })
  )

  it.scoped("before the first success failures are expected and probes come every second; then every HEALTHCHECK_INTERVAL", () =>
    Effect.gen(function* () {
      const { metrics, probes } = yield* start([503, 503, "ok", "ok"])
      assert.isFalse((yield* metrics.snapshot).ready)
      yield* TestClock.adjust("2 seconds")
      assert.isTrue((yield* metrics.snapshot).ready)
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* Ref.get(probes), [0, 1000, 2000, 12000])
      assert.strictEqual(yield* errorOf(metrics), "")
    })
  )

  it.scoped("a stop that begins before the first success: the checks go on, but the worker does not become ready (review 57 I9)", () =>
    Effect.gen(function* () {
      const { metrics, pool, probes } = yield* start([503, "ok"])
      yield* pool.retire
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* Ref.get(probes), [0, 1000])
      assert.isFalse((yield* metrics.snapshot).ready)
    })
  )

  it.scoped("during a stop, HEALTH_FAILURE_THRESHOLD failures in a row say the consumer is gone (the drain's end), once, at warning, and do not make the worker errored: the stop is deliberate (review 58 M2)", () =>
    Effect.gen(function* () {
      const logs = capturedLogs(LogLevel.Warning)
      const { lifecycle, metrics, pool } = yield* start(["ok", 500], {}, SignatureVerifier.layerUnsecured, logs.layer)
      yield* pool.retire
      const gone = yield* Effect.fork(lifecycle.consumerGone)
      yield* TestClock.adjust("20 seconds")
      assert.isNull(gone.unsafePoll(), "two failures: not yet")
      yield* TestClock.adjust("20 seconds")
      assert.isNotNull(gone.unsafePoll(), "the third failure in a row")
      assert.strictEqual(yield* Fiber.join(gone), "Healthcheck failed with status: 500")
      assert.strictEqual(yield* errorOf(metrics), "")
      assert.deepStrictEqual(
        logs.lines.filter((line) => line.level === "ERROR" || String(line.message[0]).includes("no longer answers")).map((line) => String(line.message[0])),
        ["the consumer no longer answers its health checks during the stop: Healthcheck failed with status: 500; the drain ends, as nobody is left to end its sessions"]
      )
    })
  )

  it.scoped("while waiting for the consumer, each new reason is logged once at info; a repeat only at debug", () =>
    Effect.gen(function* () {
      const logs = capturedLogs(LogLevel.Info)
      yield* start([302, 302, "refused", "refused", "ok"], {}, SignatureVerifier.layerUnsecured, logs.layer)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(
        logs.lines.map((line) => String(line.message[0])).filter((text) => text.startsWith("waiting for the consumer")),
        ["waiting for the consumer: Healthcheck failed with status: 302", "waiting for the consumer: Healthcheck failed: refused"]
      )
    })
  )

  it.scoped("error_msg is set after HEALTH_FAILURE_THRESHOLD failures in a row, and it stays", () =>
    Effect.gen(function* () {
      const { metrics } = yield* start(["ok", 500, 500, 500, "ok"])
      yield* TestClock.adjust("20 seconds")
      assert.strictEqual(yield* errorOf(metrics), "")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* errorOf(metrics), "Healthcheck failed with status: 500")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* errorOf(metrics), "Healthcheck failed with status: 500")
    })
  )

  it.scoped("becoming errored is one error line, when it happens: not before the threshold, not again while the failures go on or after a recovery", () =>
    Effect.gen(function* () {
      const logs = capturedLogs(LogLevel.Info)
      yield* start(["ok", 500, 500, 500, 500, "ok", 500, 500, 500], {}, SignatureVerifier.layerUnsecured, logs.layer)
      const errors = () => logs.lines.filter((line) => line.level === "ERROR").map((line) => String(line.message[0]))
      yield* TestClock.adjust("20 seconds")
      assert.deepStrictEqual(errors(), [])
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(errors(), [
        "the worker is errored: Healthcheck failed with status: 500; it takes no new session, and its reports ask the autoscaler to replace it"
      ])
      yield* TestClock.adjust("60 seconds")
      assert.lengthOf(errors(), 1)
    })
  )

  it.scoped("the failures up to the threshold are each a warning; past it, while the worker stays errored, one line a minute with the count; a success starts over", () =>
    Effect.gen(function* () {
      const logs = capturedLogs(LogLevel.Info)
      // First success at 0, then failures every 10 s: the 3rd (30 s) errors the worker, the 4th (40 s) on are past it.
      const script: Array<Probe> = ["ok", ...Array.from({ length: 12 }, () => 500 as const), "ok", 500, 500, 500, 500]
      yield* start(script, {}, SignatureVerifier.layerUnsecured, logs.layer)
      const failures = () =>
        logs.lines.filter((line) => line.message[0] === "Healthcheck failed with status: 500").map((line) => line.message[1] as Record<string, unknown>)
      yield* TestClock.adjust("40 seconds")
      assert.deepStrictEqual(failures().map((fields) => fields["failures_in_a_row"]), [1, 2, 3, 4])
      // 50 s to 90 s: five more failures, all within a minute of the 4th's line.
      yield* TestClock.adjust("50 seconds")
      assert.lengthOf(failures(), 4)
      // 100 s: a minute after the 4th's line, one more, saying how many were not logged.
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(failures().at(-1), { kind: "status", failures_in_a_row: 10, threshold: 3, repeated_since_last_line: 5 })
      // The success at 130 s starts the count over; the failure right after the threshold is logged at once again.
      yield* TestClock.adjust("80 seconds")
      assert.deepStrictEqual(failures().slice(5).map((fields) => fields["failures_in_a_row"]), [1, 2, 3, 4])
    })
  )

  it.scoped("a success resets the once-a-minute line: the next run of failures past the threshold is said at once, even within the minute", () =>
    Effect.gen(function* () {
      const logs = capturedLogs(LogLevel.Info)
      // Every 5 s: failures at 5–20 (the 4th, at 20, past the threshold), a success at 25, failures at 30–45.
      yield* start(["ok", 500, 500, 500, 500, "ok", 500, 500, 500, 500], { healthcheckIntervalSeconds: 5 }, SignatureVerifier.layerUnsecured, logs.layer)
      yield* TestClock.adjust("45 seconds")
      const inARow = logs.lines.filter((line) => line.message[0] === "Healthcheck failed with status: 500").map((line) => (line.message[1] as Record<string, unknown>)["failures_in_a_row"])
      assert.deepStrictEqual(inARow, [1, 2, 3, 4, 1, 2, 3, 4])
    })
  )

  it.scoped("once errored, new creates are refused (429: errored) and the session already open stays until it closes", () =>
    Effect.gen(function* () {
      const { metrics, pool } = yield* start(["ok", 500, 500, 500])
      const request = { authData: authData(), cost: 100, requestIdx: 1, lifetimeMs: 3_600_000, onCloseRoute: null, onClosePayload: NO_PAYLOAD }
      yield* pool.create(request)
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual(yield* pool.mode, "serving")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* errorOf(metrics), "Healthcheck failed with status: 500")
      assert.strictEqual(yield* pool.mode, "errored")
      assert.strictEqual(yield* Effect.flip(pool.create({ ...request, requestIdx: 2 })), refusals.errored)
      assert.lengthOf(yield* pool.open, 1)
    })
  )

  it.scoped("a probe that dies (a bug) does not end health checking: the loop starts again and later failures count", () =>
    Effect.gen(function* () {
      const { metrics, probes } = yield* start(["ok", "die", 500, 500, 500])
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* errorOf(metrics), "")
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* Ref.get(probes), [0, 10_000, 20_000, 30_000, 40_000])
      assert.strictEqual(yield* errorOf(metrics), "Healthcheck failed with status: 500")
    })
  )

  it.scoped("one success in between resets the count", () =>
    Effect.gen(function* () {
      const { lifecycle, metrics } = yield* start(["ok", 500, 500, "ok", 500, 500, "ok"])
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(yield* errorOf(metrics), "")
      assert.strictEqual((yield* lifecycle.health).failuresTotal, 4)
    })
  )

  it.scoped("HEALTH_FAILURE_THRESHOLD=1: the first failure after the first success is an error", () =>
    Effect.gen(function* () {
      const { metrics } = yield* start(["ok", "refused"], { healthFailureThreshold: 1 })
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* errorOf(metrics), "Healthcheck failed: refused")
    })
  )

  it.scoped("failures inside HEALTH_STARTUP_GRACE are not errors, even after a first success", () =>
    Effect.gen(function* () {
      const { lifecycle, metrics } = yield* start(["ok", 500, 500, 500, 500, 500, 500], { healthFailureThreshold: 1, healthStartupGraceSeconds: 35 })
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* errorOf(metrics), "")
      assert.strictEqual((yield* lifecycle.health).failuresTotal, 0)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* errorOf(metrics), "Healthcheck failed with status: 500")
    })
  )

  it.scoped("while a session is open a check that only times out is not a failure; a refused connection is", () =>
    Effect.gen(function* () {
      const { lifecycle, metrics, pool } = yield* start(["ok", "timeout", "timeout", "timeout", "refused"], { healthFailureThreshold: 1 })
      yield* pool.create({ authData: authData(), cost: 100, requestIdx: 1, lifetimeMs: 3_600_000, onCloseRoute: null, onClosePayload: NO_PAYLOAD })
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* errorOf(metrics), "")
      assert.strictEqual((yield* lifecycle.health).forgivenTimeouts, 3)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* errorOf(metrics), "Healthcheck failed: refused")
    })
  )

  it.scoped("a check the worker could not make for want of file descriptors is not counted against the consumer: said at warning (at most once a minute), the count kept (probe 54 #2)", () =>
    Effect.gen(function* () {
      const logs = capturedLogs(LogLevel.Warning)
      const { metrics } = yield* start(["ok", 500, "local", "local", "local", 500, "ok"], { healthFailureThreshold: 2 }, undefined, logs.layer)
      yield* TestClock.adjust("40 seconds")
      assert.strictEqual(yield* errorOf(metrics), "")
      const said = logs.lines.filter((line) => String(line.message[0]).startsWith("health check not made"))
      assert.deepStrictEqual(said.map((line) => [line.level, line.message[0]]), Array(1).fill(["WARN", "health check not made: this worker has no file descriptor to spare; not counted against the consumer"]))
      // The failure before the shortage and the one after make two in a row.
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* errorOf(metrics), "Healthcheck failed with status: 500")
    })
  )

  it.scoped("with no session open, a timeout counts like any failure", () =>
    Effect.gen(function* () {
      const { metrics } = yield* start(["ok", "timeout"], { healthFailureThreshold: 1 })
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* errorOf(metrics), "Healthcheck failed: timeout")
    })
  )

  it.scoped("no successful health check within 300 s is an error, and the worker never says it is ready", () =>
    Effect.gen(function* () {
      const { metrics } = yield* start([503])
      yield* TestClock.adjust("299 seconds")
      assert.strictEqual(yield* errorOf(metrics), "")
      yield* TestClock.adjust("1 second")
      const snapshot = yield* metrics.snapshot
      assert.isFalse(snapshot.ready)
      assert.include(snapshot.errorMsg, "Lifecycle startup failed")
    })
  )

  it.scoped("not ready until the public key is loaded; a slow key is not an error", () =>
    Effect.gen(function* () {
      const { metrics } = yield* start(["ok"], {}, verifierThat(Effect.sleep("120 seconds")))
      yield* TestClock.adjust("119999 millis")
      assert.deepStrictEqual([(yield* metrics.snapshot).ready, yield* errorOf(metrics)], [false, ""])
      yield* TestClock.adjust("1 millis")
      assert.isTrue((yield* metrics.snapshot).ready)
    })
  )
})
