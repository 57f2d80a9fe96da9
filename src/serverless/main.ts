/**
 * `node dist/serverless.js`: a local stand-in for Vast's control plane. It serves endpoint lookup,
 * `/route/` (signed), `/pubkey/`, `/worker_status/`, `/delete_requests/`, `/get_endpoint_workers/` and a
 * status page, and starts and stops real worker processes (`dist/main.js`) by the endpoint's scaling
 * parameters. A development tool: production scaling is Vast's (see docs/local-serverless.md).
 */
import { fileURLToPath } from "node:url"
import { Command, Options } from "@effect/cli"
import { HttpServer } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Duration, Effect, Layer, Logger, Option, Schedule } from "effect"
import { serveApp, serverLayer } from "../shared/listen.js"
import { ControlPlane, ServerlessConfig } from "./ControlPlane.js"
import { serverlessRouter } from "./http.js"
import { type EndpointParams, recommended, vastDefaults } from "./scaling.js"
import { WorkerLauncher } from "./WorkerLauncher.js"

const param = (name: keyof EndpointParams, description: string) =>
  Options.float(name.replaceAll("_", "-")).pipe(Options.withDescription(description), Options.optional)

const options = {
  host: Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("interface to listen on")),
  port: Options.integer("port").pipe(Options.withDefault(8080), Options.withDescription("port to listen on; 0 picks a free one")),
  endpoint: Options.text("endpoint").pipe(Options.withDefault("null-local"), Options.withDescription("the endpoint's name")),
  apiKey: Options.text("api-key").pipe(
    Options.withDefault("local"),
    Options.withDescription("the user API key (VAST_API_KEY) that endpoint lookup accepts")
  ),
  recommended: Options.boolean("recommended").pipe(
    Options.withDescription("start from the null worker README's settings instead of Vast's defaults")
  ),
  targetUtil: param("target_util", "fraction of capacity to fill (Vast default 0.9)"),
  minLoad: param("min_load", "load floor kept provisioned (default 0)"),
  maxWorkers: param("max_workers", "hard cap on workers (default 20)"),
  coldWorkers: param("cold_workers", "idle workers kept when there is no load (default 5)"),
  inactivityTimeout: param("inactivity_timeout", "seconds without load before idle workers stop; ≤ 0 never (default -1)"),
  maxQueueTime: param("max_queue_time", "route to a worker only while cur_load / max_perf ≤ this (default 30)"),
  targetQueueTime: param("target_queue_time", "a request waiting longer than this asks for another worker (default 10)"),
  healthcheckInterval: Options.float("healthcheck-interval").pipe(
    Options.withDefault(1),
    Options.withDescription("seconds between each worker's health checks")
  ),
  tick: Options.float("tick").pipe(Options.withDefault(0.25), Options.withDescription("seconds between scaling decisions")),
  sidecar: Options.text("sidecar").pipe(
    Options.optional,
    Options.withDescription(
      "a command started beside each worker (sh -c), e.g. your queue consumer; it gets SIDECAR_PORT, WORKER_CONTROL_URL and the worker's variables"
    )
  ),
  sidecarHealth: Options.text("sidecar-health").pipe(
    Options.optional,
    Options.withDescription("path of the sidecar's health check, e.g. /health (sets the worker's BACKEND_HEALTH_URL)")
  ),
  verbose: Options.boolean("verbose").pipe(Options.withDescription("print every worker's output"))
}

const workerScript = fileURLToPath(new URL("./main.js", import.meta.url))

const serverless = Command.make("serverless", options, (opts) => {
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
    healthcheckInterval: opts.healthcheckInterval,
    sidecar: opts.sidecar,
    sidecarHealthPath: opts.sidecarHealth,
    verbose: opts.verbose
  })
  const run = Effect.gen(function* () {
    const plane = yield* ControlPlane
    const url = yield* HttpServer.addressWith((address) =>
      Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "")
    )
    yield* plane.setBaseUrl(url)
    yield* Effect.logInfo(`serverless listening on ${url} (status page: ${url}/)`)
    yield* Effect.logInfo(`endpoint ${settings.endpointName}: ${JSON.stringify(params)}`)
    yield* plane.tick.pipe(
      Effect.catchAllCause((cause) => Effect.logError("scaling tick failed", cause)),
      Effect.repeat(Schedule.spaced(Duration.seconds(opts.tick)))
    )
  })
  const Server = serveApp(serverlessRouter, "serverless").pipe(
    Layer.provideMerge(serverLayer({ name: "serverless", host: opts.host, port: opts.port }))
  )
  return run.pipe(
    Effect.provide(Server),
    Effect.provide(ControlPlane.Default),
    Effect.provide(WorkerLauncher.layer()),
    Effect.provide(Layer.succeed(ServerlessConfig, settings)),
    Effect.asVoid
  )
})

const cli = Command.run(serverless, { name: "null-worker local serverless", version: "0.1.0" })

cli(process.argv).pipe(
  Effect.provide(Layer.merge(NodeContext.layer, Logger.logFmt)),
  NodeRuntime.runMain({ disableErrorReporting: false, disablePrettyLogger: true })
)
