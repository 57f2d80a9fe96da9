/**
 * The example consumer for queue-depth autoscaling, run beside each null worker (the local serverless'
 * `--sidecar`, or your template's `CONSUMER_CMD` on Vast). It uses the consumer library
 * (`src/client/autoscale/consumer.ts`): it works only while its worker is reserved, pulls jobs from the
 * stream's consumer group, and releases its worker when it has found no job for `IDLE_GRACE` seconds.
 *
 * A job is a stream entry with `job_id` and `work_ms` fields; the work is a sleep of `work_ms`. Each
 * event is printed as one JSON line (the example runner reads them). It serves `/health` on
 * `SIDECAR_PORT` for the worker's `BACKEND_HEALTH_URL`: healthy while it runs, Redis or not (an outage hits every
 * instance alike, a new one would reach the same Redis, and an unhealthy worker is replaced with the sessions it
 * holds; the consumer waits Redis out).
 *
 * Environment: REDIS_URL, WORKER_CONTROL_URL, SIDECAR_PORT, AUTOSCALE_STREAM (default jobs),
 * AUTOSCALE_GROUP (workers), AUTOSCALE_PREFIX (<stream>:autoscale), IDLE_GRACE (seconds, 2),
 * CLAIM_MIN_IDLE (seconds, 5), CONSUMER_NAME (default from CONTAINER_ID and the pid).
 */
import { hostname } from "node:os"
import { HttpRouter, HttpServerResponse } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { httpClientClosingUpgraded } from "../../src/shared/closeUpgraded.js"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Config, ConfigError, Data, DateTime, Duration, Effect, Layer, Logger, LogLevel, Option, Schema } from "effect"
import { type ConsumerEvent, runConsumer } from "../../src/client/autoscale/consumer.js"
import { JobStream, type StreamJob } from "../../src/client/autoscale/JobStream.js"
import { defaultPrefix } from "../../src/client/autoscale/keys.js"
import { connectRedis } from "../../src/client/autoscale/redis.js"
import { WorkerControl } from "../../src/client/autoscale/WorkerControl.js"
import { decimalNumber, port } from "../../src/shared/decimalConfig.js"
import { describeConfigError } from "../../src/shared/causeLine.js"
import { listen } from "../../src/shared/listen.js"
import { listenFailure } from "../../src/shared/listenFailure.js"
import { isRedisTarget, REDIS_TARGET_RULE } from "../../src/shared/redisTarget.js"
import { handledEnvProgramArgs } from "../../src/shared/envProgramArgs.js"
import { rememberStopSignal } from "../../src/shared/signalExitStatus.js"

const help = `Usage: node dist/examples/autoscale-consumer.js   (run beside a null worker, e.g. the local serverless's --sidecar)

While its worker is reserved, takes jobs from a Redis stream's consumer group (entries with job_id and work_ms fields;
the work is a sleep of work_ms ms), and releases the worker after IDLE_GRACE seconds without a job. Serves /health
on SIDECAR_PORT for the worker's BACKEND_HEALTH_URL. Prints one JSON line per event.

Environment:
  REDIS_URL             Redis (default redis://127.0.0.1:6379)
  WORKER_CONTROL_URL    its worker's control server (default http://127.0.0.1:18999)
  SIDECAR_PORT          the /health port (default 9090)
  AUTOSCALE_STREAM      the stream (default jobs)
  AUTOSCALE_GROUP       the consumer group (default workers)
  AUTOSCALE_PREFIX      the daemon's key prefix (default <stream>:autoscale)
  IDLE_GRACE            seconds without a job before it releases its worker (default 2)
  CLAIM_MIN_IDLE        seconds after which a job another consumer took is claimed (default 5)
  CONSUMER_NAME         its name in the group (default from CONTAINER_ID and the pid)
`
if (handledEnvProgramArgs(process.argv.slice(2), "autoscale example consumer", help)) process.exit()

/**
 * A number of seconds, 0 or more and finite (`Infinity` would never release a worker or reclaim a job), read as the
 * worker reads its own: decimal only, and set but empty is an error, not 0 (review 43 L5).
 */
const seconds = (name: string, fallback: number) =>
  decimalNumber(name, "must be a finite number of seconds, 0 or more", (value) => value >= 0).pipe(Config.withDefault(fallback))

