/**
 * The command line of `node dist/client.js` (@effect/cli). Durations are seconds, fractions allowed
 * (`--interval 0.5`).
 */
import { Command, Options } from "@effect/cli"
import { Config, Duration, Option, Schema } from "effect"
import { HttpUrl } from "../protocol/session.js"
import { type Instance, instanceNames, instances } from "./instances.js"
import type { Mode } from "./program.js"

const positive = (name: string) => Schema.Number.pipe(Schema.positive({ message: () => `--${name} must be a number above 0` }))
const seconds = (name: string, fallback: number, description: string) =>
  Options.float(name).pipe(
    Options.withSchema(positive(name)),
    Options.withDefault(fallback),
    Options.withDescription(`${description} (default ${fallback})`)
  )
const url = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withSchema(HttpUrl.annotations({ message: () => `--${name} must be an absolute http(s) URL` })),
    Options.optional,
    Options.withDescription(description)
  )

export const options = {
  endpoint: Options.text("endpoint").pipe(
    Options.withFallbackConfig(Config.string("VAST_ENDPOINT")),
    Options.withDescription("the Serverless endpoint's name (or env VAST_ENDPOINT)")
  ),
  sessionCost: Options.float("session-cost").pipe(
    Options.withSchema(positive("session-cost")),
    Options.withDefault(100),
    Options.withDescription("cost (workload) of each session; 200 over-provisions one warm worker per session (default 100)")
  ),
  lifetime: seconds("lifetime", 60, "session lifetime in seconds; the client pings at half of it to keep the session"),
  hold: seconds("hold", 180, "single mode: seconds to hold the session"),
  demo: Options.boolean("demo").pipe(
    Options.withDescription("start --count sessions --interval apart, hold --plateau, end them --interval apart")
  ),
  count: Options.integer("count").pipe(
    Options.withSchema(Schema.Int.pipe(Schema.positive({ message: () => "--count must be at least 1" }))),
    Options.withDefault(3),
    Options.withDescription("demo: number of sessions (default 3)")
  ),
  interval: seconds("interval", 30, "demo: seconds between two creates, and between two ends"),
  plateau: seconds("plateau", 300, "demo: seconds to hold all sessions"),
  instance: Options.choice("instance", instanceNames).pipe(
    Options.withDefault<Instance>("prod"),
    Options.withDescription("Vast deployment: prod, alpha, candidate or local (default prod)")
  ),
  autoscalerUrl: url("autoscaler-url", "autoscaler base URL (overrides --instance)"),
  webserverUrl: url("webserver-url", "webserver base URL for the endpoint lookup (overrides --instance)"),
  onCloseRoute: url("on-close-route", "URL the worker POSTs to when a session closes"),
  onClosePayload: Options.text("on-close-payload").pipe(
    Options.withSchema(Schema.parseJson().annotations({ message: () => "--on-close-payload must be JSON" })),
    Options.optional,
    Options.withDescription("JSON the worker sends to --on-close-route")
  ),
  caFile: Options.file("ca-file", { exists: "yes" }).pipe(
    Options.optional,
    Options.withDescription("PEM file of extra CA certificates to trust (e.g. Vast's root CA)")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print one JSON object per event")),
  routeTimeout: seconds("route-timeout", 300, "seconds to wait for a worker, per session")
}

export type ParsedOptions = Command.Command.ParseConfig<typeof options>

export interface Run {
  readonly endpoint: string
  readonly mode: Mode
  readonly autoscalerUrl: string
  readonly webserverUrl: string
  readonly caFile: Option.Option<string>
  readonly json: boolean
  readonly policy: {
    readonly cost: number
    readonly lifetime: number
    readonly onCloseRoute: string | null
    readonly onClosePayload: unknown
    readonly routeTimeout: Duration.Duration
  }
}

/** The parsed options as what the run needs. */
export const toRun = (parsed: ParsedOptions): Run => ({
  endpoint: parsed.endpoint,
  mode: parsed.demo
    ? {
        _tag: "Demo",
        count: parsed.count,
        interval: Duration.seconds(parsed.interval),
        plateau: Duration.seconds(parsed.plateau)
      }
    : { _tag: "Single", hold: Duration.seconds(parsed.hold) },
  autoscalerUrl: Option.getOrElse(parsed.autoscalerUrl, () => instances[parsed.instance].autoscaler),
  webserverUrl: Option.getOrElse(parsed.webserverUrl, () => instances[parsed.instance].webserver),
  caFile: parsed.caFile,
  json: parsed.json,
  policy: {
    cost: parsed.sessionCost,
    lifetime: parsed.lifetime,
    onCloseRoute: Option.getOrNull(parsed.onCloseRoute),
    onClosePayload: Option.getOrNull(parsed.onClosePayload),
    routeTimeout: Duration.seconds(parsed.routeTimeout)
  }
})
