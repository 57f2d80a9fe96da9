/**
 * The command line of `null-worker-client autoscale`, as @effect/cli options with one help line each,
 * and its translation into the daemon's settings. Durations are seconds (fractions allowed); counts are
 * integers. Exactly one of `--list` and `--stream` names the queue.
 */
import { type Command, Options } from "@effect/cli"
import { Config, Duration, Either, Option } from "effect"
import { isRedisTarget, REDIS_TARGET_RULE } from "../../shared/redisTarget.js"
import { defaulted, type Flag, optional, optionsOf, renderHelp, toggle, withDefault } from "../../shared/cliHelp.js"
import { where } from "../cli.js"
import { InvalidOption } from "../errors.js"
import { instances } from "../instances.js"
import { above0, atLeast, from0, lifetimeSeconds, sessionCost, wholeAtLeast } from "../../shared/numericFlags.js"
import { defaultPrefix } from "./keys.js"
import { nonEmptyText } from "../../shared/textFlags.js"
import type { PlannerSettings } from "./planner.js"

/** The stream's consumer group unless `--group` names one. */
const DEFAULT_GROUP = "workers"

const count = (name: string, min: number, fallback: number, description: string): Flag<number> =>
  withDefault(wholeAtLeast(min)(name), { name, value: "N", fallback, description })

export const flags = {
  ...where,
  redisUrl: withDefault(Options.text("redis-url").pipe(Options.withFallbackConfig(Config.string("REDIS_URL"))), {
    name: "redis-url",
    value: "URL",
    fallback: "redis://127.0.0.1:6379",
    description: "the Redis that holds the queue (or REDIS_URL)"
  }),
  list: optional(nonEmptyText("list"), { name: "list", value: "KEY", description: "the queue is this list: backlog = LLEN (KEDA listLength)" }),
  inFlightList: optional(nonEmptyText("in-flight-list"), {
    name: "in-flight-list",
    value: "KEY",
    description: "--list: the list consumers move jobs to while they work (LMOVE); its length counts as in flight"
  }),
  stream: optional(nonEmptyText("stream"), {
    name: "stream",
    value: "KEY",
    description: "the queue is this stream: backlog = the group's lag + pending (KEDA lagCount)"
  }),
  group: optional(nonEmptyText("group"), { name: "group", value: "NAME", fallback: DEFAULT_GROUP, description: "--stream: the consumer group" }),
  jobsPerWorker: count("jobs-per-worker", 1, 1, "backlog one worker is expected to handle: N = ceil(backlog / this)"),
  min: count("min", 0, 0, "reservations held even with an empty queue"),
  max: count("max", 1, 10, "reservations held at most"),
  activation: count("activation", 0, 0, "beyond --min only when the backlog is above this (KEDA's activation threshold)"),
  cooldown: defaulted(from0, {
    name: "cooldown",
    value: "SECONDS",
    fallback: 120,
    description: "a higher N keeps protecting idle workers this long after the backlog dropped"
  }),
  scaleOutStep: count("scale-out-step", 1, 4, "at most this many new reservations per --scale-out-window"),
  scaleOutWindow: defaulted(above0, {
    name: "scale-out-window",
    value: "SECONDS",
    fallback: 10,
    description: "the window of --scale-out-step"
  }),
  // Each decision reads the backlog and renews two keys in Redis: a daemon deciding a thousand times a second is a load
  // on the Redis the consumers share, not a faster autoscaler (probe 46 Info: 1e-9 drove 4,000 commands a second).
  interval: defaulted(atLeast(0.1), { name: "interval", value: "SECONDS", fallback: 1, description: "time between two decisions (at least 0.1)" }),
  lease: defaulted(above0, {
    name: "lease",
    value: "SECONDS",
    fallback: 10,
    description: "the keep lease lasts this long unless renewed; then idle consumers release their workers"
  }),
  sessionCost: defaulted(sessionCost, {
    name: "session-cost",
    value: "N",
    fallback: 100,
    description: "each session's cost (workload)"
  }),
  lifetime: defaulted(lifetimeSeconds, { name: "lifetime", value: "SECONDS", fallback: 60, description: "session lifetime: a session nobody pings closes after it" }),
  pingInterval: optional(above0("ping-interval", "SECONDS"), {
    name: "ping-interval",
    value: "SECONDS",
    fallback: "lifetime/4",
    description: "time between two pings of a session (a consumer's release is seen at the next ping)"
  }),
  routeTimeout: defaulted(above0, {
    name: "route-timeout",
    value: "SECONDS",
    fallback: 300,
    description: "a reservation waiting this long for a worker is given up (and started again if still needed)"
  }),
  statePrefix: optional(nonEmptyText("state-prefix"), {
    name: "state-prefix",
    value: "KEY",
    fallback: "<queue key>:autoscale",
    description: "Redis key prefix of the daemon's records and keep lease (the consumers' AUTOSCALE_PREFIX)"
  }),
  json: toggle("json", "one JSON object per event, per line")
}

export const autoscaleOptions = optionsOf(flags)

