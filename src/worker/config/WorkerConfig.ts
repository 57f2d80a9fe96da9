/**
 * The worker's settings, decoded once from the environment (vast-protocol.md §1). Invalid settings stop
 * startup with one message that lists every problem (`InvalidConfig`).
 */
import { realpathSync, statSync } from "node:fs"
import { isIP, isIPv6 } from "node:net"
import { basename, dirname, join, resolve } from "node:path"
import { Config, ConfigError, Context, Effect, Either, Layer, Option, ParseResult, Redacted, Schema } from "effect"
import { MAX_CALLBACK_BYTES } from "../../protocol/callback.js"
import { httpUrlProblem, MAX_URL_LENGTH, NOT_HTTP_URL } from "../../protocol/httpUrl.js"

/** The smallest callback budget in use: one callback at its largest, its body and its route. */
const MIN_CALLBACK_BUDGET = MAX_CALLBACK_BYTES + MAX_URL_LENGTH
import { describeConfigError } from "../../shared/causeLine.js"
import { checkedText, decimalInteger, decimalNumber, port, SET_BUT_EMPTY, unlessEmpty } from "../../shared/decimalConfig.js"
import { LogFormat, LogLevelName } from "../../shared/logging.js"
import { HEALTHCHECK_INTERVAL_MIN_SECONDS } from "../../shared/healthcheckIntervalMin.js"
import { followLinks, journalPathProblem } from "../callbacks/journal/journalPath.js"

export interface WorkerSettings {
  /** Public worker API (`WORKER_PORT`), all interfaces. */
  readonly workerPort: number
  /** HTTP-only webhook port serving `/session/end` (`WORKER_HTTP_PORT`, default `WORKER_PORT + 1`). */
  readonly workerHttpPort: number
  /** Loopback control server (`NULL_CONTROL_PORT`, default 18999). */
  readonly controlPort: number
  /** Slots (`NULL_MAX_SESSIONS`, default 1): a create beyond them gets 429. */
  readonly maxSessions: number
  /** The consumer's health URL (`BACKEND_HEALTH_URL`); without it the control server serves a stub `/health`. */
  readonly backendHealthUrl: Option.Option<string>
  /** Largest request body accepted on the public and webhook ports. */
  readonly maxBodyBytes: number
  /**
   * Where the public and webhook ports bind: the protocol wants every interface, and the Python worker takes both
   * address families (a `PUBLIC_IPADDR` may be IPv6), so none is given (tests give loopback).
   */
  readonly publicHost: string | undefined
  /** Autoscaler base URLs (`REPORT_ADDR`, comma-separated), trimmed, without trailing `/`, tried in order. */
  readonly reportAddrs: ReadonlyArray<string>
  /** `MASTER_TOKEN`: sent as `mtoken`; bearer token of `/pyworker/update`. */
  readonly masterToken: Redacted.Redacted<string>
  /** Values accepted as the framework reads them that are most likely mistakes, said once at start (`configWarnings`). */
  readonly warnings: ReadonlyArray<string>
  /** `CONTAINER_ID`: the worker's id in every report. */
  readonly containerId: number
  /** The URL the autoscaler knows this worker by: `http(s)://PUBLIC_IPADDR:VAST_TCP_PORT_<WORKER_PORT>`. */
  readonly workerUrl: string
  /** `USE_SSL=true` (exactly): the public port speaks TLS. */
  readonly useSsl: boolean
  /** `UNSECURED`: skip autoscaler signature checks (and the public key). */
  readonly unsecured: boolean
  /** TLS certificate chain and key for the public port (`WORKER_TLS_CERT`, `WORKER_TLS_KEY`). */
  readonly tlsCertFile: string
  readonly tlsKeyFile: string
  /** Seconds between health checks (`HEALTHCHECK_INTERVAL`, default 10). */
  readonly healthcheckIntervalSeconds: number
  /** The marker `/pyworker/update` creates (`NULL_FORCE_UPDATE_FILE`, default `/.force_update`). */
  readonly forceUpdateFile: string
  /** Seconds open sessions get to finish after SIGTERM before they close with `shutdown` (`DRAIN_TIMEOUT`, default 30). */
  readonly drainTimeoutSeconds: number
  /** Hard cap on a session's life whatever the pings (`MAX_SESSION_SECONDS`); `None`: no cap. */
  readonly maxSessionSeconds: Option.Option<number>
  /** Failed health checks in a row before `error_msg` is set (`HEALTH_FAILURE_THRESHOLD`, default 3). */
  readonly healthFailureThreshold: number
  /** Seconds after start in which failed health checks are not errors (`HEALTH_STARTUP_GRACE`, default 0). */
  readonly healthStartupGraceSeconds: number
  /** Time allowed for one health check (`HEALTHCHECK_TIMEOUT`, default 10). */
  readonly healthcheckTimeoutSeconds: number
  /** Where pending callbacks are journalled so that the next process re-sends them (`OUTBOX_FILE`). */
  readonly outboxFile: Option.Option<string>
  /** Where a deliberate stop leaves its exit marker, `<pid> stopped` (`NULL_EXIT_FILE`; lifecycle/exitMarker.ts). */
  readonly exitFile: Option.Option<string>
  /** Callback deliveries in flight at once (`CALLBACK_CONCURRENCY`, default 16). */
  readonly callbackConcurrency: number
  /** Callbacks waiting to be delivered, at most (`CALLBACK_MAX_PENDING`, default 1000); beyond, creates with a callback get 503. */
  readonly callbackMaxPending: number
  /**
   * The JSON text of those callbacks, and what open sessions reserve for theirs, at most, in characters
   * (`CALLBACK_MAX_PENDING_BYTES`, default 64 MiB): a thousand 1 MiB payloads to a hung receiver would hold a gigabyte.
   */
  readonly callbackMaxPendingBytes: number
  /** Open connections per public listener (`MAX_CONNECTIONS`, default 512); more are refused and logged. */
  readonly maxConnections: number
  /** How long a taken port is tried again before the launch fails (`BIND_RETRY_SECONDS`, default 10). */
  readonly bindRetrySeconds: number
  /** `LOG_FORMAT`: logfmt (default), json or pretty. */
  readonly logFormat: LogFormat
  /** `LOG_LEVEL`: debug, info (default), warning, error, none. */
  readonly logLevel: LogLevelName
  /** Nice value of the helper threads (`HELPER_THREAD_NICE`, 0–19, default 19; 0: unchanged). */
  readonly helperThreadNice: number
  /** The most V8's young generation may grow to, in MiB (`YOUNG_GENERATION_MB`, default 16; 0: V8's own growth). */
  readonly youngGenerationMb: number
}

