/**
 * The worker's settings, decoded once from the environment. Invalid settings stop startup with one
 * message that lists every problem (`describeConfigError`).
 */
import { Config, ConfigError, Context, Effect, Either, Layer, Option, Schema } from "effect"
import { HttpUrl } from "../domain/requests.js"

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
  /** Where the public port binds; the protocol wants every interface. */
  readonly publicHost: string
}

export const defaults = {
  controlPort: 18999,
  maxSessions: 1,
  maxBodyBytes: 1024 * 1024,
  publicHost: "0.0.0.0"
} as const

const port = (name: string) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a port number from 1 to 65535", validation: (p) => p >= 1 && p <= 65535 })
  )

const healthUrl = Config.string("BACKEND_HEALTH_URL").pipe(
  Config.validate({
    message: "must be an absolute http(s) URL, e.g. http://127.0.0.1:9090/health",
    validation: (text) => Either.isRight(Schema.decodeEither(HttpUrl)(text))
  }),
  Config.option
)

/** The settings as `Config`: every variable is read, so all problems are reported together. */
export const config: Config.Config<WorkerSettings> = Config.all({
  workerPort: port("WORKER_PORT"),
  workerHttpPort: Config.option(port("WORKER_HTTP_PORT")),
  controlPort: port("NULL_CONTROL_PORT").pipe(Config.withDefault(defaults.controlPort)),
  maxSessions: Config.integer("NULL_MAX_SESSIONS").pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n >= 1 }),
    Config.withDefault(defaults.maxSessions)
  ),
  backendHealthUrl: healthUrl
}).pipe(
  Config.map((raw) => ({
    ...raw,
    workerHttpPort: Option.getOrElse(raw.workerHttpPort, () => raw.workerPort + 1),
    maxBodyBytes: defaults.maxBodyBytes,
    publicHost: defaults.publicHost
  }))
)

/** One line per problem, naming the variable: `WORKER_PORT: Expected an integer value but received "x"`. */
export const describeConfigError = (error: ConfigError.ConfigError): ReadonlyArray<string> => {
  switch (error._op) {
    case "And":
    case "Or":
      return [...describeConfigError(error.left), ...describeConfigError(error.right)]
    case "MissingData":
      return [`${error.path.join(".")}: is required but not set`]
    default:
      return [`${error.path.join(".")}: ${error.message}`]
  }
}

export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `invalid configuration:\n  ${this.problems.join("\n  ")}`
  }
}

export class WorkerConfig extends Context.Tag("app/WorkerConfig")<WorkerConfig, WorkerSettings>() {
  /** Settings given directly (tests). */
  static readonly layer = (settings: Partial<WorkerSettings> & Pick<WorkerSettings, "workerPort">) =>
    Layer.succeed(WorkerConfig, {
      workerHttpPort: settings.workerPort + 1,
      controlPort: defaults.controlPort,
      maxSessions: defaults.maxSessions,
      backendHealthUrl: Option.none(),
      maxBodyBytes: defaults.maxBodyBytes,
      publicHost: defaults.publicHost,
      ...settings
    })

  /** Settings from the environment (through the current `ConfigProvider`). */
  static readonly layerFromEnv = Layer.effect(
    WorkerConfig,
    config.pipe(Effect.mapError((error) => new InvalidConfig({ problems: describeConfigError(error) })))
  )
}
