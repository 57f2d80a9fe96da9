/**
 * The null worker process, composed here and nowhere else.
 *
 * SIGTERM/SIGINT interrupt the main fiber and the layers close in reverse: listeners stop accepting,
 * open sessions close with reason `shutdown`, their callbacks are drained, a last load report goes out,
 * and the process exits 0. If the worker cannot launch (bad environment, unreadable certificate, port
 * taken), it says why once and, when it knows where the autoscaler is, keeps reporting the error there
 * every 10 s until it is stopped, so the autoscaler can replace it (vast-protocol.md §6.5).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Layer, Logger, Option } from "effect"
import { SignatureVerifier } from "./auth/SignatureVerifier.js"
import * as AutoscalerReporter from "./autoscaler/AutoscalerReporter.js"
import { LoadMetrics } from "./autoscaler/LoadMetrics.js"
import { reportLaunchFailure } from "./autoscaler/launchFailure.js"
import { CallbackPoster } from "./callbacks/CallbackPoster.js"
import { WorkerConfig } from "./config/WorkerConfig.js"
import { HealthProber } from "./health/HealthProber.js"
import { controlRouter } from "./http/ControlHttp.js"
import { listen } from "../shared/listen.js"
import { publicRouter, webhookRouter } from "./http/PublicHttp.js"
import { tlsServer } from "./http/tls.js"
import * as Lifecycle from "./lifecycle/Lifecycle.js"
import { SlotPool } from "./slots/SlotPool.js"

const Listeners = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* WorkerConfig
    const publicServer = config.useSsl ? Option.some(yield* tlsServer(config)) : Option.none()
    return Layer.mergeAll(
      listen(publicRouter, {
        name: config.useSsl ? "public API (TLS)" : "public API",
        host: config.publicHost,
        port: config.workerPort,
        ...Option.match(publicServer, { onNone: () => ({}), onSome: (server) => ({ server: () => server }) })
      }),
      // The webhook port stays plain HTTP, as in the framework.
      listen(webhookRouter, { name: "webhook", host: config.publicHost, port: config.workerHttpPort }),
      // Loopback only: /release has no auth.
      listen(controlRouter({ stubHealth: Option.isNone(config.backendHealthUrl) }), {
        name: "control",
        host: "127.0.0.1",
        port: config.controlPort
      })
    )
  })
)

const Verifier = Layer.unwrapEffect(
  Effect.map(WorkerConfig, (config) =>
    config.unsecured
      ? SignatureVerifier.layerUnsecured
      : SignatureVerifier.layer({ pubkeyUrl: `${config.reportAddrs[0] ?? ""}/pubkey/` })
  )
)

const Prober = Layer.unwrapEffect(
  Effect.map(WorkerConfig, (config) =>
    HealthProber.layer(Option.getOrElse(config.backendHealthUrl, () => `http://127.0.0.1:${config.controlPort}/health`))
  )
)

// Built bottom-up, released top-down: the reporter is built before the pool, so on shutdown it sends
// its last report after the pool has closed every session.
const Services = SlotPool.Default.pipe(
  Layer.provideMerge(CallbackPoster.layer()),
  Layer.provideMerge(AutoscalerReporter.layer()),
  Layer.provideMerge(Layer.mergeAll(LoadMetrics.Default, Verifier, Prober))
)

const Worker = Lifecycle.layer().pipe(
  Layer.provide(Listeners),
  Layer.provideMerge(Services),
  Layer.provide(NodeHttpClient.layer),
  Layer.provide(WorkerConfig.layerFromEnv)
)

/** What went wrong, in one line; errors without a message (a listener's `ServeError`) name their cause. */
const describe = (cause: Cause.Cause<{ readonly _tag: string; readonly message: string }>): string =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => Cause.pretty(cause),
    onSome: (error) =>
      error.message !== ""
        ? error.message
        : "cause" in error && error.cause instanceof Error
          ? `${error._tag}: ${error.cause.message}`
          : error._tag
  })

const program = Layer.launch(Worker).pipe(
  Effect.catchAllCause((cause) =>
    // Only interruption (SIGTERM while starting) is a stop. A listener that fails to bind interrupts its
    // siblings, so a real failure arrives mixed with interruptions: look for the failure itself.
    Option.isNone(Cause.failureOption(cause)) && Cause.defects(cause).length === 0
      ? Effect.void
      : Effect.gen(function* () {
          const reason = `Worker Server failed to launch: ${describe(cause)}`
          yield* Effect.logError(reason)
          yield* reportLaunchFailure(reason)
        })
  )
)

// The last line of a deliberate stop. scripts/start-vast.sh looks for it: a worker that is gone without
// it was killed (out of memory, SIGKILL) and is reported as such.
const stopped = Effect.logInfo("worker stopped")

// logfmt: one parseable line per event, and cheaper than the pretty logger on the session path.
NodeRuntime.runMain(program.pipe(Effect.ensuring(stopped), Effect.provide(Layer.merge(Logger.logFmt, NodeHttpClient.layer))), {
  disableErrorReporting: true,
  disablePrettyLogger: true
})