export const defaults = {
  controlPort: 18999,
  maxSessions: 1,
  /**
   * Slots at most. The pool builds a slot and a timer per slot at start and finds a session by scanning them:
   * 1,000 slots start in 1.6 s and 94 MB, 100,000 not within 20 s. A few extra zeros must stop startup instead.
   */
  maxSessionsCap: 1024,
  maxBodyBytes: 1024 * 1024,
  publicHost: undefined,
  tlsCertFile: "/etc/instance.crt",
  tlsKeyFile: "/etc/instance.key",
  healthcheckIntervalSeconds: 10,
  forceUpdateFile: "/.force_update",
  drainTimeoutSeconds: 30,
  healthFailureThreshold: 3,
  healthStartupGraceSeconds: 0,
  healthcheckTimeoutSeconds: 10,
  callbackConcurrency: 16,
  /** Deliveries in flight at most: each is a fiber and a socket, started at once; a few extra zeros must stop startup. */
  callbackConcurrencyCap: 1024,
  healthcheckIntervalMinSeconds: HEALTHCHECK_INTERVAL_MIN_SECONDS,
  callbackMaxPending: 1000,
  callbackMaxPendingBytes: 64 * 1024 * 1024,
  maxConnections: 512,
  bindRetrySeconds: 10,
  logFormat: "logfmt",
  logLevel: "info",
  helperThreadNice: 19,
  youngGenerationMb: 16
} as const

/** `NULL_CONTROL_PORT`, read alone where the rest of the settings may not load (a launch that failed). */
export const controlPortSetting = port("NULL_CONTROL_PORT").pipe(Config.withDefault(defaults.controlPort))

/** `YOUNG_GENERATION_MB`; main.ts also reads it on its own, to cap the young generation before the services start. */
export const youngGenerationSetting = decimalInteger("YOUNG_GENERATION_MB", "must be an integer from 0 to 1024", (n) => n >= 0 && n <= 1024).pipe(
  Config.withDefault(defaults.youngGenerationMb)
)

