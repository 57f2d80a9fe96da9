/**
 * The command lines of `node dist/client.js` (reserve workers) and `node dist/client.js doctor`
 * (check an endpoint's settings), as @effect/cli options, each with its one-line help. Durations are
 * seconds, fractions allowed (`--interval 0.5`); counts are integers.
 */
import { type Command, Options } from "@effect/cli"
import { Config, Duration, Option, type ParseResult, Schema } from "effect"
import { httpUrlProblem } from "../protocol/httpUrl.js"
import { completedFrom, defaulted, type Flag, optional, optionsOf, plain, renderHelp, toggle, withDefault } from "../shared/cliHelp.js"
import { type Instance, instanceNames, instances } from "./instances.js"
import { above0, from0, lifetimeSeconds, sessionCost, waitable, wholeAtLeast } from "../shared/numericFlags.js"
import type { Mode } from "./program.js"
import { choiceOf, nonEmpty, existingFile } from "../shared/textFlags.js"
import { BoundedJsonText, MAX_JSON_DEPTH } from "../shared/boundedJson.js"
import { flagsPart } from "../shared/standardFlags.js"
import { isLoopbackHost } from "../shared/loopbackHost.js"

const ON_CLOSE_PAYLOAD_DEPTH = MAX_JSON_DEPTH - 2

/** The reason the JSON reader gave (`JSON.parse`'s, or the nesting limit), under the issue's wrappers. */
const readerMessage = (issue: ParseResult.ParseIssue): string | undefined =>
  issue._tag === "Type" ? issue.message : issue._tag === "Transformation" || issue._tag === "Refinement" ? readerMessage(issue.issue) : undefined

/** Text that is not JSON and JSON nested too deep are told apart: each needs a different fix. */
const onClosePayloadMessage = (issue: ParseResult.ParseIssue): string => {
  const reason = readerMessage(issue) ?? ""
  return reason.startsWith("JSON nested deeper")
    ? `--on-close-payload must be JSON nested at most ${ON_CLOSE_PAYLOAD_DEPTH} levels deep`
    : `--on-close-payload must be JSON, e.g. '{"job_id":"j1"}' (keys in double quotes)${reason === "" ? "" : `: ${reason}`}`
}

const seconds = (name: string, fallback: number, description: string): Flag<number> =>
  withDefault(waitable(name, above0(name, "SECONDS")), { name, value: "SECONDS", fallback, description })

/** A URL flag's value: an absolute http(s) URL, else the rule it breaks, naming the flag (port 0 has its own). */
export const urlFlagSchema = (name: string): Schema.Schema<string> =>
  Schema.String.pipe(
    Schema.filter((text) => httpUrlProblem(text) === null, {
      message: (issue) => `--${name} ${("actual" in issue ? httpUrlProblem(String(issue.actual)) : null) ?? "must be an absolute http(s) URL"}`
    })
  )

const url = (name: string, description: string): Flag<Option.Option<string>> =>
  optional(Options.text(name).pipe(Options.withSchema(urlFlagSchema(name))), { name, value: "URL", description })

/** The flags that say where Vast is and how to talk to it: the client's and the doctor's. */
export const where = {
  endpoint: plain(Options.text("endpoint").pipe(Options.withFallbackConfig(Config.string("VAST_ENDPOINT")), nonEmpty("endpoint", "VAST_ENDPOINT")), {
    name: "endpoint",
    value: "NAME",
    description: "the Serverless endpoint's name; required unless VAST_ENDPOINT is set"
  }),
  instance: completedFrom(
    withDefault<Instance>(choiceOf(instanceNames)("instance"), {
      name: "instance",
      value: "NAME",
      fallback: "prod",
      description: `which Vast: ${instanceNames.join(", ")} (local: the local serverless on ${instances.local.autoscaler})`
    }),
    "instance",
    instanceNames
  ),
  autoscalerUrl: url("autoscaler-url", "autoscaler base URL (overrides --instance)"),
  webserverUrl: url("webserver-url", "webserver base URL, for the endpoint lookup (overrides --instance)"),
  caFile: optional(existingFile("ca-file"), {
    name: "ca-file",
    value: "PEM",
    description: "extra CA certificates to trust, e.g. Vast's root CA for workers' certificates"
  })
}

