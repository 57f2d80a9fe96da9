/**
 * The order in which the worker stops, written down once (design.md "Shutdown"; issue: never lose a close).
 *
 * On the first SIGTERM/SIGINT or `/pyworker/update`:
 * 1. drain: new `/session/create` → 429, `/ping` says `draining: true`, `GET /sessions` says
 *    `"draining": true`; open sessions may still end, be released or expire. The autoscaler hears it at once.
 *    Every answer from here on closes its connection, so that clients come back on new ones, which step 3 refuses;
 *    An errored worker (its consumer presumed dead) skips the wait, and one that becomes errored during it, or whose
 *    consumer stops answering its health checks (which go on through the whole stop: `Lifecycle` is a dependency,
 *    closed after it), ends it; a consumer gone during a stop is not reported as an error: the stop is deliberate;
 * 2. after `DRAIN_TIMEOUT` seconds (or at once on a second signal), what is still open closes with `shutdown`;
 * 3. the listeners stop: idle connections close at once, busy ones after a short grace, so no client can hold
 *    the process;
 * 4. the callback outbox gets its bounded chance; what is left is logged one line each (and stays in the
 *    `OUTBOX_FILE` journal when there is one);
 * 5. the last `/worker_status/` (empty) and `/delete_requests/` go out.
 *
 * Each step is a method of the service that owns it, and each service also does its part in its own
 * finalizer, idempotently: this sequence is the order, the finalizers are the safety net.
 */
import { Duration, Effect, Fiber, Layer, Option } from "effect"
import { AutoscalerReporter } from "../autoscaler/AutoscalerReporter.js"
import { LoadMetrics } from "../autoscaler/LoadMetrics.js"
import { CallbackPoster } from "../callbacks/CallbackPoster.js"
import { WorkerConfig } from "../config/WorkerConfig.js"
import { Listeners } from "../http/Listeners.js"
import { SlotPool } from "../slots/SlotPool.js"
import { Lifecycle } from "./Lifecycle.js"
import { StopSignal } from "./StopSignal.js"

/**
 * The reporter, started once the listeners hold their ports: a worker that cannot bind them (a second start while a
 * predecessor drains, or a port another process holds) must not report under the instance's id meanwhile.
 */
const reportingOnceBound = Layer.provide(AutoscalerReporter.Default, Listeners.Default)

/** Busy connections get this long to finish their answer once the listeners stop. */
export const CONNECTION_GRACE = "2 seconds"

export class Shutdown extends Effect.Service<Shutdown>()("worker/Shutdown", {
  scoped: Effect.gen(function* () {
    const config = yield* WorkerConfig
    const pool = yield* SlotPool
    const outbox = yield* CallbackPoster
    const reporter = yield* AutoscalerReporter
    const listeners = yield* Listeners
    const stop = yield* StopSignal
    const metrics = yield* LoadMetrics
    // Built before this service, so closed after the stop: a consumer that dies during the drain is still seen by the
    // health checks, and ends the drain (review 56 M1: they stopped at the first signal).
    const lifecycle = yield* Lifecycle

    const drain = Effect.gen(function* () {
      // Said for every stop, an idle one included: the drain's own line comes only when sessions are open.
      const reason = yield* stop.reason
      if (Option.isSome(reason)) yield* Effect.logInfo("stopping", { reason: reason.value })
      yield* pool.retire
      yield* listeners.closeAfterAnswers
      const open = (yield* pool.open).length
      if (open === 0 || config.drainTimeoutSeconds === 0) return
      const { errorMsg } = yield* metrics.snapshot
      if (errorMsg !== "") {
        // An errored worker's consumer is presumed dead: nobody would release its sessions in the window.
        return yield* Effect.logInfo("not draining: the worker is errored", { error_msg: errorMsg, open_sessions: open })
      }
      yield* Effect.logInfo("draining: new sessions are refused; open ones may finish (a second signal, or Ctrl-C again, closes them now)", {
        open_sessions: open,
        drain_timeout: config.drainTimeoutSeconds
      })
      const outcome = yield* Effect.raceAll([
        Effect.as(pool.awaitEmpty, "empty" as const),
        Effect.as(Effect.sleep(Duration.seconds(config.drainTimeoutSeconds)), "deadline" as const),
        Effect.as(stop.hurried, "second signal" as const),
        // Its consumer presumed dead: nobody will release its sessions in the rest of the window.
        Effect.as(metrics.awaitErrored, "the worker is errored" as const),
        Effect.as(lifecycle.consumerGone, "the consumer no longer answers its health checks" as const)
      ]).pipe(Effect.interruptible)
      if (outcome !== "empty") yield* Effect.logInfo(outcome === "deadline" ? "drain window over: sessions still open are closed" : `drain ended early: ${outcome}`)
    })

    const sequence = Effect.gen(function* () {
      yield* drain
      yield* pool.shutdown
      yield* listeners.close(CONNECTION_GRACE)
      yield* outbox.drain()
      yield* reporter.finalReport
    })

    // Built after everything it names, so this runs first when the worker's scope closes. In a fiber of its own: a stop
    // signal interrupts the fiber that holds the scope (runMain), and there the drain's interruptible wait would end at
    // once (review 36 L5); it must not depend on how the layers above happen to close their scopes.
    yield* Effect.addFinalizer(() => Effect.flatMap(Effect.forkDaemon(sequence), Fiber.join))
    return { sequence }
  }),
  dependencies: [SlotPool.Default, CallbackPoster.Default, reportingOnceBound, Listeners.Default, StopSignal.Default, LoadMetrics.Default, Lifecycle.Default]
}) {}