const healthUrl = Config.string("BACKEND_HEALTH_URL").pipe(
  Config.mapOrFail((text) =>
    unlessEmpty(text, () => {
      const problem = httpUrlProblem(text)
      return problem === null ? Either.right(text) : Either.left(ConfigError.InvalidData([], `${problem}, e.g. http://127.0.0.1:9090/health`))
    })
  ),
  Config.option
)

/**
 * `REPORT_ADDR`: a comma-separated list of http(s) base URLs; items trimmed, trailing slashes dropped, each address
 * once (failing over to the address that just failed would only try it again).
 */
const addrsOf = (items: ReadonlyArray<string>): ReadonlyArray<string> => [...new Set(items.filter((item) => item !== ""))]

/** `REPORT_ADDR`'s items as written, each trimmed and without trailing slashes (empty ones kept, for their places). */
const itemsOf = (text: string): ReadonlyArray<string> => text.split(",").map((item) => item.trim().replace(/\/+$/, ""))

const REPORT_ADDR_RULE = "must be one or more absolute http(s) URLs, separated by commas"

// Validated before mapping: an error raised after `Config.map` would lose the variable's name. A bad item is named by
// its place, not quoted: it may carry credentials.
export const reportAddrs = Config.string("REPORT_ADDR").pipe(
  Config.mapOrFail((text) =>
    unlessEmpty(text, () => {
      const items = itemsOf(text)
      const addrs = addrsOf(items)
      if (addrs.length === 0) return Either.left(ConfigError.InvalidData([], REPORT_ADDR_RULE))
      // Named by its place in the list as written (empty items counted), which is where the user will look.
      const bad = items.findIndex((item) => item !== "" && httpUrlProblem(item) !== null)
      if (bad < 0) return Either.right(addrs)
      const problem = httpUrlProblem(items[bad]!)
      // One item that is no http(s) URL breaks the rule itself: said once.
      if (items.length === 1 && problem === NOT_HTTP_URL) return Either.left(ConfigError.InvalidData([], REPORT_ADDR_RULE))
      return Either.left(ConfigError.InvalidData([], `${REPORT_ADDR_RULE}: ${items.length === 1 ? "it" : `item ${bad + 1}`} ${problem}`))
    })
  )
)

/** `CONTAINER_ID`: decimal digits, within the integers a JSON number holds exactly (`Config.integer` also reads `0x10`). */
export const containerId = decimalInteger("CONTAINER_ID", `must be a whole number in decimal digits, at most ${Number.MAX_SAFE_INTEGER}`)

const DNS_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

/**
 * A host the worker's URL keeps as it is: an address without a zone id (URLs have no place for one), or a name that
 * URL parsing neither refuses (a numeric last label, `a.123`, is read as an IPv4 address and fails) nor rewrites
 * (`123` and `0x7f.1` are read as 0.0.0.123 and 127.0.0.1).
 */
const urlKeepsHost = (host: string): boolean => {
  if (isIP(host) !== 0) return !host.includes("%")
  if (!DNS_NAME.test(host)) return false
  const url = `http://${host}/`
  return URL.canParse(url) && new URL(url).hostname === host.toLowerCase()
}

/** `PUBLIC_IPADDR`: an IPv4 or IPv6 address or a DNS name, trimmed (a value taken from a command's output ends in a newline). */
export const publicIp = checkedText(
  "PUBLIC_IPADDR",
  "must be an IPv4 or IPv6 address (without a zone id) or a host name a URL keeps as written (not 123, a.123 or 1.2.3.4.5), e.g. 203.0.113.7",
  (text) => urlKeepsHost(text.trim())
).pipe(Config.map((text) => text.trim()))

/** The URL the autoscaler knows the worker by; an IPv6 address goes in brackets. */
export const workerUrlOf = (useSsl: boolean, host: string, port: number): string =>
  `${useSsl ? "https" : "http"}://${isIPv6(host) ? `[${host}]` : host}:${port}`
export const masterToken = Config.redacted("MASTER_TOKEN").pipe(Config.withDefault(Redacted.make("")))

