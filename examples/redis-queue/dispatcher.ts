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
import { Command, Options, ValidationError } from "@effect/cli"
import { HttpRouter, HttpServer, HttpServerRequest } from "@effect/platform"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Clock, Data, Deferred, Duration, Effect, Exit, Layer, Option, Redacted, Runtime, Schema } from "effect"
import { plainLogfmt } from "../../src/shared/logging.js"
import { Redis } from "ioredis"
import { urlFlagSchema } from "../../src/client/cli.js"
import { describe } from "../../src/client/events.js"
import { progressEvent } from "../../src/client/Reservations.js"
import { type ReserveProgress, VastClient } from "../../src/client/VastClient.js"
import { describeCause } from "../../src/shared/causeLine.js"
import { printable } from "../../src/shared/printable.js"
import { redactUrl } from "../../src/shared/redactUrl.js"
import { answeredStandardFlags, defaulted, optional, optionsOf, renderHelp } from "../../src/shared/cliHelp.js"
import { runWithLogLevel } from "../../src/shared/logLevelFlag.js"
import { json } from "../../src/shared/jsonResponse.js"
import { serveApp, serverLayer } from "../../src/shared/listen.js"
import { listenFailure } from "../../src/shared/listenFailure.js"
import { isRedisTarget, REDIS_TARGET_RULE } from "../../src/shared/redisTarget.js"
import { VERSION } from "../../src/shared/version.js"
import { sayConnectionTrouble } from "./connectionTrouble.js"
import { doneKey, type Job, resultKey, sessionQueue } from "./keys.js"
import { withOneLineErrors } from "../../src/shared/cliConsole.js"
import { CloseReason } from "../../src/protocol/callback.js"
import { existingFile } from "../../src/shared/textFlags.js"
import { firstIssue } from "../../src/shared/firstIssue.js"
import { lifetimeSeconds, wholeAtLeast } from "../../src/shared/numericFlags.js"
import { readBoundedFile, refusalText } from "../../src/shared/readBoundedFile.js"
import { rememberStopSignal } from "../../src/shared/signalExitStatus.js"
import { stopWhenOrphaned } from "../../src/shared/orphanWatch.js"
import { httpUrl } from "../../src/shared/reachableUrl.js"
import { makeCallbackBook } from "./callbackBook.js"

/** The callback body: our payload (`job_id`) plus what the worker adds. */
// The protocol's reasons only: what a callback names is counted, so a forged one cannot add keys without end.
const ClosedSession = Schema.Struct({ job_id: Schema.String, session_id: Schema.String, close_reason: CloseReason })

class RedisFailed extends Data.TaggedError("RedisFailed")<{ readonly message: string }> {}
class JobsUnfinished extends Data.TaggedError("JobsUnfinished")<{ readonly message: string }> {}
class CallbacksNotListening extends Data.TaggedError("CallbacksNotListening")<{ readonly message: string }> {}
class JobsFileInvalid extends Data.TaggedError("JobsFileInvalid")<{ readonly message: string }> {}

/** Redis as a scoped resource; commands wrapped once, here. */
const redisConnection = (url: string) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.map(Effect.runtime<never>(), (runtime) => {
        const redis = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(50 * times, 1000) })
        sayConnectionTrouble(redis, url, (text) => Runtime.runFork(runtime)(Effect.logWarning(`redis: ${text}`)))
        return redis
      }),
      (redis) => Effect.sync(() => redis.disconnect())
    ),
    (redis) => {
      const run = <A>(what: string, command: () => Promise<A>) =>
        // The message, not `String(error)`: the bundle's class names are minified.
        Effect.tryPromise({ try: command, catch: (error) => new RedisFailed({ message: `${what}: ${error instanceof Error ? error.message : String(error)}` }) })
      return {
        bindJob: (sessionId: string, job: Job) => run("RPUSH", () => redis.rpush(sessionQueue(sessionId), JSON.stringify(job))),
        unbind: (sessionId: string) => run("DEL", () => redis.del(sessionQueue(sessionId))),
        hasResult: (jobId: string) => Effect.map(run("EXISTS", () => redis.exists(resultKey(jobId))), (n) => n > 0),
        isDone: (jobId: string) => Effect.map(run("EXISTS", () => redis.exists(doneKey(jobId))), (n) => n > 0),
        markDone: (jobId: string) => Effect.map(run("SET NX", () => redis.set(doneKey(jobId), "1", "NX")), (ok) => ok === "OK")
      }
    }
  )

