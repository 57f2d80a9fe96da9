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
import { Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { HttpServer } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Config, Console, Data, Duration, Effect, Layer, Option, Schedule } from "effect"
import { listenFailure } from "../shared/listenFailure.js"
import { plainLogfmt } from "../shared/logging.js"
import { answeredStandardFlags, defaulted, type Flag, optional, optionsOf, renderHelp, toggle, withDefault } from "../shared/cliHelp.js"
import { logListening } from "../shared/listeningLine.js"
import { runWithLogLevel } from "../shared/logLevelFlag.js"
import { serveApp, serverLayer } from "../shared/listen.js"
import { ClientConnections } from "./ClientConnections.js"
import { ControlPlane, ServerlessConfig } from "./ControlPlane.js"
import { serverlessApp } from "./http.js"
import { type EndpointParams, recommended, vastDefaults } from "./scaling.js"
import { ServerlessMetrics } from "./ServerlessMetrics.js"
import { WorkerLauncher } from "./WorkerLauncher.js"
import { WorkerSessions } from "./WorkerSessions.js"
import { VERSION } from "../shared/version.js"
import { atLeast, finite, fraction, from0, waitable, wholeAtLeast } from "../shared/numericFlags.js"
import { nonEmpty, nonEmptyText } from "../shared/textFlags.js"
import { apiKeyText } from "../protocol/apiKey.js"
import { stopWhenOrphaned } from "../shared/orphanWatch.js"
import { withOneLineErrors } from "../shared/cliConsole.js"
import { HEALTHCHECK_INTERVAL_MIN_SECONDS } from "../shared/healthcheckIntervalMin.js"
import { reachableUrl } from "../shared/reachableUrl.js"
import { rememberStopSignal } from "../shared/signalExitStatus.js"
import { outputWritten } from "../shared/outputWritten.js"

const count = wholeAtLeast(0)

/** A scaling parameter: optional, its default being Vast's, or the README's with --recommended. */
const param = <K extends keyof EndpointParams>(
  key: K,
  option: (name: string) => Options.Options<number>,
  value: string,
  description: string
): Flag<Option.Option<number>> => {
  const name = key.replaceAll("_", "-")
  const fallback = vastDefaults[key] === recommended[key] ? String(vastDefaults[key]) : `${vastDefaults[key]}; ${recommended[key]} with --recommended`
  return optional(option(name), { name, value, description, fallback })
}

/** Scaling decisions at most a hundred a second: a tick near 0 would hold a core to decide nothing new. */
const MIN_TICK_SECONDS = 0.01

/**
 * The key trimmed, as the client trims its own (`apiKeyText`): a key file's line end is not part of it. Not held to the
 * client's visible ASCII: a key outside it still matches its UTF-8 bytes (the Bearer rule in `http.ts`).
 */
const trimmedApiKey = (options: Options.Options<string>): Options.Options<string> => options.pipe(Options.map((text) => apiKeyText(text).key))

const flags = {
  // Not empty: `listen(port, "")` binds every interface, while the start-up line would say 127.0.0.1 (review 43 L1).
  host: defaulted(nonEmptyText, { name: "host", value: "HOST", fallback: "127.0.0.1", description: "interface to listen on" }),
  port: withDefault(wholeAtLeast(0, 65535)("port"), {
    name: "port",
    value: "N",
    fallback: 8080,
    description: "port to listen on; 0 picks a free one"
  }),
  endpoint: defaulted(nonEmptyText, { name: "endpoint", value: "NAME", fallback: "null-local", description: "the endpoint's name" }),
  // From the environment too: a flag's value is in every process listing.
  // Read as the client reads VAST_API_KEY (`apiKeyText`): the same key file works for both (review 43 L4).
  apiKey: withDefault(Options.text("api-key").pipe(Options.withFallbackConfig(Config.string("SERVERLESS_API_KEY")), nonEmpty("api-key", "SERVERLESS_API_KEY"), trimmedApiKey), {
    name: "api-key",
    value: "KEY",
    fallback: "local",
    description: "the user API key (the client's VAST_API_KEY) that endpoint lookup accepts (or SERVERLESS_API_KEY)"
  }),
  recommended: toggle("recommended", "start from the null worker README's endpoint settings instead of Vast's defaults"),
  targetUtil: param("target_util", fraction, "X", "fraction of capacity to fill (above 0, at most 1): capacity needed = load / target_util"),
  minLoad: param("min_load", from0, "X", "load floor (perf units) kept provisioned with no traffic"),
  maxWorkers: param("max_workers", count, "N", "hard cap on workers (0: none is started, as for a paused endpoint)"),
  coldWorkers: param("cold_workers", count, "N", "idle workers kept when there is no load"),
  inactivityTimeout: param("inactivity_timeout", finite, "SECONDS", "idle time after which a worker stops; <= 0 never"),
  maxQueueTime: param("max_queue_time", from0, "SECONDS", "route to a worker only while cur_load / max_perf <= this"),
  targetQueueTime: param("target_queue_time", from0, "SECONDS", "a request waiting longer than this asks for another worker"),
  healthcheckInterval: defaulted(atLeast(HEALTHCHECK_INTERVAL_MIN_SECONDS), {
    name: "healthcheck-interval",
    value: "SECONDS",
    fallback: 1,
    description: "each worker's HEALTHCHECK_INTERVAL"
  }),
  tick: defaulted((name) => waitable(name, atLeast(MIN_TICK_SECONDS)(name)), { name: "tick", value: "SECONDS", fallback: 0.25, description: "time between two scaling decisions" }),
  sidecar: optional(nonEmptyText("sidecar"), {
    name: "sidecar",
    value: "CMD",
    description: "a command (sh -c) started beside each worker, e.g. your queue consumer; it gets SIDECAR_PORT and WORKER_CONTROL_URL"
  }),
  sidecarHealth: optional(
    Options.text("sidecar-health").pipe(
      Options.mapEffect((path) =>
        /^\/[^\s?#]*(\?[^\s#]*)?$/.test(path) && URL.canParse(`http://127.0.0.1:1${path}`)
          ? Effect.succeed(path)
          : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--sidecar-health must be a path starting with /, e.g. /health (got "${path}")`)))
      )
    ),
    { name: "sidecar-health", value: "PATH", description: "the sidecar's health path, e.g. /health (sets the worker's BACKEND_HEALTH_URL)" }
  ),
  verbose: toggle("verbose", "print every worker's output")
}

const options = optionsOf(flags)

const help = renderHelp({
  completions: true,
  usage: ["null-worker-serverless [options]   (node dist/serverless.js)"],
  summary: [
    "A local stand-in for Vast's Serverless control plane: endpoint lookup, /route/, load reports, a status",
    "page at /, Prometheus metrics at /metrics, and real worker processes started and stopped by the",
    "endpoint's scaling parameters (docs/local-serverless.md)."
  ],
  flags: Object.values(flags).map((flag) => flag.help)
})

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
    return Effect.zipRight(Console.error("serverless: --sidecar-health needs --sidecar: it is the path the sidecar answers health checks on"), Effect.fail(new StartFailed()))
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
    Effect.provide(Layer.mergeAll(WorkerLauncher.layer(), ServerlessMetrics.Default, WorkerSessions.layer.pipe(Layer.provide(NodeHttpClient.layer)))),
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
