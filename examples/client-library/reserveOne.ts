/**
 * The client library, used from a checkout (the package has no library entry point): reserve one worker for a
 * job, keep the session alive while the job runs, and end it, also when the job fails or Ctrl-C stops it. What
 * `endpoint.session(cost, lifetime)` is in Vast's Python SDK. Built by `npm run build`: `VAST_API_KEY=… node
 * dist/examples/reserve-one.js`; the README lists its environment variables and exit statuses.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Config, ConfigError, Console, Duration, Effect, Either, Exit, Layer, Option } from "effect"
import { apiKeyFromEnv } from "../../src/client/apiKey.js"
import { localKeyWarningFromEnv } from "../../src/client/localKey.js"
import { keepSessionAlive, reserveScoped } from "../../src/client/scopedSession.js"
import { type ReserveProgress, VastClient } from "../../src/client/VastClient.js"
import { describeCause } from "../../src/shared/causeLine.js"
import { plainLogfmt } from "../../src/shared/logging.js"
import { rememberStopSignal } from "../../src/shared/signalExitStatus.js"
import { readSeconds } from "../../src/shared/secondsText.js"
import { handledEnvProgramArgs } from "../../src/shared/envProgramArgs.js"

const help = `Usage: VAST_API_KEY=… node dist/examples/reserve-one.js

Reserves one worker of a Vast endpoint, holds it while a job runs (a sleep of JOB_TIME), then ends the session, also
when the job fails or Ctrl-C stops it. Exit status 0 when the session was ended, 1 on a failure, 130/143 on a signal.

Environment:
  VAST_API_KEY          your Vast API key (required)
  VAST_ENDPOINT         the endpoint's name (default my-null-endpoint)
  JOB_TIME              how long the job holds the worker: seconds, or with a unit such as "5m" or "5 minutes" (default 10 seconds)
  VAST_WEBSERVER_URL    where the endpoint is looked up (default https://console.vast.ai)
  VAST_AUTOSCALER_URL   where /route/ is called (default https://run.vast.ai)
  NODE_EXTRA_CA_CERTS   a PEM file of extra CAs: Vast's root CA for workers with USE_SSL=true
`
if (handledEnvProgramArgs(process.argv.slice(2), "reserve-one example", help)) process.exit()

/**
 * What the wait for a worker is doing: a cold endpoint can take minutes to start one, and a silent program looks hung.
 * Waiting polls come every few seconds: one in four is said.
 */
const sayProgress = (progress: ReserveProgress) => {
  const again = (retryIn: Duration.Duration) => `asking again in ${Duration.toSeconds(retryIn).toFixed(1)} s`
  switch (progress._tag) {
    case "Routing":
      return Effect.logInfo(`routing (request_idx ${progress.requestIdx})`)
    case "Waiting":
      return progress.attempt % 4 === 0 ? Effect.logInfo(`waiting for a worker (request_idx ${progress.requestIdx}), ${again(progress.retryIn)}`) : Effect.void
    case "RouteFailed":
      return Effect.logWarning(`route failed (${progress.detail}), ${again(progress.retryIn)}`)
    case "Refused":
      return Effect.logInfo(`${progress.status === 429 ? "the worker routed to is full" : `the worker refused: ${progress.detail}`}, ${again(progress.retryIn)}`)
  }
}