const flags = {
  jobs: defaulted(wholeAtLeast(1), { name: "jobs", value: "N", fallback: 20, description: "how many jobs to run (generated ones)" }),
  endpoint: defaulted(Options.text, { name: "endpoint", value: "NAME", fallback: "null-local", description: "the endpoint to reserve workers on" }),
  autoscalerUrl: defaulted(Options.text, { name: "autoscaler-url", value: "URL", fallback: "http://localhost:8080", description: "where /route/ is called (the local serverless by default)" }),
  webserverUrl: defaulted(Options.text, { name: "webserver-url", value: "URL", fallback: "http://localhost:8080", description: "where the endpoint is looked up" }),
  redisUrl: defaulted(Options.text, { name: "redis-url", value: "URL", fallback: "redis://127.0.0.1:6379", description: "the Redis the consumers share" }),
  concurrency: defaulted(wholeAtLeast(1), { name: "concurrency", value: "N", fallback: 3, description: "jobs in flight at once" }),
  lifetime: defaulted(lifetimeSeconds, { name: "lifetime", value: "SECONDS", fallback: 30, description: "session lifetime: a job must finish within it (the dispatcher does not ping)" }),
  attempts: defaulted(wholeAtLeast(1), { name: "attempts", value: "N", fallback: 5, description: "reservations tried per job (a session that closed without a result, or a reservation that failed)" }),
  jobsFile: optional(existingFile("jobs-file"), {
    name: "jobs-file",
    value: "FILE",
    description: "a JSON array of jobs ({job_id, input, work_ms?}: job_id and input strings, each job_id once, work_ms a number of ms) to run instead of --jobs generated ones"
  }),
  callbackHost: defaulted(Options.text, {
    name: "callback-host",
    value: "HOST",
    fallback: "127.0.0.1",
    description: "address the callback endpoint listens on (0.0.0.0 to take callbacks from other machines)"
  }),
  callbackPort: defaulted(wholeAtLeast(0, 65535), { name: "callback-port", value: "N", fallback: 0, description: "its port (0: any free one)" }),
  callbackUrl: optional(Options.text("callback-url").pipe(Options.withSchema(urlFlagSchema("callback-url"))), {
    name: "callback-url",
    value: "URL",
    fallback: "http://<callback-host>:<port>",
    description: "the base URL workers post callbacks to; on Vast, one a worker can reach"
  })
}

const options = optionsOf(flags)

const help = renderHelp({
  usage: ["node dist/examples/redis-dispatcher.js [options]"],
  summary: [
    "The Redis queue example's dispatcher: reserves a worker per job through Vast (or the local serverless), binds",
    "the job to the session in Redis, and waits for its on_close callback. VAST_API_KEY is the user key (\"local\",",
    "the local serverless's, when unset; said at start). Workers with a certificate of Vast's CA: give the CA",
    "through NODE_EXTRA_CA_CERTS."
  ],
  flags: Object.values(flags).map((flag) => flag.help)
})