const strtoboolTrue = new Set(["y", "yes", "t", "true", "on", "1"])
const strtoboolFalse = new Set(["n", "no", "f", "false", "off", "0"])
/** Python's `strtobool`: the usual spellings in any case; anything else is an error. */
const strtobool = (name: string) =>
  checkedText(
    name,
    "must be one of y, yes, t, true, on, 1, n, no, f, false, off, 0",
    (text) => strtoboolTrue.has(text.toLowerCase()) || strtoboolFalse.has(text.toLowerCase())
  ).pipe(
    Config.map((text) => strtoboolTrue.has(text.toLowerCase())),
    Config.withDefault(false)
  )

/**
 * The shortest time a setting that must be positive may say. Below it the value is a typo (`1e-9` for `1e9`): a
 * health check that can never pass, or sessions closed as they are created.
 */
const MIN_POSITIVE_SECONDS = 0.001

const positiveSeconds = (name: string) =>
  decimalNumber(name, `must be a number of seconds, at least ${MIN_POSITIVE_SECONDS}`, (n) => n >= MIN_POSITIVE_SECONDS)

const seconds = (name: string, fallback: number) => positiveSeconds(name).pipe(Config.withDefault(fallback))

const nonNegativeSeconds = (name: string) => decimalNumber(name, "must be a number of seconds, 0 or more", (n) => n >= 0)

const positiveInteger = (name: string, fallback: number) =>
  decimalInteger(name, "must be a positive integer in decimal digits", (n) => n >= 1).pipe(Config.withDefault(fallback))

/**
 * An optional file the worker writes: a regular file, or a new one, in a directory it can write (`journalPathProblem`).
 * Checked now, so that a path it cannot write is a launch failure naming the variable.
 */
const writableFile = (name: string) =>
  Config.string(name).pipe(
    Config.validate({ message: SET_BUT_EMPTY, validation: (text) => text.trim() !== "" }),
    Config.mapOrFail((file) => {
      const problem = OUTER_SPACE_OR_CONTROL.test(file)
        ? "must not begin or end with whitespace or hold a control character (a newline, a tab): most likely a quoting mistake"
        : journalPathProblem(file)
      return problem === null ? Either.right(file) : Either.left(ConfigError.InvalidData([name], problem))
    }),
    Config.option
  )

/** Whitespace at either end, or a control character anywhere (C0, DEL). */
const OUTER_SPACE_OR_CONTROL = /^\s|\s$|[\u0000-\u001f\u007f]/

/**
 * Settings the worker accepts as the framework reads them but that cannot be what was meant: a `MASTER_TOKEN` that
 * no request can carry (HTTP drops a header value's surrounding whitespace and carries no control characters), and
 * a `USE_SSL` that is almost `true` (only the exact string turns TLS on). Secrets are never quoted.
 */
export const configWarnings = (settings: {
  readonly masterToken: string
  readonly useSslText: string
  readonly callbackMaxPendingBytes?: number
}): ReadonlyArray<string> => [
  ...(OUTER_SPACE_OR_CONTROL.test(settings.masterToken)
    ? [
        "MASTER_TOKEN begins or ends with whitespace or holds a control character: /pyworker/update can never match it (HTTP drops a header's surrounding whitespace and carries no control characters); reports send it as it is"
      ]
    : []),
  ...(settings.useSslText !== "true" && ["true", "1", "yes", "on", "y", "t"].includes(settings.useSslText.trim().toLowerCase())
    ? [`USE_SSL is ${JSON.stringify(settings.useSslText)}, not exactly "true": TLS is off, as the framework reads it`]
    : []),
  // Raised, not refused: 1 MiB is the bound a user reads; the route's 8 KiB on top is ours to add (newcomer 41 #3).
  ...(settings.callbackMaxPendingBytes !== undefined && settings.callbackMaxPendingBytes < MIN_CALLBACK_BUDGET
    ? [
        `CALLBACK_MAX_PENDING_BYTES ${settings.callbackMaxPendingBytes} is raised to ${MIN_CALLBACK_BUDGET}: one callback at its largest (a 1 MiB body and an 8 KiB route) must fit`
      ]
    : [])
]