const settings = Config.all({
  redisUrl: Config.string("REDIS_URL").pipe(
    Config.validate({ message: REDIS_TARGET_RULE, validation: isRedisTarget }),
    Config.withDefault("redis://127.0.0.1:6379")
  ),
  controlUrl: Config.string("WORKER_CONTROL_URL").pipe(Config.withDefault("http://127.0.0.1:18999")),
  healthPort: port("SIDECAR_PORT").pipe(Config.withDefault(9090)),
  stream: Config.string("AUTOSCALE_STREAM").pipe(Config.withDefault("jobs")),
  group: Config.string("AUTOSCALE_GROUP").pipe(Config.withDefault("workers")),
  prefix: Config.string("AUTOSCALE_PREFIX").pipe(Config.option),
  idleGrace: seconds("IDLE_GRACE", 2),
  claimMinIdle: seconds("CLAIM_MIN_IDLE", 5),
  name: Config.string("CONSUMER_NAME").pipe(Config.option),
  container: Config.string("CONTAINER_ID").pipe(Config.withDefault(hostname()))
})

class HealthNotListening extends Data.TaggedError("HealthNotListening")<{ readonly message: string }> {}

const WorkMs = Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, 600_000))

const main = Effect.gen(function* () {
  const config = yield* settings
  const consumer = Option.getOrElse(config.name, () => `consumer-${config.container}-${process.pid}`)
  const print = (fields: Record<string, unknown>) =>
    Effect.flatMap(DateTime.now, (now) =>
      Effect.sync(() => process.stdout.write(`${JSON.stringify({ consumer, pid: process.pid, ...fields, at: DateTime.formatIso(now) })}\n`))
    )

  const redis = yield* connectRedis(config.redisUrl)
  // XREADGROUP … BLOCK holds its connection: it gets one of its own.
  const blocking = yield* connectRedis(config.redisUrl)

  // The worker's health check: healthy while the consumer runs; a Redis outage is said, not failed (see above).
  const health = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/health",
      Effect.map(redis.ready, (up) => HttpServerResponse.text(up ? "ok" : "ok (redis unavailable: waiting for it)"))
    )
  )
  // Held open in this scope: a port it cannot take stops the consumer at once, naming the variable.
  yield* Layer.build(listen(health, { name: "consumer health", host: "127.0.0.1", port: config.healthPort })).pipe(
    Effect.catchTag("ServeError", (error) => Effect.fail(new HealthNotListening({ message: `SIDECAR_PORT: ${listenFailure(error.cause, "127.0.0.1", config.healthPort, "SIDECAR_PORT")}` })))
  )

  const handler = (job: StreamJob) =>
    Effect.gen(function* () {
      const workMs = Schema.decodeUnknownOption(WorkMs)(job.fields["work_ms"]).pipe(Option.getOrElse(() => 200))
      yield* print({ event: "working", job: job.key, work_ms: workMs, reclaimed: job.reclaimed })
      yield* Effect.sleep(Duration.millis(workMs))
      return JSON.stringify({ job: job.key, by: consumer, work_ms: workMs })
    })

  const app = Layer.merge(
    JobStream.layerRedis(redis, blocking, {
      stream: config.stream,
      group: config.group,
      consumer,
      prefix: Option.getOrElse(config.prefix, () => defaultPrefix(config.stream)),
      jobKeyField: "job_id"
    }),
    WorkerControl.layer(config.controlUrl).pipe(Layer.provide(httpClientClosingUpgraded()))
  )
  yield* print({ event: "started", stream: config.stream, group: config.group, control: config.controlUrl })
  yield* runConsumer(
    {
      idleGrace: Duration.seconds(config.idleGrace),
      claimMinIdle: Duration.seconds(config.claimMinIdle),
      block: Duration.seconds(1),
      pollWait: 30
    },
    handler,
    (event: ConsumerEvent) => print({ ...event })
  ).pipe(
    Effect.provide(app),
    // A consumer stopped between jobs leaves the group, so that the group lists live consumers only.
    Effect.onInterrupt(() =>
      Effect.flatMap(JobStream, (jobs) => Effect.ignore(jobs.leave)).pipe(Effect.provide(app), Effect.zipRight(print({ event: "stopped" })))
    )
  )
}).pipe(Effect.scoped)

// A hang-up stops it as SIGTERM does; a stop's echo (timeout(1)) is not a second one.
rememberStopSignal()
main.pipe(
  // A bad setting is one line naming the variable, as the worker says it, and exit 1.
  Effect.catchIf(ConfigError.isConfigError, (error) =>
    Effect.sync(() => {
      for (const line of describeConfigError(error)) process.stderr.write(`consumer: ${line}\n`)
      process.exitCode = 1
    })
  ),
  Effect.catchTag("HealthNotListening", (error) =>
    Effect.sync(() => {
      process.stderr.write(`consumer: ${error.message}\n`)
      process.exitCode = 1
    })
  ),
  Effect.provide(Layer.merge(NodeContext.layer, Logger.minimumLogLevel(LogLevel.Warning))),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
