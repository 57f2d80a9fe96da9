/**
 * `node dist/serverless.js`: a local stand-in for Vast's control plane. It serves endpoint lookup,
 * `/route/` (signed), `/pubkey/`, `/worker_status/`, `/delete_requests/`, `/get_endpoint_workers/`,
 * `/metrics` and a status page, and starts and stops real worker processes (`dist/main.js`) by the
 * endpoint's scaling parameters. A development tool: production scaling is Vast's (see
 * docs/local-serverless.md).
 *
 * Exit status: 0 after Ctrl-C or SIGTERM (the workers are stopped first); 1 when it cannot start (a
 * bad option, the port taken), with one line saying why.
 */
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import { Command } from "@effect/cli"
import { HttpServer } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { httpClientClosingUpgraded } from "../shared/closeUpgraded.js"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Data, Duration, Effect, Layer, Option, Schedule } from "effect"
import { listenFailure } from "../shared/listenFailure.js"
import { plainLogfmt } from "../shared/logging.js"
import { answeredStandardFlags } from "../shared/cliHelp.js"
import { help, options } from "./cli.js"
import { type EndpointParams, recommended, vastDefaults } from "./scaling.js"
import { apiKeyText } from "../protocol/apiKey.js"
import { logListening } from "../shared/listeningLine.js"
import { runWithLogLevel } from "../shared/logLevelFlag.js"
import { serveApp, serverLayer } from "../shared/listen.js"
import { ClientConnections } from "./ClientConnections.js"
import { ControlPlane, ServerlessConfig } from "./ControlPlane.js"
import { serverlessApp } from "./http.js"
import { ServerlessMetrics } from "./ServerlessMetrics.js"
import { WorkerLauncher } from "./WorkerLauncher.js"
import { WorkerSessions } from "./WorkerSessions.js"
import { VERSION } from "../shared/version.js"
import { stopWhenOrphaned } from "../shared/orphanWatch.js"
import { withOneLineErrors } from "../shared/cliConsole.js"
import { reachableUrl } from "../shared/reachableUrl.js"
import { rememberStopSignal } from "../shared/signalExitStatus.js"
import { outputWritten } from "../shared/outputWritten.js"

/** It cannot start (the port is taken, say): the reason was printed, the status is 1. */
class StartFailed extends Data.TaggedError("StartFailed")<{}> {}

/**
 * Idle client connections stay open this long. A client that keeps its connection between polls of
 * `/route/` (up to 5 s apart) must never see it closed by us: a close is how a client's departure is
 * recognised (ClientConnections.ts).
 */
const KEEP_ALIVE_TIMEOUT_MS = 30_000

const workerScript = fileURLToPath(new URL("./main.js", import.meta.url))
const sidecarScript = fileURLToPath(new URL("./sidecar.js", import.meta.url))