/** `NULL_EXIT_FILE`; main.ts also reads it on its own (`exitMarkerSetting`), so that a stop after a failed launch still writes it. */
export const exitFile = writableFile("NULL_EXIT_FILE")
const outboxFileSetting = writableFile("OUTBOX_FILE")
const forceUpdateFileSetting = writableFile("NULL_FORCE_UPDATE_FILE").pipe(Config.map(Option.getOrElse(() => defaults.forceUpdateFile)))

/**
 * `OUTBOX_FILE` as given, unchecked: a file there may hold an earlier run's callbacks even when this launch refused the
 * setting (its directory not writable, say), so a marker is still never written over it.
 */
const outboxFileAsGiven: Effect.Effect<Option.Option<string>> = Effect.orElseSucceed(
  Config.option(Config.string("OUTBOX_FILE")).pipe(Config.map(Option.filter((file) => file.trim() !== ""))),
  () => Option.none<string>()
)

/**
 * `NULL_EXIT_FILE` as main.ts reads it on its own, for a stop after a failed launch too: none when unusable, or when it
 * names a file the worker keeps something else in (`fileProblems`), which the marker would overwrite.
 */
export const exitMarkerSetting: Effect.Effect<Option.Option<string>> = Effect.gen(function* () {
  const exit = yield* Effect.orElseSucceed(exitFile, () => Option.none<string>())
  if (Option.isNone(exit)) return exit
  const outboxFile = yield* outboxFileAsGiven
  const forceUpdateFile = yield* Effect.orElseSucceed(forceUpdateFileSetting, () => defaults.forceUpdateFile)
  const clashes = fileClashes({ outboxFile, exitFile: exit, forceUpdateFile }).some((clash) => clash.names.includes("NULL_EXIT_FILE"))
  return clashes ? Option.none() : exit
})

/** The files a marker must never be written over (`markerFile.ts`), read on their own as `exitMarkerSetting` is: the journal. */
export const markerKeepsSetting: Effect.Effect<ReadonlyArray<string>> = Effect.map(outboxFileAsGiven, Option.toArray)

const literal = <A extends string, I extends string>(name: string, schema: Schema.Schema<A, I>, fallback: A) =>
  Config.string(name).pipe(
    Config.mapOrFail((text) =>
      unlessEmpty(text, () =>
        Either.mapLeft(Schema.decodeUnknownEither(schema)(text), (error) => ConfigError.InvalidData([], ParseResult.TreeFormatter.formatErrorSync(error)))
      )
    ),
    Config.withDefault(fallback)
  )

