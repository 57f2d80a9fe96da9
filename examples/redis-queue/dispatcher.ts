/**
 * The dispatcher of the Redis example: for each job it reserves a worker (a session through the Vast
 * client library), binds the job to that session in Redis (`jobs:<session_id>`), and waits for the
 * session's `on_close_route` callback:
 *
 *   - `released` (the consumer finished) with a result in Redis → the job is done (`done:<job_id>`, set
 *     once with SET NX, so a job is done exactly once even if it ran twice);
 *   - anything else (`expired`, `shutdown`, `ended`) → the job goes to a new session.
 *
 * `node dist/examples/redis-dispatcher.js --jobs 20 --autoscaler-url … --webserver-url … --endpoint …`; against Vast,
 * add `--callback-host 0.0.0.0 --callback-port 8000 --callback-url http://<this machine's public address>:8000`.
 */
import { readFileSync } from "node:fs"
import { Command, Options } from "@effect/cli"
import { HttpRouter, HttpServer, HttpServerRequest } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Data, Deferred, Duration, Effect, Layer, Logger, Option, Redacted, Schema } from "effect"
import { Redis } from "ioredis"
import { VastClient } from "../../src/client/VastClient.js"
import { json } from "../../src/shared/jsonResponse.js"
import { serveApp, serverLayer } from "../../src/shared/listen.js"
import { doneKey, type Job, resultKey, sessionQueue } from "./keys.js"

/** The callback body: our payload (`job_id`) plus what the worker adds. */
const ClosedSession = Schema.Struct({ job_id: Schema.String, session_id: Schema.String, close_reason: Schema.String })

class RedisFailed extends Data.TaggedError("RedisFailed")<{ readonly message: string }> {}
class JobsUnfinished extends Data.TaggedError("JobsUnfinished")<{ readonly message: string }> {}

/** Redis as a scoped resource; commands wrapped once, here. */
const redisConnection = (url: string) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => {
        const redis = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(50 * times, 1000) })
        redis.on("error", () => undefined)
        return redis
      }),
      (redis) => Effect.sync(() => redis.disconnect())
    ),
    (redis) => {
      const run = <A>(what: string, command: () => Promise<A>) =>
        Effect.tryPromise({ try: command, catch: (error) => new RedisFailed({ message: `${what}: ${String(error)}` }) })
      return {
        bindJob: (sessionId: string, job: Job) => run("RPUSH", () => redis.rpush(sessionQueue(sessionId), JSON.stringify(job))),
        unbind: (sessionId: string) => run("DEL", () => redis.del(sessionQueue(sessionId))),
        hasResult: (jobId: string) => Effect.map(run("EXISTS", () => redis.exists(resultKey(jobId))), (n) => n > 0),
        isDone: (jobId: string) => Effect.map(run("EXISTS", () => redis.exists(doneKey(jobId))), (n) => n > 0),
        markDone: (jobId: string) => Effect.map(run("SET NX", () => redis.set(doneKey(jobId), "1", "NX")), (ok) => ok === "OK")
      }
    }
  )

const options = {
  jobs: Options.integer("jobs").pipe(Options.withDefault(20), Options.withDescription("how many jobs to run")),
  endpoint: Options.text("endpoint").pipe(Options.withDefault("null-local")),
  autoscalerUrl: Options.text("autoscaler-url").pipe(Options.withDefault("http://localhost:8080")),
  webserverUrl: Options.text("webserver-url").pipe(Options.withDefault("http://localhost:8080")),
  redisUrl: Options.text("redis-url").pipe(Options.withDefault("redis://127.0.0.1:6379")),
  concurrency: Options.integer("concurrency").pipe(Options.withDefault(3), Options.withDescription("jobs in flight at once")),
  lifetime: Options.float("lifetime").pipe(Options.withDefault(30), Options.withDescription("session lifetime, seconds")),
  attempts: Options.integer("attempts").pipe(Options.withDefault(5), Options.withDescription("sessions tried per job")),
  jobsFile: Options.file("jobs-file", { exists: "yes" }).pipe(
    Options.optional,
    Options.withDescription("a JSON array of jobs ({job_id, input, work_ms?}) to run instead of --jobs generated ones")
  ),
  callbackHost: Options.text("callback-host").pipe(
    Options.withDefault("127.0.0.1"),
    Options.withDescription("address the callback endpoint listens on (0.0.0.0 to take callbacks from other machines)")
  ),
  callbackPort: Options.integer("callback-port").pipe(Options.withDefault(0), Options.withDescription("its port (0: any free one)")),
  callbackUrl: Options.text("callback-url").pipe(
    Options.optional,
    Options.withDescription("the base URL workers post callbacks to (default http://<callback-host>:<port>); on Vast, one a worker can reach")
  )
}

/** `--jobs-file`: the jobs to run, as JSON. */
const JobsFile = Schema.parseJson(
  Schema.Array(Schema.Struct({ job_id: Schema.String, input: Schema.String, work_ms: Schema.optionalWith(Schema.Number, { exact: true }) }))
)