export const autoscaleHelp = renderHelp({
  completions: true,
  usage: ["null-worker-client autoscale --endpoint NAME (--stream KEY | --list KEY) [options]   (node dist/client.js autoscale)"],
  summary: [
    "Hold clamp(ceil((waiting + in flight) / --jobs-per-worker), --min, --max) reservations on the endpoint,",
    "reading the backlog from Redis. It never ends a reservation: the consumer beside each worker releases it",
    "when it has found no job for its idle grace, unless the daemon's keep lease protects it (docs/autoscale.md).",
    "Needs VAST_API_KEY. Runs until Ctrl-C or SIGTERM (exit 0); the sessions it holds stay recorded in Redis",
    "for the next start. Exit 1 on a bad option, an unknown endpoint, or another daemon taking over."
  ],
  flags: Object.values(flags).map((flag) => flag.help)
})

export type ParsedAutoscaleOptions = Command.Command.ParseConfig<typeof autoscaleOptions>

export type QueueSource =
  | { readonly _tag: "List"; readonly key: string; readonly inFlightKey: Option.Option<string> }
  | { readonly _tag: "Stream"; readonly key: string; readonly group: string }

export interface AutoscaleRun {
  readonly endpoint: string
  readonly autoscalerUrl: string
  readonly webserverUrl: string
  readonly caFile: Option.Option<string>
  readonly redisUrl: string
  readonly source: QueueSource
  readonly prefix: string
  readonly planner: PlannerSettings
  readonly interval: Duration.Duration
  readonly leaseMs: number
  readonly ownerTtlMs: number
  readonly holdings: {
    readonly cost: number
    readonly lifetime: number
    readonly pingEvery: Duration.Duration
    readonly routeTimeout: Duration.Duration
  }
  readonly json: boolean
}

/** After `n` failed reservations in a row, none for min(30 s, 1 s · 2^(n-1)). */
const RETRY_BASE_MS = 1000
const RETRY_MAX_MS = 30_000

/** The parsed options as the daemon's settings, or the first option that makes no sense. */
export const toAutoscaleRun = (parsed: ParsedAutoscaleOptions): Either.Either<AutoscaleRun, InvalidOption> => {
  const source: Either.Either<QueueSource, InvalidOption> =
    Option.isSome(parsed.list) && Option.isNone(parsed.stream)
      ? Option.isSome(parsed.group)
        ? Either.left(new InvalidOption({ option: "group", reason: "goes with --stream (a list has no consumer group)" }))
        : Either.right({ _tag: "List", key: parsed.list.value, inFlightKey: parsed.inFlightList })
      : Option.isSome(parsed.stream) && Option.isNone(parsed.list)
        ? Option.isSome(parsed.inFlightList)
          ? Either.left(new InvalidOption({ option: "in-flight-list", reason: "goes with --list (a stream's pending entries are its in-flight jobs)" }))
          : Either.right({ _tag: "Stream", key: parsed.stream.value, group: Option.getOrElse(parsed.group, () => DEFAULT_GROUP) })
        : Either.left(new InvalidOption({ option: "stream", reason: "name the queue with exactly one of --stream KEY and --list KEY" }))
  if (Either.isLeft(source)) return Either.left(source.left)
  if (!isRedisTarget(parsed.redisUrl)) {
    return Either.left(new InvalidOption({ option: "redis-url", reason: `${REDIS_TARGET_RULE} (from --redis-url or REDIS_URL)` }))
  }
  if (parsed.min > parsed.max) return Either.left(new InvalidOption({ option: "min", reason: `must not be above --max (${parsed.max})` }))
  if (parsed.lease < 2 * parsed.interval) {
    return Either.left(new InvalidOption({ option: "lease", reason: `must be at least twice --interval (${parsed.interval} s), or the lease lapses between renewals` }))
  }
  const lifetime = parsed.lifetime
  const pingEvery = Option.getOrElse(parsed.pingInterval, () => lifetime / 4)
  if (pingEvery >= lifetime) return Either.left(new InvalidOption({ option: "ping-interval", reason: `must be below --lifetime (${lifetime} s)` }))
  return Either.right({
    endpoint: parsed.endpoint,
    autoscalerUrl: Option.getOrElse(parsed.autoscalerUrl, () => instances[parsed.instance].autoscaler),
    webserverUrl: Option.getOrElse(parsed.webserverUrl, () => instances[parsed.instance].webserver),
    caFile: parsed.caFile,
    redisUrl: parsed.redisUrl,
    source: source.right,
    prefix: Option.getOrElse(parsed.statePrefix, () => defaultPrefix(source.right.key)),
    planner: {
      jobsPerWorker: parsed.jobsPerWorker,
      min: parsed.min,
      max: parsed.max,
      activation: parsed.activation,
      cooldownMs: parsed.cooldown * 1000,
      scaleOutStep: parsed.scaleOutStep,
      scaleOutWindowMs: parsed.scaleOutWindow * 1000,
      retryBaseMs: RETRY_BASE_MS,
      retryMaxMs: RETRY_MAX_MS
    },
    interval: Duration.seconds(parsed.interval),
    leaseMs: parsed.lease * 1000,
    ownerTtlMs: Math.max(2000, 3 * parsed.interval * 1000),
    holdings: {
      cost: parsed.sessionCost,
      lifetime,
      pingEvery: Duration.seconds(pingEvery),
      routeTimeout: Duration.seconds(parsed.routeTimeout)
    },
    json: parsed.json
  })
}