const base = Config.all({
  workerPort: port("WORKER_PORT"),
  workerHttpPort: Config.option(port("WORKER_HTTP_PORT")),
  controlPort: controlPortSetting,
  maxSessions: decimalInteger("NULL_MAX_SESSIONS", `must be an integer from 1 to ${defaults.maxSessionsCap}`, (n) => n >= 1 && n <= defaults.maxSessionsCap).pipe(
    Config.withDefault(defaults.maxSessions)
  ),
  backendHealthUrl: healthUrl,
  reportAddrs,
  masterToken,
  containerId,
  publicIp,
  // Case-sensitive, as the framework reads it: only the exact string `true` turns TLS on.
  useSslText: Config.string("USE_SSL").pipe(Config.withDefault("false")),
  unsecured: strtobool("UNSECURED"),
  tlsCertFile: checkedText("WORKER_TLS_CERT", SET_BUT_EMPTY, () => true).pipe(Config.withDefault(defaults.tlsCertFile)),
  tlsKeyFile: checkedText("WORKER_TLS_KEY", SET_BUT_EMPTY, () => true).pipe(Config.withDefault(defaults.tlsKeyFile)),
  healthcheckIntervalSeconds: decimalNumber(
    "HEALTHCHECK_INTERVAL",
    `must be a number of seconds, at least ${defaults.healthcheckIntervalMinSeconds}`,
    (n) => n >= defaults.healthcheckIntervalMinSeconds
  ).pipe(Config.withDefault(defaults.healthcheckIntervalSeconds)),
  // Checked when set, as the other files are; the default, at the root, is the framework's and is left to the platform.
  forceUpdateFile: forceUpdateFileSetting,
  drainTimeoutSeconds: nonNegativeSeconds("DRAIN_TIMEOUT").pipe(Config.withDefault(defaults.drainTimeoutSeconds)),
  maxSessionSeconds: positiveSeconds("MAX_SESSION_SECONDS").pipe(Config.option),
  healthFailureThreshold: positiveInteger("HEALTH_FAILURE_THRESHOLD", defaults.healthFailureThreshold),
  healthStartupGraceSeconds: nonNegativeSeconds("HEALTH_STARTUP_GRACE").pipe(Config.withDefault(defaults.healthStartupGraceSeconds)),
  healthcheckTimeoutSeconds: seconds("HEALTHCHECK_TIMEOUT", defaults.healthcheckTimeoutSeconds),
  outboxFile: outboxFileSetting,
  exitFile,
  callbackConcurrency: decimalInteger(
    "CALLBACK_CONCURRENCY",
    `must be an integer from 1 to ${defaults.callbackConcurrencyCap}`,
    (n) => n >= 1 && n <= defaults.callbackConcurrencyCap
  ).pipe(Config.withDefault(defaults.callbackConcurrency)),
  callbackMaxPending: positiveInteger("CALLBACK_MAX_PENDING", defaults.callbackMaxPending),
  // Below one callback body at its largest, an empty outbox would refuse a create the route accepts, for good.
  callbackMaxPendingBytes: decimalInteger(
    "CALLBACK_MAX_PENDING_BYTES",
    `must be an integer, at least ${MAX_CALLBACK_BYTES} (one callback body at its largest, 1 MiB)`,
    (n) => n >= MAX_CALLBACK_BYTES
  ).pipe(Config.withDefault(defaults.callbackMaxPendingBytes)),
  maxConnections: positiveInteger("MAX_CONNECTIONS", defaults.maxConnections),
  bindRetrySeconds: nonNegativeSeconds("BIND_RETRY_SECONDS").pipe(Config.withDefault(defaults.bindRetrySeconds)),
  logFormat: literal("LOG_FORMAT", LogFormat, defaults.logFormat),
  logLevel: literal("LOG_LEVEL", LogLevelName, defaults.logLevel),
  helperThreadNice: decimalInteger("HELPER_THREAD_NICE", "must be an integer from 0 to 19", (n) => n >= 0 && n <= 19).pipe(
    Config.withDefault(defaults.helperThreadNice)
  ),
  youngGenerationMb: youngGenerationSetting
})

export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `invalid configuration: ${this.problems.join("; ")}`
  }
}

/** The webhook port: `WORKER_HTTP_PORT`, or the framework's default, the public port + 1. */
const webhookPortOf = (workerPort: number, configured: Option.Option<number>): number => Option.getOrElse(configured, () => workerPort + 1)

/** The three listening ports as configured (the webhook's default derived from `WORKER_PORT`). */
const ports = Config.all({
  workerPort: port("WORKER_PORT"),
  workerHttpPort: Config.option(port("WORKER_HTTP_PORT")),
  controlPort: Config.option(port("NULL_CONTROL_PORT"))
})

/**
 * What the per-variable checks cannot see: a webhook port derived past 65535, and two listeners on one port
 * (which would otherwise surface only after `BIND_RETRY_SECONDS` as EADDRINUSE). Port 0 means "any free port"
 * and never conflicts.
 */
export const portProblems = (set: {
  readonly workerPort: number
  readonly workerHttpPort: Option.Option<number>
  readonly controlPort: Option.Option<number>
}): ReadonlyArray<string> => {
  const webhook = webhookPortOf(set.workerPort, set.workerHttpPort)
  const webhookName = Option.isSome(set.workerHttpPort) ? "WORKER_HTTP_PORT" : `WORKER_HTTP_PORT (default WORKER_PORT + 1 = ${webhook})`
  const control: readonly [string, number] = Option.match(set.controlPort, {
    onNone: () => [`NULL_CONTROL_PORT (default ${defaults.controlPort})`, defaults.controlPort],
    onSome: (value) => ["NULL_CONTROL_PORT", value]
  })
  const outOfRange = webhook > 65535
  const named: ReadonlyArray<readonly [string, number]> = outOfRange
    ? [["WORKER_PORT", set.workerPort], control]
    : [["WORKER_PORT", set.workerPort], [webhookName, webhook], control]
  const conflicts = named.flatMap(([name, value], index) =>
    named
      .slice(index + 1)
      .filter(([, other]) => value !== 0 && other === value)
      .map(([otherName]) => `${name} and ${otherName} are both ${value}; each listener needs its own port`)
  )
  return outOfRange
    ? [`WORKER_HTTP_PORT: the default WORKER_PORT + 1 = ${webhook} is not a port; set WORKER_HTTP_PORT to a free port from 1 to 65535`, ...conflicts]
    : conflicts
}