/** `--jobs-file`: the jobs to run, as JSON. */
const JobsFile = Schema.parseJson(
  Schema.Array(Schema.Struct({ job_id: Schema.String, input: Schema.String, work_ms: Schema.optionalWith(Schema.Number, { exact: true }) })).pipe(
    // A job is done once, by its id: a second job of the same id had its input dropped, counted as done (newcomer 41 #4).
    Schema.filter((jobs) => {
      const seen = new Map<string, number>()
      for (const [index, job] of jobs.entries()) {
        const first = seen.get(job.job_id)
        if (first !== undefined) return `job_id ${JSON.stringify(job.job_id)} is given twice (jobs ${first} and ${index}): a job is done once, by its id`
        seen.set(job.job_id, index)
      }
      return true
    })
  )
)

/** The largest `--jobs-file` read: far more jobs than one run dispatches; a larger file is a wrong path, refused unread. */
const MAX_JOBS_FILE_BYTES = 64 * 1024 * 1024

/** `--jobs-file`'s text, or why it was not read (a file replaced or grown since the flag was checked, a device). */
const jobsFileText = (path: string): Effect.Effect<string, JobsFileInvalid> =>
  Effect.try({
    try: () => readBoundedFile(path, MAX_JOBS_FILE_BYTES),
    catch: (error) => new JobsFileInvalid({ message: printable(`--jobs-file ${path}: ${error instanceof Error ? error.message : String(error)}`) })
  }).pipe(
    Effect.flatMap((read) =>
      typeof read !== "string"
        ? Effect.succeed(read.toString("utf8"))
        : Effect.fail(new JobsFileInvalid({ message: printable(`--jobs-file ${path}: ${refusalText(read, MAX_JOBS_FILE_BYTES)}`) }))
    )
  )

/** The jobs to run: `--jobs-file`'s, read before anything is started (a bad file is said naming it), or `--jobs` generated. */
const jobsOf = (opts: { readonly jobs: number; readonly jobsFile: Option.Option<string> }): Effect.Effect<ReadonlyArray<Job>, JobsFileInvalid> =>
  Option.match(opts.jobsFile, {
    onNone: () => Effect.succeed(Array.from({ length: opts.jobs }, (_, i) => ({ job_id: `job-${i + 1}`, input: `payload ${i + 1}` }))),
    onSome: (path) =>
      Effect.flatMap(jobsFileText(path), (text) =>
        Effect.mapError(
          Schema.decodeUnknown(JobsFile)(text),
          (error) =>
            new JobsFileInvalid({
              // Printable: JSON.parse's message quotes the file's text, line breaks included.
              message: printable(`--jobs-file ${path}: ${firstIssue(error)?.message ?? "not JSON"} (a JSON array of {"job_id", "input", "work_ms"?})`)
            })
        )
      )
  })