const serverless = Command.make("null-worker-serverless", options, (opts) => {
  // A health path with no sidecar to answer it would be dropped, and the workers would check nothing.
  if (Option.isSome(opts.sidecarHealth) && Option.isNone(opts.sidecar)) {
    return Effect.zipRight(Console.error("--sidecar-health needs --sidecar: it is the path the sidecar answers health checks on"), Effect.fail(new StartFailed()))
  }
  const base = opts.recommended ? recommended : vastDefaults
  const pick = (value: Option.Option<number>, fallback: number) => Option.getOrElse(value, () => fallback)
  const params: EndpointParams = {
    target_util: pick(opts.targetUtil, base.target_util),
    min_load: pick(opts.minLoad, base.min_load),
    max_workers: pick(opts.maxWorkers, base.max_workers),
    cold_workers: pick(opts.coldWorkers, base.cold_workers),
    inactivity_timeout: pick(opts.inactivityTimeout, base.inactivity_timeout),
    max_queue_time: pick(opts.maxQueueTime, base.max_queue_time),
    target_queue_time: pick(opts.targetQueueTime, base.target_queue_time)
  }
  const settings = ServerlessConfig.of({
    endpointName: opts.endpoint,
    userApiKey: opts.apiKey,
    params,
    workerScript,
    sidecarScript,
    healthcheckInterval: opts.healthcheckInterval,
    sidecar: opts.sidecar,
    sidecarHealthPath: opts.sidecarHealth,
    verbose: opts.verbose
  })
  const run = Effect.gen(function* () {
    const plane = yield* ControlPlane
    // Where it listens, which is also where its workers report: the address `--host` bound, not always 127.0.0.1.
    const url = yield* HttpServer.addressWith((address) => Effect.succeed(address._tag === "TcpAddress" ? reachableUrl(address.hostname, address.port) : ""))
    yield* plane.setBaseUrl(url)
    // The workers stop while this still listens: their last reports and the callbacks they deliver to its sink arrive
    // (the listener is released after this scope).
    yield* Effect.addFinalizer(() => plane.stopAll)
    yield* stopWhenOrphaned
    yield* logListening(`serverless listening on ${url} (status page: ${url}/)`)
    yield* Effect.logInfo(`endpoint ${settings.endpointName}: ${JSON.stringify(params)}`)
    if (!apiKeyText(settings.userApiKey).usable) {
      // Taken (a caller may send its UTF-8 bytes), but the project's own client refuses such a VAST_API_KEY before any call.
      yield* Effect.logWarning(
        "the user key holds a space, a control character or a character outside ASCII: the client (VAST_API_KEY) refuses such a key; a caller sending its UTF-8 bytes in Bearer or ?api_key= is still let in"
      )
    }
    if (params.max_workers === 0) {
      yield* Effect.logWarning(`endpoint ${settings.endpointName}: max_workers is 0, so no worker will start; a client waits for one until its route timeout`)
    }
    yield* plane.tick.pipe(
      Effect.catchAllCause((cause) => Effect.logError("scaling tick failed", cause)),
      Effect.repeat(Schedule.spaced(Duration.seconds(opts.tick)))
    )
  })
  // Announced by `run`, once the control plane knows its URL.
  const Server = serveApp(serverlessApp, "serverless", { announce: false }).pipe(
    Layer.provideMerge(
      serverLayer({
        name: "serverless",
        host: opts.host,
        port: opts.port,
        server: () => {
          const server = createServer()
          server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
          return server
        }
      })
    )
  )
  return run.pipe(
    Effect.scoped,
    Effect.provide(Server),
    Effect.provide(ClientConnections.Default),
    Effect.provide(ControlPlane.Default),
    Effect.provide(Layer.mergeAll(WorkerLauncher.layer(), ServerlessMetrics.Default, WorkerSessions.layer.pipe(Layer.provide(httpClientClosingUpgraded())))),
    Effect.provide(Layer.succeed(ServerlessConfig, settings)),
    Effect.catchTag("ServeError", (error) =>
      Effect.zipRight(Console.error(`serverless: ${listenFailure(error.cause, opts.host, opts.port, "--port")}`), Effect.fail(new StartFailed()))
    ),
    Effect.asVoid
  )
})

const cli = Command.run(serverless, { name: "null-worker local serverless", version: VERSION })

const args = process.argv.slice(2)
if (!answeredStandardFlags(args, "null-worker-serverless", help, serverless)) {
  // A closed terminal stops the workers in order, as Ctrl-C does; a stop's echo (timeout(1)) is not a second one. The
  // status is the serverless's own: 0 after a stop.
  rememberStopSignal()
  withOneLineErrors(runWithLogLevel(cli, process.argv), help).pipe(
    Effect.provide(Layer.merge(NodeContext.layer, plainLogfmt)),
    // A stop's last lines reach a reader behind on a pipe before the exit (`outputWritten.ts`).
    Effect.ensuring(outputWritten()),
    // Failures were said in one line where they happened (or by @effect/cli, for a bad option).
    NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
  )
}
