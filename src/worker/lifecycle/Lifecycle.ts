/**
 * When the worker is ready, and when it is broken (vast-protocol.md §6).
 *
 * Ready = the listeners are up (this service is built after them) + the autoscaler's public key is loaded
 * (not needed with `UNSECURED=true`) + the first successful health check, waited for at most
 * `readinessTimeout`. There is no benchmark delay: a null worker's `max_perf` is fixed at 100.
 *
 * Health checks run every `HEALTHCHECK_INTERVAL`. What counts as broken:
 * - failures before the first success are expected (the consumer may start after the worker), and so are
 *   failures within `HEALTH_STARTUP_GRACE` of the start;
 * - while a session is open, a check that only *times out* is not a failure: a busy consumer may be slow. A
 *   refused connection or an error status is;
 * - `error_msg` is set after `HEALTH_FAILURE_THRESHOLD` failures in a row; a success in between resets the
 *   count. The error goes out in the very next report.
 *
 * Once set, `error_msg` stays (like the framework): the autoscaler decommissions an errored worker, and a
 * consumer that was dead for three checks may have lost the work it held, so a later success does not make
 * the instance trustworthy again. A consumer that knows better can say so sooner with `POST /recycle`.
 */
import { Deferred, Duration, Effect, Layer, Option } from "effect"
import { describeRestart, restartOnDefect } from "../../shared/restartOnDefect.js"
import { makeThrottledLog } from "../../shared/throttledLog.js"
import { SignatureVerifier } from "../auth/SignatureVerifier.js"
import { LoadMetrics } from "../autoscaler/LoadMetrics.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { HealthProber } from "../health/HealthProber.js"
import { Listeners } from "../http/Listeners.js"
import { WorkerMetrics } from "../metrics/WorkerMetrics.js"
import { SlotPool } from "../slots/SlotPool.js"

export interface LifecyclePolicy {
  /** How long the first successful health check may take before the worker reports an error. */
  readonly readinessTimeout: Duration.DurationInput
}

export const defaultLifecyclePolicy: LifecyclePolicy = { readinessTimeout: "300 seconds" }

export interface HealthState {
  readonly healthySeen: boolean
  readonly consecutiveFailures: number
  /** Failures counted against the threshold since start. */
  readonly failuresTotal: number
  /** Timeouts forgiven because a session was open. */
  readonly forgivenTimeouts: number
}

