/**
 * When the worker is ready, and when it is broken (vast-protocol.md §6).
 *
 * Ready = the listeners are up (this layer is built after them) + the autoscaler's public key is
 * loaded (not needed with `UNSECURED=true`) + the first successful health check, waited for at most
 * `readinessTimeout`. There is no benchmark delay: a null worker's `max_perf` is fixed at 100.
 *
 * Health checks run every `HEALTHCHECK_INTERVAL`. Failures before the first success are expected (the
 * consumer may start after the worker). Any failure after it sets `error_msg`, which stays set: like
 * the framework, we do not clear it on a later success, because the autoscaler decommissions an
 * errored worker, and a consumer that has crashed once may have lost the work it held.
 */
import { Deferred, Duration, Effect, Layer } from "effect"
import { LoadMetrics } from "../autoscaler/LoadMetrics.js"
import { SignatureVerifier } from "../auth/SignatureVerifier.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { HealthProber } from "../health/HealthProber.js"

export interface LifecyclePolicy {
  /** How long the first successful health check may take before the worker reports an error. */
  readonly readinessTimeout: Duration.DurationInput
}

export const defaultLifecyclePolicy: LifecyclePolicy = { readinessTimeout: "300 seconds" }

export const layer = (policy: LifecyclePolicy = defaultLifecyclePolicy) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const config = yield* WorkerConfig
      const prober = yield* HealthProber
      const verifier = yield* SignatureVerifier
      const metrics = yield* LoadMetrics
      const firstHealthy = yield* Deferred.make<void>()

      const healthLoop = Effect.gen(function* () {
        for (;;) {
          const outcome = yield* Effect.either(prober.check)
          const healthySeen = yield* Deferred.isDone(firstHealthy)
          if (outcome._tag === "Right") {
            if (!healthySeen) {
              yield* Deferred.succeed(firstHealthy, undefined)
              yield* Effect.logInfo("first health check passed")
            }
          } else if (healthySeen) {
            yield* Effect.logError(outcome.left.message)
            yield* metrics.markErrored(outcome.left.message)
          } else {
            yield* Effect.logDebug(`waiting for the consumer: ${outcome.left.message}`)
          }
          yield* Effect.sleep(Duration.seconds(config.healthcheckIntervalSeconds))
        }
      })

      const becomeReady = Effect.gen(function* () {
        const key = yield* Effect.either(verifier.ready)
        if (key._tag === "Left") {
          yield* Effect.logError(key.left.message)
          return yield* metrics.markErrored(key.left.message)
        }
        const healthy = yield* Deferred.await(firstHealthy).pipe(Effect.timeoutOption(policy.readinessTimeout))
        if (healthy._tag === "None") {
          const message = `Lifecycle startup failed: no successful health check within ${Duration.format(policy.readinessTimeout)}`
          yield* Effect.logError(message)
          return yield* metrics.markErrored(message)
        }
        yield* metrics.markReady
        yield* Effect.logInfo("ready")
      })

      yield* Effect.forkScoped(healthLoop.pipe(Effect.catchAllCause((cause) => Effect.logError("health loop stopped", cause))))
      yield* Effect.forkScoped(becomeReady.pipe(Effect.catchAllCause((cause) => Effect.logError("readiness failed", cause))))
    })
  )
