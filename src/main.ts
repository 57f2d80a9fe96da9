/**
 * The null worker process: three listeners over one slot pool, composed here and nowhere else.
 * SIGTERM/SIGINT interrupt the main fiber; the layers then close in reverse: listeners stop accepting,
 * open sessions close with reason `shutdown`, their callbacks are drained, and the process exits 0.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Layer, Logger, Option } from "effect"
import { SignatureVerifier } from "./auth/SignatureVerifier.js"
import { CallbackPoster } from "./callbacks/CallbackPoster.js"
import { WorkerConfig } from "./config/WorkerConfig.js"
import { controlRouter } from "./http/ControlHttp.js"
import { listen } from "./http/listen.js"
import { publicRouter, webhookRouter } from "./http/PublicHttp.js"
import { SlotPool } from "./slots/SlotPool.js"

const Listeners = Layer.unwrapEffect(
  Effect.map(WorkerConfig, (config) =>
    Layer.mergeAll(
      listen(publicRouter, { name: "public API", host: config.publicHost, port: config.workerPort }),
      listen(webhookRouter, { name: "webhook", host: config.publicHost, port: config.workerHttpPort }),
      // Loopback only: /release has no auth.
      listen(controlRouter({ stubHealth: Option.isNone(config.backendHealthUrl) }), {
        name: "control",
        host: "127.0.0.1",
        port: config.controlPort
      })
    )
  )
)

const Services = SlotPool.Default.pipe(
  Layer.provideMerge(CallbackPoster.layer()),
  Layer.provideMerge(SignatureVerifier.layerUnsecured)
)

const Worker = Listeners.pipe(
  Layer.provide(Services),
  Layer.provide(NodeHttpClient.layerUndici),
  Layer.provide(WorkerConfig.layerFromEnv)
)

// A bad environment is the operator's mistake, not a crash: say what is wrong, without a stack.
const program = Layer.launch(Worker).pipe(
  Effect.tapErrorCause((cause) =>
    Cause.failureOption(cause).pipe(
      Option.match({
        onNone: () => Effect.logError("worker failed", cause),
        onSome: (error) => Effect.logError(error.message)
      })
    )
  )
)

// logfmt: one parseable line per event, and cheaper than the pretty logger on the session path.
NodeRuntime.runMain(program.pipe(Effect.provide(Logger.logFmt)), { disableErrorReporting: true, disablePrettyLogger: true })