const make = (policy: LifecyclePolicy) =>
  Effect.gen(function* () {
    const config = yield* WorkerConfig
    const prober = yield* HealthProber
    const verifier = yield* SignatureVerifier
    const metrics = yield* LoadMetrics
    const pool = yield* SlotPool
    const prometheus = yield* WorkerMetrics
    // Readiness needs the listeners up: built after them.
    yield* Listeners
    const firstHealthy = yield* Deferred.make<void>()
    const graceMs = config.healthStartupGraceSeconds * 1000
    let consecutiveFailures = 0
    let failuresTotal = 0
    let forgivenTimeouts = 0
    /** The last reason logged while waiting for the consumer: a new one is worth an info line, a repeat is not. */
    let waitingReason = ""
    // Past the threshold the worker is errored and says so in its reports; its checks go on failing until the
    // autoscaler replaces it, which can take hours: a line a minute with the count, not one per check.
    const pastThreshold = makeThrottledLog()

    // An errored worker's consumer is presumed dead: a session now would hold a worker nobody serves, so new creates
    // get 429 and go elsewhere (the framework takes them). Open sessions stay, as their consumer may still finish them.
    // The change of state gets one error line of its own: the warnings before it only count failures.
    const becomeErrored = (message: string) =>
      Effect.flatMap(metrics.markErrored(message), (changed) =>
        Effect.zipRight(
          pool.errored,
          changed ? Effect.logError(`the worker is errored: ${message}; it takes no new session, and its reports ask the autoscaler to replace it`) : Effect.void
        )
      )

    // During a deliberate stop a consumer that no longer answers most likely went with its worker (a container's stop
    // signals every process): nobody is left to end its sessions, so the drain ends, but the stop is not a failure to
    // report (review 58 M2; probe 37 L2's rule for start-vast.sh).
    const consumerGone = yield* Deferred.make<string>()
    const goneDuringStop = (message: string) =>
      Effect.flatMap(Deferred.succeed(consumerGone, message), (first) =>
        first ? Effect.logWarning(`the consumer no longer answers its health checks during the stop: ${message}; the drain ends, as nobody is left to end its sessions`) : Effect.void
      )

    const healthLoop = Effect.gen(function* () {
      for (;;) {
        const outcome = yield* Effect.either(prober.check)
        const healthySeen = yield* Deferred.isDone(firstHealthy)
        if (outcome._tag === "Right") {
          consecutiveFailures = 0
          yield* pastThreshold.reset("health")
          if (!healthySeen) {
            yield* Deferred.succeed(firstHealthy, undefined)
            // Without BACKEND_HEALTH_URL nothing was checked (HealthProber.layerFromConfig): said as it is.
            yield* Effect.logInfo(Option.isSome(config.backendHealthUrl) ? "first health check passed" : "no consumer to check (BACKEND_HEALTH_URL is unset)")
          }
        } else {
          const failure = outcome.left
          const inGrace = (yield* metrics.uptimeMillis) < graceMs
          const busy = (yield* pool.open).length > 0
          if (!healthySeen || inGrace) {
            // Once per reason at info: an operator whose consumer never gets ready sees why (a 302, a refused port).
            const line = `waiting for the consumer: ${failure.message}`
            yield* failure.message === waitingReason ? Effect.logDebug(line) : Effect.logInfo(line)
            waitingReason = failure.message
          } else if (failure.kind === "timeout" && busy) {
            forgivenTimeouts++
            yield* Effect.logInfo("health check timed out while a session is open; not counted", { reason: failure.message })
          } else if (failure.kind === "local") {
            // Throttled: at HEALTHCHECK_INTERVAL 0.01 it would be a hundred lines a second (review 60).
            yield* pastThreshold.log(pastThreshold.warning, "health-local", "health check not made: this worker has no file descriptor to spare; not counted against the consumer", { reason: failure.message })
          } else {
            consecutiveFailures++
            failuresTotal++
            prometheus.healthFailure()
            // The kind (`refused`, `status`, `timeout`, `transport`) for an operator to filter on: a dead consumer from a slow one.
            const fields = { kind: failure.kind, failures_in_a_row: consecutiveFailures, threshold: config.healthFailureThreshold }
            yield* consecutiveFailures <= config.healthFailureThreshold
              ? Effect.logWarning(failure.message, fields)
              : pastThreshold.log(pastThreshold.warning, "health", failure.message, fields)
            if (consecutiveFailures >= config.healthFailureThreshold) yield* (yield* pool.stopping) ? goneDuringStop(failure.message) : becomeErrored(failure.message)
          }
        }
        // Until the consumer first answers, look again sooner: it usually starts a moment after the worker.
        yield* Effect.sleep(Duration.seconds(healthySeen || outcome._tag === "Right" ? config.healthcheckIntervalSeconds : Math.min(1, config.healthcheckIntervalSeconds)))
      }
    })

    const becomeReady = Effect.gen(function* () {
      yield* verifier.ready
      const healthy = yield* Deferred.await(firstHealthy).pipe(Effect.timeoutOption(policy.readinessTimeout))
      if (healthy._tag === "None") {
        return yield* becomeErrored(`Lifecycle startup failed: no successful health check within ${Duration.format(policy.readinessTimeout)}`)
      }
      // A stop began first (the checks go on through it): a worker that takes no session does not become ready now
      // (review 57 I9: "ready" after "stopping").
      if (yield* pool.stopping) return
      yield* metrics.markReady
      yield* Effect.logInfo("ready")
    })

    // A health loop that dies (a bug) starts again: without it a dead consumer is never noticed.
    yield* Effect.forkScoped(
      restartOnDefect(healthLoop, Duration.seconds(config.healthcheckIntervalSeconds), (cause, restart) =>
        Effect.logError(`health loop crashed; ${describeRestart(restart)}`, cause)
      )
    )
    yield* Effect.forkScoped(becomeReady.pipe(Effect.catchAllCause((cause) => Effect.logError("readiness failed", cause))))

    return {
      health: Effect.map(Deferred.isDone(firstHealthy), (healthySeen): HealthState => ({ healthySeen, consecutiveFailures, failuresTotal, forgivenTimeouts })),
      /** Completes once the consumer failed `HEALTH_FAILURE_THRESHOLD` checks in a row during a stop: its last failure. */
      consumerGone: Deferred.await(consumerGone)
    }
  })

export class Lifecycle extends Effect.Service<Lifecycle>()("worker/Lifecycle", {
  scoped: make(defaultLifecyclePolicy),
  dependencies: [SlotPool.Default, LoadMetrics.Default, Listeners.Default, WorkerMetrics.Default]
}) {
  static readonly layerWith = (policy: LifecyclePolicy) =>
    Layer.scoped(Lifecycle, Effect.map(make(policy), (service) => Lifecycle.make(service)))
}