interface WrittenFiles {
  readonly outboxFile: Option.Option<string>
  readonly exitFile: Option.Option<string>
  readonly forceUpdateFile: string
}

/**
 * Two of the files the worker writes named as one (links followed): the exit and update markers are written whole,
 * so either one on the callback journal, or on its lock, would wipe the callbacks kept there at the stop.
 */
const fileClashes = (set: WrittenFiles): ReadonlyArray<{ readonly names: readonly [string, string]; readonly file: string }> => {
  const where = (file: string) => followLinks(resolve(file))
  const named = [
    ...Option.match(set.outboxFile, { onNone: () => [], onSome: (file) => [["OUTBOX_FILE", where(file)], ["OUTBOX_FILE's lock", `${where(file)}.lock`]] as const }),
    ...Option.match(set.exitFile, { onNone: () => [], onSome: (file) => [["NULL_EXIT_FILE", where(file)]] as const }),
    ["NULL_FORCE_UPDATE_FILE", where(set.forceUpdateFile)] as const
  ].map(([name, file]) => ({ name, file, identity: identityOf(file) }))
  return named.flatMap((one, index) =>
    named
      .slice(index + 1)
      .filter((other) => other.identity === one.identity && !(one.name === "OUTBOX_FILE" && other.name === "OUTBOX_FILE's lock"))
      .map((other) => ({ names: [one.name, other.name] as const, file: one.file }))
  )
}

export const fileProblems = (set: WrittenFiles): ReadonlyArray<string> =>
  fileClashes(set).map(({ names: [one, other], file }) => `${one} and ${other} are the same file (${file}); each needs its own, or one would overwrite the other`)

/** What makes two paths one file: its device and inode when it exists (a hard link too), else its directory's real path and its name. */
const identityOf = (file: string): string => {
  try {
    const stats = statSync(file)
    return `inode ${stats.dev}:${stats.ino}`
  } catch {
    try {
      return join(realpathSync(dirname(file)), basename(file))
    } catch {
      return file
    }
  }
}

const problemsOf = <A>(result: Either.Either<A, ConfigError.ConfigError>): ReadonlyArray<string> =>
  Either.isLeft(result) ? describeConfigError(result.left) : []

/**
 * The settings from the current `ConfigProvider`. `VAST_TCP_PORT_<WORKER_PORT>` is named by another
 * variable's value, so it is read in a second step; the problems of both steps are reported together.
 */
