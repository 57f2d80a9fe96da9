/**
 * The local serverless's command line: its flags (scaling parameters with Vast's defaults or the README's) and the
 * help page built from them.
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Config, Effect, type Option } from "effect"
import { defaulted, type Flag, optional, optionsOf, renderHelp, toggle, withDefault } from "../shared/cliHelp.js"
import { type EndpointParams, recommended, vastDefaults } from "./scaling.js"
import { atLeast, finite, fraction, from0, waitable, wholeAtLeast } from "../shared/numericFlags.js"
import { nonEmpty, nonEmptyText } from "../shared/textFlags.js"
import { apiKeyText } from "../protocol/apiKey.js"
import { HEALTHCHECK_INTERVAL_MIN_SECONDS } from "../shared/healthcheckIntervalMin.js"

const count = wholeAtLeast(0)

/** A scaling parameter: optional, its default being Vast's, or the README's with --recommended. */
const param = <K extends keyof EndpointParams>(
  key: K,
  option: (name: string, value?: string) => Options.Options<number>,
  value: string,
  description: string
): Flag<Option.Option<number>> => {
  const name = key.replaceAll("_", "-")
  const fallback = vastDefaults[key] === recommended[key] ? String(vastDefaults[key]) : `${vastDefaults[key]}; ${recommended[key]} with --recommended`
  return optional(option(name, value), { name, value, description, fallback })
}

/** Scaling decisions at most a hundred a second: a tick near 0 would hold a core to decide nothing new. */
const MIN_TICK_SECONDS = 0.01

/**
 * The key trimmed, as the client trims its own (`apiKeyText`): a key file's line end is not part of it. Not held to the
 * client's visible ASCII: a key outside it still matches its UTF-8 bytes (the Bearer rule in `http.ts`).
 */
const trimmedApiKey = (options: Options.Options<string>): Options.Options<string> => options.pipe(Options.map((text) => apiKeyText(text).key))

export const flags = {
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
  tick: defaulted((name, value) => waitable(name, atLeast(MIN_TICK_SECONDS)(name, value)), { name: "tick", value: "SECONDS", fallback: 0.25, description: "time between two scaling decisions" }),
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

export const options = optionsOf(flags)

export const help = renderHelp({
  completions: true,
  usage: ["null-worker-serverless [options]   (node dist/serverless.js)"],
  summary: [
    "A local stand-in for Vast's Serverless control plane: endpoint lookup, /route/, load reports, a status",
    "page at /, Prometheus metrics at /metrics, and real worker processes started and stopped by the",
    "endpoint's scaling parameters (docs/local-serverless.md)."
  ],
  flags: Object.values(flags).map((flag) => flag.help)
})