const job = Effect.gen(function* () {
  const vast = yield* VastClient
  // Read before anything is reserved: a bad JOB_TIME must not cost a worker.
  const jobTime = yield* Config.string("JOB_TIME").pipe(
    Config.withDefault("10 seconds"),
    Config.mapOrFail((text) => {
      // A bare number is seconds, as the worker's own settings are, and a short unit is taken as the client's flags
      // take it (`90s`, `5m`); spaces around the value do not count.
      const trimmed = text.trim()
      const read = Option.orElse(Option.map(Option.filter(readSeconds(trimmed), Number.isFinite), Duration.seconds), () => Duration.decodeUnknown(trimmed))
      return Option.match(Option.filter(read, (duration) => Duration.greaterThan(duration, Duration.zero)), {
        onNone: () =>
          Either.left(
            ConfigError.InvalidData(["JOB_TIME"], `must be a duration above 0: seconds ("90") or with a unit ("90s", "5m", "5 minutes"), not ${JSON.stringify(text.slice(0, 64))}`)
          ),
        onSome: Either.right
      })
    })
  )
  const held = yield* Effect.gen(function* () {
    const endpoint = yield* vast.findEndpoint(yield* Config.string("VAST_ENDPOINT").pipe(Config.withDefault("my-null-endpoint")))
    // Routes through the autoscaler until a worker takes the session (a full worker's 429 routes again). The
    // session is ended when the job is over: done, failed, or interrupted (Ctrl-C).
    return yield* reserveScoped({
      endpoint,
      cost: 100,
      lifetime: 600,
      onCloseRoute: null, // or your callback URL: the worker posts {…payload, session_id, close_reason} there
      onClosePayload: { job_id: "j-1" },
      timeout: "5 minutes",
      onProgress: sayProgress
    })
  }).pipe(Effect.onInterrupt(() => Effect.logInfo("interrupted before a worker was reserved: nothing was reserved")))
  const session = held.session
  yield* Effect.logInfo(`session ${session.sessionId} on ${session.url}`)
  // Said on Ctrl-C (before the session is ended, as finalizers run last-added first), so a stop is not silent.
  yield* Effect.addFinalizer((exit) =>
    Exit.isInterrupted(exit) ? Effect.logInfo(`interrupted: ending session ${session.sessionId}`) : Effect.void
  )
  // While the job runs, a /ping every lifetime/3 keeps the session open; a failed one is logged and retried.
  yield* Effect.forkScoped(keepSessionAlive(session, "200 seconds"))
  yield* Effect.sleep(jobTime) // the job (or let the consumer on the instance POST 127.0.0.1:18999/release)
  return held
})

/** An http(s) URL from the environment, refused naming its variable (a bad one would fail later as a bare "Invalid URL"). */
const urlFromEnv = (name: string, fallback: string) =>
  Config.string(name).pipe(
    Config.withDefault(fallback),
    Config.mapOrFail((text) =>
      URL.canParse(text) && /^https?:$/.test(new URL(text).protocol)
        ? Either.right(text)
        : Either.left(ConfigError.InvalidData([name], `must be an http(s) URL, not ${JSON.stringify(text.slice(0, 64))}`))
    )
  )

// Vast's own URLs unless told otherwise (the local serverless: both http://127.0.0.1:8080).
const client = Layer.unwrapEffect(
  Effect.gen(function* () {
    const apiKey = yield* apiKeyFromEnv
    const webserverUrl = yield* urlFromEnv("VAST_WEBSERVER_URL", "https://console.vast.ai")
    const autoscalerUrl = yield* urlFromEnv("VAST_AUTOSCALER_URL", "https://run.vast.ai")
    // The local serverless's key sent to Vast fails after a while with no word of why: said at once.
    const warning = yield* localKeyWarningFromEnv([webserverUrl, autoscalerUrl], "set VAST_WEBSERVER_URL and VAST_AUTOSCALER_URL to its address")
    if (warning !== null) yield* Console.error(warning)
    return VastClient.layer({
      apiKey,
      webserverUrl,
      autoscalerUrl,
      addressSettingNames: { webserverUrl: "VAST_WEBSERVER_URL", autoscalerUrl: "VAST_AUTOSCALER_URL", instanceLocal: false }
    })
  })
).pipe(Layer.provide(NodeHttpClient.layerUndici))

// Ctrl-C (SIGINT) or SIGTERM interrupts the job; the session is ended, then the status is 130 or 143.
const stoppedBy = rememberStopSignal()
job.pipe(
  // Leaving the scope ended the session; an end that failed fails the run (exit status 1), as the session stays open.
  Effect.scoped,
  Effect.flatMap((held) => Effect.as(held.ended, held.session)),
  Effect.tap((session) => Effect.logInfo(`job done: session ${session.sessionId} ended`)),
  Effect.provide(client),
  // The same logfmt lines on stdout as the worker, the serverless and the other examples.
  Effect.provide(plainLogfmt),
  Effect.tapErrorCause((cause) => (Cause.isInterruptedOnly(cause) ? Effect.void : Console.error(describeCause(cause)))),
  NodeRuntime.runMain({ disablePrettyLogger: true, disableErrorReporting: true, teardown: (exit, onExit) => onExit(stoppedBy() ?? (Exit.isFailure(exit) ? 1 : 0)) })
)
