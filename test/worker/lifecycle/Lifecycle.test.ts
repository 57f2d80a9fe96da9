import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Ref, TestClock } from "effect"
import { PublicKeyUnavailable, SignatureVerifier } from "../../../src/worker/auth/SignatureVerifier.js"
import { LoadMetrics } from "../../../src/worker/autoscaler/LoadMetrics.js"
import { HealthCheckFailed, HealthProber } from "../../../src/worker/health/HealthProber.js"
import * as Lifecycle from "../../../src/worker/lifecycle/Lifecycle.js"
import { testConfig } from "../../support/layers.js"

/** A prober whose answers come from `script` in turn (the last repeats); records probe times. */
const scriptedProber = (script: ReadonlyArray<"ok" | number>) =>
  Effect.gen(function* () {
    const probes = yield* Ref.make<ReadonlyArray<number>>([])
    const check = Effect.gen(function* () {
      const count = (yield* Ref.getAndUpdate(probes, (all) => [...all, 0])).length
      const answer = script[Math.min(count, script.length - 1)] ?? "ok"
      if (answer !== "ok") return yield* new HealthCheckFailed({ message: `Healthcheck failed with status: ${answer}` })
    })
    return { probes, layer: Layer.succeed(HealthProber, HealthProber.of({ check })) }
  })

const verifierThat = (ready: Effect.Effect<void, PublicKeyUnavailable>) =>
  Layer.succeed(SignatureVerifier, SignatureVerifier.of({ verify: () => Effect.void, ready }))

const start = (script: ReadonlyArray<"ok" | number>, verifier = SignatureVerifier.layerUnsecured) =>
  Effect.gen(function* () {
    const prober = yield* scriptedProber(script)
    const context = yield* Layer.build(
      Lifecycle.layer().pipe(
        Layer.provideMerge(LoadMetrics.Default),
        Layer.provide(prober.layer),
        Layer.provide(verifier),
        Layer.provide(testConfig({ healthcheckIntervalSeconds: 10 }))
      )
    )
    yield* TestClock.adjust("0 millis")
    return { metrics: Context.get(context, LoadMetrics), probes: prober.probes }
  })

describe("Lifecycle", () => {
  it.scoped("ready at once when the key is not needed and the first health check passes", () =>
    Effect.gen(function* () {
      const { metrics } = yield* start(["ok"])
      const snapshot = yield* metrics.snapshot
      assert.deepStrictEqual([snapshot.ready, snapshot.errorMsg], [true, ""])
    })
  )

  it.scoped("failures before the first success are expected; ready after it; failures after it set error_msg", () =>
    Effect.gen(function* () {
      const { metrics, probes } = yield* start([503, 503, "ok", "ok", 500, "ok"])
      assert.isFalse((yield* metrics.snapshot).ready)
      yield* TestClock.adjust("20 seconds")
      assert.lengthOf(yield* Ref.get(probes), 3)
      assert.deepStrictEqual([(yield* metrics.snapshot).ready, (yield* metrics.snapshot).errorMsg], [true, ""])
      yield* TestClock.adjust("20 seconds")
      assert.strictEqual((yield* metrics.snapshot).errorMsg, "Healthcheck failed with status: 500")
      // Sticky: a later success does not clear it.
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* metrics.snapshot).errorMsg, "Healthcheck failed with status: 500")
    })
  )

  it.scoped("no successful health check within 300 s is an error, and the worker never says it is ready", () =>
    Effect.gen(function* () {
      const { metrics } = yield* start([503])
      yield* TestClock.adjust("299 seconds")
      assert.strictEqual((yield* metrics.snapshot).errorMsg, "")
      yield* TestClock.adjust("1 second")
      const snapshot = yield* metrics.snapshot
      assert.isFalse(snapshot.ready)
      assert.include(snapshot.errorMsg, "Lifecycle startup failed")
    })
  )

  it.scoped("not ready until the public key is loaded", () =>
    Effect.gen(function* () {
      const { metrics } = yield* start(["ok"], verifierThat(Effect.sleep("5 seconds")))
      yield* TestClock.adjust("4999 millis")
      assert.isFalse((yield* metrics.snapshot).ready)
      yield* TestClock.adjust("1 millis")
      assert.isTrue((yield* metrics.snapshot).ready)
    })
  )

  it.scoped("a public key that never comes is reported as error_msg, and max_perf stays 0", () =>
    Effect.gen(function* () {
      const failing = Effect.zipRight(
        Effect.sleep("15 seconds"),
        Effect.fail(new PublicKeyUnavailable({ message: "Failed to get Serverless public key after all retry attempts" }))
      )
      const { metrics } = yield* start(["ok"], verifierThat(failing))
      yield* TestClock.adjust("15 seconds")
      const snapshot = yield* metrics.snapshot
      assert.isFalse(snapshot.ready)
      assert.strictEqual(snapshot.errorMsg, "Failed to get Serverless public key after all retry attempts")
    })
  )
})