const dispatcher = Command.make("redis-dispatcher", options, (opts) =>
  Effect.gen(function* () {
    if (!isRedisTarget(opts.redisUrl)) return yield* new RedisFailed({ message: `--redis-url ${REDIS_TARGET_RULE}` })
    // Started by an example's runner that is then killed outright, it stops rather than dispatch for nobody.
    yield* stopWhenOrphaned
    const jobs = yield* jobsOf(opts)
    const redis = yield* redisConnection(opts.redisUrl)
    const client = yield* VastClient

    // Callbacks can come before the waiter is registered: the book makes each session's Deferred on either side.
    const book = yield* makeCallbackBook()
    let redispatched = 0
    const callbacks = HttpRouter.empty.pipe(
      HttpRouter.post(
        "/closed",
        Effect.gen(function* () {
          const body = yield* HttpServerRequest.schemaBodyJson(ClosedSession)
          yield* book.received(body.session_id, body.close_reason)
          return json(200, { ok: true })
        }).pipe(Effect.catchAll(() => Effect.succeed(json(422, { error: "not a session callback" }))))
      )
    )
    const server = yield* Layer.build(
      serveApp(callbacks, "dispatcher callbacks", { announce: false }).pipe(
        Layer.provideMerge(serverLayer({ name: "dispatcher callbacks", host: opts.callbackHost, port: opts.callbackPort }))
      )
    ).pipe(
      Effect.catchTag("ServeError", (error) =>
        Effect.fail(new CallbacksNotListening({ message: `callbacks: ${listenFailure(error.cause, opts.callbackHost, opts.callbackPort, "--callback-port")}` }))
      )
    )
    const listening = yield* HttpServer.addressWith((a) =>
      Effect.succeed(a._tag === "TcpAddress" ? httpUrl(opts.callbackHost, a.port) : "")
    ).pipe(Effect.provide(server))
    const callbackBase = Option.getOrElse(opts.callbackUrl, () => listening).replace(/\/+$/, "")
    yield* Effect.logInfo(`callbacks: workers post to ${redactUrl(`${callbackBase}/closed`)} (listening on ${listening})`)
    // A wildcard address is where to listen, not where to be reached: a worker on another machine posting there posts
    // to itself. It works on one machine, which is why it is only said.
    if (Option.isNone(opts.callbackUrl) && /^(?:0\.0\.0\.0|::|\[::\])$/.test(opts.callbackHost)) {
      yield* Effect.logWarning(
        `--callback-host ${opts.callbackHost} listens on every address, but is no address workers can reach: give --callback-url with this machine's public address (workers elsewhere would post to themselves)`
      )
    }

    const endpoint = yield* client.findEndpoint(opts.endpoint)
    /** What routing said, in the client CLI's words (`#n`: the job's attempt): each refusal and failed route, the first wait. */
    const progressOf = (job: Job, attempt: number) => {
      let waited = false
      return (progress: ReserveProgress): Effect.Effect<void> => {
        if (progress._tag === "Routing" || (progress._tag === "Waiting" && waited)) return Effect.void
        waited ||= progress._tag === "Waiting"
        const line = Effect.map(Clock.currentTimeMillis, (now) => `${job.job_id}: ${printable(describe(progressEvent(attempt, progress), now))}`)
        return Effect.flatMap(line, (text) => (progress._tag === "Waiting" ? Effect.logInfo(text) : Effect.logWarning(text)))
      }
    }
    const runJob = (job: Job) =>
      Effect.gen(function* () {
        for (let attempt = 1; attempt <= opts.attempts; attempt++) {
          if (yield* redis.isDone(job.job_id)) {
            // Done by an earlier run or another dispatcher on this Redis (generated jobs are job-1 … job-N every run).
            yield* Effect.logInfo(`${job.job_id}: already done (${doneKey(job.job_id)} is set in Redis), skipped`)
            return "skipped" as const
          }
          const reserved = yield* Effect.either(
            client.reserve({
              endpoint,
              cost: 100,
              lifetime: opts.lifetime,
              onCloseRoute: `${callbackBase}/closed`,
              onClosePayload: { job_id: job.job_id },
              timeout: "120 seconds",
              onProgress: progressOf(job, attempt)
            })
          )
          if (reserved._tag === "Left") {
            const error = reserved.left
            yield* Effect.logWarning(`${job.job_id}: could not reserve a worker: ${error.message}`)
            // An untrusted certificate is this machine's setting: no other attempt can pass.
            if (error._tag === "RequestFailed" && error.untrusted === true) return "gave up" as const
            continue
          }
          const session = reserved.right
          // Stopped (Ctrl-C, SIGTERM) while it holds the session: the session is ended, not left to hold its worker until
          // its lifetime runs out. Its job is not done; a later run does it again.
          const endedOnStop = <A, E>(step: Effect.Effect<A, E>) =>
            Effect.onInterrupt(step, () =>
              Effect.zipRight(
                Effect.ignore(client.endSession(session)),
                Effect.logWarning(`${job.job_id}: stopped before it was done; session ${session.sessionId} ended`)
              )
            )
          const closed = yield* book.waitFor(session.sessionId)
          const bound = yield* endedOnStop(Effect.either(redis.bindJob(session.sessionId, job)))
          if (bound._tag === "Left") {
            // An error reply (out of memory, a replica made read-only by a failover): the worker is given back at once,
            // not held idle until its lifetime ends, and the job tried again after a pause, as a failed reservation is.
            yield* Effect.logWarning(`${job.job_id}: could not hand the job to session ${session.sessionId} (${bound.left.message}): ending it, trying again`)
            yield* Effect.ignore(client.endSession(session))
            yield* book.forget(session.sessionId)
            redispatched += 1
            yield* Effect.sleep("1 second")
            continue
          }
          yield* Effect.logInfo(`${job.job_id} → session ${session.sessionId} on ${session.url}`)
          const reason = yield* endedOnStop(
            Deferred.await(closed).pipe(
              Effect.timeout(Duration.seconds(opts.lifetime + 30)),
              Effect.orElseSucceed(() => "no callback")
            )
          )
          yield* book.forget(session.sessionId)
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

    const outcomes = yield* Effect.forEach(
      jobs,
      (job) => Effect.either(runJob(job)).pipe(Effect.tap((outcome) => (outcome._tag === "Left" ? Effect.logError(`${job.job_id}: ${outcome.left.message}`) : Effect.void))),
      { concurrency: opts.concurrency }
    )
    // Done counts the jobs found done before this run too (skipped): the run's work is `done - skipped`.
    const skipped = outcomes.filter((outcome) => outcome._tag === "Right" && outcome.right === "skipped").length
    const done = skipped + outcomes.filter((outcome) => outcome._tag === "Right" && outcome.right === "done").length
    yield* Effect.logInfo(`${done} of ${jobs.length} jobs done${skipped === 0 ? "" : ` (${skipped} of them before this run: skipped)`}`)
    const { duplicates, reasons } = book.counts()
    yield* Effect.sync(() =>
      process.stdout.write(
        `summary ${JSON.stringify({ jobs: jobs.length, done, skipped, callbacks: reasons, duplicate_callbacks: duplicates, redispatched })}\n`
      )
    )
    if (done !== jobs.length) return yield* new JobsUnfinished({ message: `${jobs.length - done} job(s) not done` })
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.unwrapEffect(
        Effect.map(
          Effect.flatMap(Effect.sync(() => process.env["VAST_API_KEY"]), (key) =>
            key === undefined
              ? Effect.as(Effect.logWarning('VAST_API_KEY is not set: using "local", the local serverless\'s key (Vast would answer 401)'), "local")
              : Effect.succeed(key)
          ),
          (apiKey) => VastClient.layer({ apiKey: Redacted.make(apiKey), webserverUrl: opts.webserverUrl, autoscalerUrl: opts.autoscalerUrl })
        )
      )
    )
  )
)

const cli = Command.run(dispatcher, { name: "redis example dispatcher", version: VERSION })
if (!answeredStandardFlags(process.argv.slice(2), "redis example dispatcher", help)) {
  const stoppedBy = rememberStopSignal()
  withOneLineErrors(runWithLogLevel(cli, process.argv), help).pipe(
    Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, plainLogfmt)),
    // The run's failure is said in one line, not with a stack (`describeCause`).
    Effect.tapErrorCause((cause) =>
      // A bad flag was said by the CLI parser already.
      Cause.isInterruptedOnly(cause) || Option.exists(Cause.failureOption(cause), ValidationError.isValidationError)
        ? Effect.void
        : Effect.logError(describeCause(Cause.map(cause, (error) => ({ _tag: error._tag, message: "message" in error ? String(error.message) : "" }))))
    ),
    // A stop by signal is said, with what was left undone, and exits 128 + the signal's number, as a shell reports it.
    Effect.onInterrupt(() => Effect.logWarning("interrupted: the sessions held were ended; jobs not done are left for a later run")),
    NodeRuntime.runMain({
      disablePrettyLogger: true,
      disableErrorReporting: true,
      teardown: (exit, onExit) => onExit(stoppedBy() ?? (Exit.isFailure(exit) ? 1 : 0))
    })
  )
}