export const clientFlags = {
  ...where,
  sessionCost: defaulted(sessionCost, {
    name: "session-cost",
    value: "N",
    fallback: 100,
    description: "each session's cost (workload); 200 keeps one warm worker per session"
  }),
  lifetime: defaulted(lifetimeSeconds, {
    name: "lifetime",
    value: "SECONDS",
    fallback: 60,
    description: "session lifetime; the client pings every lifetime/2"
  }),
  hold: seconds("hold", 180, "single mode: how long to hold the worker"),
  demo: toggle("demo", "start --count sessions --interval apart, hold them --plateau, end them --interval apart"),
  count: withDefault(wholeAtLeast(1)("count"), {
    name: "count",
    value: "N",
    fallback: 3,
    description: "--demo: number of sessions"
  }),
  interval: withDefault(waitable("interval", from0("interval", "SECONDS")), { name: "interval", value: "SECONDS", fallback: 30, description: "--demo: time between two reservations' starts (each starts whether or not the one before it has a worker yet), and between two ends (0: all at once)" }),
  plateau: withDefault(waitable("plateau", from0("plateau", "SECONDS")), { name: "plateau", value: "SECONDS", fallback: 300, description: "--demo: how long all sessions are held together" }),
  onCloseRoute: url("on-close-route", "URL the worker POSTs to when a session closes"),
  onClosePayload: optional(
    Options.text("on-close-payload").pipe(Options.withSchema(
      // The create body holds it two levels down, and the worker refuses a body nested deeper than 64 levels.
      BoundedJsonText(ON_CLOSE_PAYLOAD_DEPTH).annotations({ message: onClosePayloadMessage })
    )),
    { name: "on-close-payload", value: "JSON", description: "JSON the worker sends to --on-close-route" }
  ),
  routeTimeout: seconds("route-timeout", 300, "a reservation gives up after waiting this long for a worker (a create already sent is let finish: at most 10 s more)"),
  json: toggle("json", "one JSON object per event, per line; worker URLs are given verbatim, credentials and query included")
}

export const options = optionsOf(clientFlags)

export const clientHelp = renderHelp({
  completions: true,
  notLogLines: "the client's events",
  usage: [
    "null-worker-client --endpoint NAME [options]   (node dist/client.js)",
    "null-worker-client doctor --endpoint NAME [options]   (see doctor --help)",
    "null-worker-client autoscale --endpoint NAME --stream KEY [options]   (see autoscale --help)"
  ],
  summary: [
    "Reserve workers of a Vast.ai Serverless endpoint that runs the null worker: one session held for --hold,",
    "or the staggered --demo. Needs VAST_API_KEY. Exit status: 0 when every lookup and create succeeded and every",
    "session was ended or found closed by its worker, 1 otherwise, 130 after Ctrl-C and 143 after SIGTERM, 129",
    "after SIGHUP and 140 after SIGUSR2, 141 once its output is closed (| head) (open sessions are ended first);",
    "131 after Ctrl-\\ (SIGQUIT), which quits at once (as a second Ctrl-C does), naming the sessions left open."
  ],
  flags: Object.values(clientFlags).map((flag) => flag.help)
})

export const doctorFlags = {
  ...where,
  sessions: withDefault(wholeAtLeast(1)("sessions"), {
    name: "sessions",
    value: "N",
    fallback: 1,
    description: "the concurrent reservations you plan: max_workers must allow them"
  }),
  worker: url("worker", "a worker's public base URL: check that it answers (POST /session/health)"),
  json: toggle("json", "print one JSON object: {endpoint, findings, worker, ok}")
}

export const doctorOptions = optionsOf(doctorFlags)