export const loadSettings: Effect.Effect<WorkerSettings, InvalidConfig> = Effect.gen(function* () {
  const first = yield* Effect.either(base)
  // Without a usable WORKER_PORT the mapping variable has no name; WORKER_PORT's own problem is reported.
  const workerPort = yield* Effect.option(port("WORKER_PORT"))
  const mapped = Option.isSome(workerPort) ? yield* Effect.either(port(`VAST_TCP_PORT_${workerPort.value}`)) : undefined
  // Checked whenever the ports themselves decode, so that a conflict is listed with every other problem.
  const conflicts = Either.getOrElse(Either.map(yield* Effect.either(ports), portProblems), () => [])
  if (Either.isLeft(first) || mapped === undefined || Either.isLeft(mapped) || conflicts.length > 0) {
    return yield* new InvalidConfig({ problems: [...problemsOf(first), ...(mapped === undefined ? [] : problemsOf(mapped)), ...conflicts] })
  }
  const raw = first.right
  const sameFiles = fileProblems(raw)
  if (sameFiles.length > 0) return yield* new InvalidConfig({ problems: sameFiles })
  // Case-sensitive, as the framework reads it: only the exact string `true` turns TLS on.
  const useSsl = raw.useSslText === "true"
  return {
    workerPort: raw.workerPort,
    workerHttpPort: webhookPortOf(raw.workerPort, raw.workerHttpPort),
    controlPort: raw.controlPort,
    maxSessions: raw.maxSessions,
    backendHealthUrl: raw.backendHealthUrl,
    maxBodyBytes: defaults.maxBodyBytes,
    publicHost: defaults.publicHost,
    reportAddrs: raw.reportAddrs,
    masterToken: raw.masterToken,
    containerId: raw.containerId,
    workerUrl: workerUrlOf(useSsl, raw.publicIp, mapped.right),
    useSsl,
    warnings: configWarnings({ masterToken: Redacted.value(raw.masterToken), useSslText: raw.useSslText, callbackMaxPendingBytes: raw.callbackMaxPendingBytes }),
    unsecured: raw.unsecured,
    tlsCertFile: raw.tlsCertFile,
    tlsKeyFile: raw.tlsKeyFile,
    healthcheckIntervalSeconds: raw.healthcheckIntervalSeconds,
    forceUpdateFile: raw.forceUpdateFile,
    drainTimeoutSeconds: raw.drainTimeoutSeconds,
    maxSessionSeconds: raw.maxSessionSeconds,
    healthFailureThreshold: raw.healthFailureThreshold,
    healthStartupGraceSeconds: raw.healthStartupGraceSeconds,
    healthcheckTimeoutSeconds: raw.healthcheckTimeoutSeconds,
    outboxFile: raw.outboxFile,
    exitFile: raw.exitFile,
    callbackConcurrency: raw.callbackConcurrency,
    callbackMaxPending: raw.callbackMaxPending,
    // With its route (counted too since probe 50 L1), one callback at its largest takes 8 KiB more than the floor
    // documented before; a budget set at that floor is taken as that much larger rather than refused (review 55 L1:
    // an upgrade would have made a working setting a failed launch, which Vast answers by replacing the instance).
    callbackMaxPendingBytes: Math.max(raw.callbackMaxPendingBytes, MIN_CALLBACK_BUDGET),
    maxConnections: raw.maxConnections,
    bindRetrySeconds: raw.bindRetrySeconds,
    logFormat: raw.logFormat,
    logLevel: raw.logLevel,
    helperThreadNice: raw.helperThreadNice,
    youngGenerationMb: raw.youngGenerationMb
  }
})

export class WorkerConfig extends Context.Tag("app/WorkerConfig")<WorkerConfig, WorkerSettings>() {
  /** Settings given directly (tests). */
  static readonly layer = (settings: Partial<WorkerSettings> & Pick<WorkerSettings, "workerPort">) =>
    Layer.succeed(WorkerConfig, {
      workerHttpPort: webhookPortOf(settings.workerPort, Option.none()),
      controlPort: defaults.controlPort,
      maxSessions: defaults.maxSessions,
      backendHealthUrl: Option.none(),
      maxBodyBytes: defaults.maxBodyBytes,
      publicHost: defaults.publicHost,
      reportAddrs: ["http://127.0.0.1:9"],
      masterToken: Redacted.make(""),
      containerId: 1,
      workerUrl: `http://127.0.0.1:${settings.workerPort}`,
      useSsl: false,
      warnings: [],
      unsecured: true,
      tlsCertFile: defaults.tlsCertFile,
      tlsKeyFile: defaults.tlsKeyFile,
      healthcheckIntervalSeconds: defaults.healthcheckIntervalSeconds,
      forceUpdateFile: defaults.forceUpdateFile,
      drainTimeoutSeconds: 0,
      maxSessionSeconds: Option.none(),
      healthFailureThreshold: defaults.healthFailureThreshold,
      healthStartupGraceSeconds: defaults.healthStartupGraceSeconds,
      healthcheckTimeoutSeconds: defaults.healthcheckTimeoutSeconds,
      outboxFile: Option.none(),
      exitFile: Option.none(),
      callbackConcurrency: defaults.callbackConcurrency,
      callbackMaxPending: defaults.callbackMaxPending,
      callbackMaxPendingBytes: defaults.callbackMaxPendingBytes,
      maxConnections: defaults.maxConnections,
      bindRetrySeconds: 0,
      logFormat: defaults.logFormat,
      logLevel: defaults.logLevel,
      helperThreadNice: defaults.helperThreadNice,
      youngGenerationMb: defaults.youngGenerationMb,
      ...settings
    })

  /** Settings from the environment (through the current `ConfigProvider`). */
  static readonly layerFromEnv = Layer.effect(WorkerConfig, loadSettings)
}