const dispatcher = Command.make("redis-dispatcher", options, (opts) =>
  Effect.gen(function* () {
    const redis = yield* redisConnection(opts.redisUrl)
    const client = yield* VastClient

    // Callbacks can come before the waiter is registered, so each session gets one Deferred, made by
    // whichever side comes first.
    const closes = new Map<string, Deferred.Deferred<string>>()
    // What the run saw, printed at the end as one JSON line (`summary {...}`).
    const reasons: Record<string, number> = {}
    const callbackSessions = new Set<string>()
    let duplicateCallbacks = 0
    let redispatched = 0
    const closeOf = (sessionId: string) =>
      Effect.gen(function* () {
        const existing = closes.get(sessionId)
        if (existing !== undefined) return existing
        const made = yield* Deferred.make<string>()
        closes.set(sessionId, made)
        return made
      })

    const callbacks = HttpRouter.empty.pipe(
      HttpRouter.post(
        "/closed",
        Effect.gen(function* () {
          const body = yield* HttpServerRequest.schemaBodyJson(ClosedSession)
          if (callbackSessions.has(body.session_id)) duplicateCallbacks += 1
          callbackSessions.add(body.session_id)
          reasons[body.close_reason] = (reasons[body.close_reason] ?? 0) + 1
          yield* Deferred.succeed(yield* closeOf(body.session_id), body.close_reason)
          return json(200, { ok: true })
        }).pipe(Effect.catchAll(() => Effect.succeed(json(422, { error: "not a session callback" }))))
      )
    )
    const server = yield* Layer.build(
      serveApp(callbacks, "dispatcher callbacks").pipe(
        Layer.provideMerge(serverLayer({ name: "dispatcher callbacks", host: opts.callbackHost, port: opts.callbackPort }))
      )
    )
    const listening = yield* HttpServer.addressWith((a) =>
      Effect.succeed(a._tag === "TcpAddress" ? `http://${opts.callbackHost.includes(":") ? `[${opts.callbackHost}]` : opts.callbackHost}:${a.port}` : "")
    ).pipe(Effect.provide(server))
    const callbackBase = Option.getOrElse(opts.callbackUrl, () => listening).replace(/\/+$/, "")
    yield* Effect.logInfo(`callbacks: workers post to ${callbackBase}/closed (listening on ${listening})`)

    const endpoint = yield* client.findEndpoint(opts.endpoint)
    const runJob = (job: Job) =>
      Effect.gen(function* () {
        for (let attempt = 1; attempt <= opts.attempts; attempt++) {
          if (yield* redis.isDone(job.job_id)) return "done" as const
          const session = yield* client.reserve({
            endpoint,
            cost: 100,
            lifetime: opts.lifetime,
            onCloseRoute: `${callbackBase}/closed`,
            onClosePayload: { job_id: job.job_id },
            timeout: "120 seconds"
          })
          const closed = yield* closeOf(session.sessionId)
          yield* redis.bindJob(session.sessionId, job)
          yield* Effect.logInfo(`${job.job_id} → session ${session.sessionId} on ${session.url}`)
          const reason = yield* Deferred.await(closed).pipe(
            Effect.timeout(Duration.seconds(opts.lifetime + 30)),
            Effect.orElseSucceed(() => "no callback")
          )
          closes.delete(session.sessionId)
          if (reason === "released" && (yield* redis.hasResult(job.job_id))) {
            const first = yield* redis.markDone(job.job_id)
            yield* Effect.logInfo(`${job.job_id} done${first ? "" : " (already done before)"}`)
            return "done" as const
          }
          yield* redis.unbind(session.sessionId)
          redispatched += 1
          yield* Effect.logWarning(`${job.job_id}: session ${session.sessionId} closed (${reason}) without a result; dispatching again`)
        }
        return "gave up" as const
      })

    const jobs: ReadonlyArray<Job> = Option.isSome(opts.jobsFile)
      ? yield* Schema.decodeUnknown(JobsFile)(readFileSync(opts.jobsFile.value, "utf8"))
      : Array.from({ length: opts.jobs }, (_, i) => ({ job_id: `job-${i + 1}`, input: `payload ${i + 1}` }))
    const outcomes = yield* Effect.forEach(jobs, (job) => Effect.either(runJob(job)), { concurrency: opts.concurrency })
    const done = outcomes.filter((outcome) => outcome._tag === "Right" && outcome.right === "done").length
    yield* Effect.logInfo(`${done} of ${jobs.length} jobs done`)
    yield* Effect.sync(() =>
      process.stdout.write(
        `summary ${JSON.stringify({ jobs: jobs.length, done, callbacks: reasons, duplicate_callbacks: duplicateCallbacks, redispatched })}\n`
      )
    )
    if (done !== jobs.length) return yield* new JobsUnfinished({ message: `${jobs.length - done} job(s) not done` })
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.unwrapEffect(
        Effect.map(
          Effect.sync(() => process.env["VAST_API_KEY"] ?? "local"),
          (apiKey) => VastClient.layer({ apiKey: Redacted.make(apiKey), webserverUrl: opts.webserverUrl, autoscalerUrl: opts.autoscalerUrl })
        )
      )
    )
  )
)

const cli = Command.run(dispatcher, { name: "redis example dispatcher", version: "0.1.0" })
cli(process.argv).pipe(
  Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, Logger.logFmt)),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