export const doctorHelp = renderHelp({
  completions: true,
  usage: ["null-worker-client doctor --endpoint NAME [options]   (node dist/client.js doctor)"],
  summary: [
    "Read the endpoint's settings through the endpoint lookup and report each one that is risky for the",
    "null worker, with its consequence and the fix; with --worker, check that the worker answers. Needs",
    "VAST_API_KEY. Exit status: 0 when nothing is risky; 1 when something is, the worker does not answer",
    "as a null worker, or the lookup failed."
  ],
  flags: Object.values(doctorFlags).map((flag) => flag.help),
  notes: ["--autoscaler-url is accepted, as for the client, but the doctor does not call the autoscaler."]
})

export type ParsedOptions = Command.Command.ParseConfig<typeof options>
export type ParsedDoctorOptions = Command.Command.ParseConfig<typeof doctorOptions>

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

const DEMO_ONLY = ["--count", "--interval", "--plateau"] as const

/**
 * A flag of the other mode, which the run would ignore: `--count` without `--demo` (one session is held), `--hold` with
 * it (sessions are held for `--plateau`). Said rather than ignored, as a typo would be.
 */
export const modeConflict = (args: ReadonlyArray<string>): string | null => {
  const names = flagsPart(args).map((arg) => arg.split("=")[0] ?? "")
  const demo = names.includes("--demo")
  const demoOnly = DEMO_ONLY.find((flag) => names.includes(flag))
  if (!demo && demoOnly !== undefined) return `${demoOnly} is for --demo; without it the client holds one session (--hold)`
  if (demo && names.includes("--hold")) return "--hold is for single mode; with --demo the sessions are held for --plateau"
  return null
}

/**
 * One of the two addresses given for this machine (the local serverless), the other left at a Vast default: the
 * endpoint is looked up in one place and routed in the other, which fails only after the route's retries, with the
 * local key sent to Vast (newcomer 35 #9). Said at start; `null` when the two agree or both were given.
 */
export const halfLocalWarning = (
  given: { readonly autoscalerUrl: Option.Option<string>; readonly webserverUrl: Option.Option<string> },
  instance: Instance,
  /** False for the doctor, which never calls the autoscaler: one left out is no matter there (newcomer 36 #7). */
  callsAutoscaler = true
): string | null => {
  const [givenName, givenUrl, otherName, other] = Option.isSome(given.autoscalerUrl) && Option.isNone(given.webserverUrl)
    ? ["--autoscaler-url", given.autoscalerUrl.value, "--webserver-url", instances[instance].webserver]
    : callsAutoscaler && Option.isSome(given.webserverUrl) && Option.isNone(given.autoscalerUrl)
      ? ["--webserver-url", given.webserverUrl.value, "--autoscaler-url", instances[instance].autoscaler]
      : [null, "", null, ""]
  if (givenName === null || otherName === null || !URL.canParse(givenUrl) || !URL.canParse(other)) return null
  if (!isLoopbackHost(new URL(givenUrl).hostname) || isLoopbackHost(new URL(other).hostname)) return null
  return `warning: ${givenName} is this machine but ${otherName} is not given, so it is ${other}: for the local serverless give both (or --instance local)`
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

export interface DoctorRun {
  readonly endpoint: string
  readonly autoscalerUrl: string
  readonly webserverUrl: string
  readonly caFile: Option.Option<string>
  readonly sessions: number
  readonly worker: Option.Option<string>
  readonly json: boolean
}

export const toDoctorRun = (parsed: ParsedDoctorOptions): DoctorRun => ({
  endpoint: parsed.endpoint,
  autoscalerUrl: Option.getOrElse(parsed.autoscalerUrl, () => instances[parsed.instance].autoscaler),
  webserverUrl: Option.getOrElse(parsed.webserverUrl, () => instances[parsed.instance].webserver),
  caFile: parsed.caFile,
  sessions: parsed.sessions,
  worker: parsed.worker,
  json: parsed.json
})
