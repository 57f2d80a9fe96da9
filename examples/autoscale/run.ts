/**
 * `npm run example:autoscale`: queue-depth autoscaling on one machine, checked. It starts a Redis server
 * (on a free port, in a temporary directory), the local serverless with the recommended settings and
 * this example's consumer beside every worker, and the autoscale daemon (`node dist/client.js autoscale`)
 * on the stream `jobs`. It pushes `--jobs` jobs of random `--min-ms`…`--max-ms` work in two bursts (the
 * second `--burst-gap` seconds after the first is done), kills one consumer with SIGKILL in the middle of
 * a job, and prints the scaling timeline. It ends with one JSON line:
 *
 *   {"jobs", "done", "duplicates", "lost", "peak_workers", "workers_left", "killed_consumers", "worker_seconds", "seconds",
 *    "workers_started", "routes"}
 *
 * `done`: jobs with a stored result; `duplicates`: jobs finished more than once; `lost`: jobs without a
 * result; `worker_seconds`: the sum of every worker process's lifetime; `seconds`: from the first job
 * pushed to the last one done; `workers_started`: workers the serverless started; `routes`: reservations routed to a
 * worker. Then it runs the same jobs, in the same two bursts, through the one-reservation-per-job example
 * (examples/redis-queue), prints its line, and a line saying what the two show. It exits 0
 * only when every job was done exactly once, nothing was lost, the endpoint went back to zero workers,
 * the daemon stopped cleanly, and the comparison did every job too.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Command } from "@effect/cli"
import { Clock, Data, Deferred, Duration, Effect, Option, Queue, Random, Schema } from "effect"
import { completionsKey, resultsKey } from "../../src/client/autoscale/keys.js"
import { connectRedis, IntegerReply, type RedisConnection } from "../../src/client/autoscale/redis.js"
import { type RunningProcess, WorkerLauncher } from "../../src/serverless/WorkerLauncher.js"
import { defaulted, optionsOf, renderHelp, toggle } from "../../src/shared/cliHelp.js"
import { above0, from0, wholeAtLeast } from "../../src/shared/numericFlags.js"
import { VERSION } from "../../src/shared/version.js"
import { runExample } from "../runExample.js"
import { startRedisServer } from "../redisServer.js"
import { exampleWorkspace } from "../workspace.js"

const dist = (file: string) => fileURLToPath(new URL(`../${file}`, import.meta.url))

class ExampleFailed extends Data.TaggedError("ExampleFailed")<{ readonly message: string }> {}

const flags = {
  jobs: defaulted(wholeAtLeast(2), { name: "jobs", value: "N", fallback: 120, description: "how many jobs, in two bursts" }),
  minMs: defaulted(wholeAtLeast(0), { name: "min-ms", value: "MS", fallback: 200, description: "shortest job" }),
  maxMs: defaulted(wholeAtLeast(0), { name: "max-ms", value: "MS", fallback: 2000, description: "longest job (at least --min-ms)" }),
  maxWorkers: defaulted(wholeAtLeast(1), { name: "max-workers", value: "N", fallback: 6, description: "the endpoint's max_workers and the daemon's --max" }),
  jobsPerWorker: defaulted(wholeAtLeast(1), { name: "jobs-per-worker", value: "N", fallback: 4, description: "the daemon's --jobs-per-worker" }),
  burstGap: defaulted(from0, { name: "burst-gap", value: "SECONDS", fallback: 4, description: "between the first burst done and the second pushed" }),
  seed: defaulted(wholeAtLeast(0), { name: "seed", value: "N", fallback: 14, description: "seed of the job durations" }),
  noKill: toggle("no-kill", "do not kill a consumer mid-job"),
  noCompare: toggle("no-compare", "skip the one-reservation-per-job comparison"),
  timeout: defaulted(above0, { name: "timeout", value: "SECONDS", fallback: 240, description: "give up after this long" })
}
const options = optionsOf(flags)

const help = renderHelp({
  usage: ["npm run example:autoscale -- [options]   (node dist/examples/autoscale-example.js)"],
  summary: [
    "Queue-depth autoscaling on one machine, checked: a Redis server, the local serverless with the example consumer",
    "beside every worker, and the autoscale daemon on the stream jobs. Pushes --jobs jobs in two bursts, kills one",
    "consumer mid-job, prints the scaling timeline and one JSON line of results, then compares with one reservation",
    "per job and says what the two runs show. Needs redis-server (Debian/Ubuntu: apt-get install redis-server)."
  ],
  flags: Object.values(flags).map((flag) => flag.help)
})

/** Timings of the example's consumers and daemon: short, so that the run takes a minute or two. */
const IDLE_GRACE = 1
const CLAIM_MIN_IDLE = 3
const INACTIVITY_TIMEOUT = 2
const COOLDOWN = 3

interface Job {
  readonly job_id: string
  readonly work_ms: number
}

/** A line of the daemon's `--json` output: the fields the timeline shows. */
const DaemonEvent = Schema.parseJson(
  Schema.Struct({
    event: Schema.String,
    waiting: Schema.optional(Schema.NullOr(Schema.Number)),
    in_flight: Schema.optional(Schema.NullOr(Schema.Number)),
    desired: Schema.optional(Schema.NullOr(Schema.Number)),
    target: Schema.optional(Schema.Number),
    held: Schema.optional(Schema.Number),
    reserving: Schema.optional(Schema.Number),
    reservation: Schema.optional(Schema.Number),
    url: Schema.optional(Schema.String),
    reason: Schema.optional(Schema.String),
    message: Schema.optional(Schema.String),
    operation: Schema.optional(Schema.String)
  })
)
const decodeDaemonEvent = Schema.decodeUnknownOption(DaemonEvent)

/**
 * A reservation's event as the timeline says it, with the worker it is on when the serverless named it: `#3 created on
 * w2 (http://…)`, `#3 (w2) closed: released`, `#4 error: route: …`.
 */
const reservationLine = (e: Schema.Schema.Type<typeof DaemonEvent>, worker: string | undefined): string => {
  const reservation = `#${e.reservation ?? "-"}`
  switch (e.event) {
    case "created":
      return `${reservation} created on ${worker === undefined ? e.url : `${worker} (${e.url})`}`
    case "error":
      return `${reservation}${worker === undefined ? "" : ` (${worker})`} error: ${e.operation}: ${e.message}`
    default:
      return `${reservation}${worker === undefined ? "" : ` (${worker})`} ${e.event}: ${e.reason ?? ""}`
  }
}

/** A line a consumer printed (through the serverless' `--verbose`): `[w3/sidecar] {json}`. */
const ConsumerLine = Schema.parseJson(
  Schema.Struct({
    event: Schema.String,
    pid: Schema.Number,
    job: Schema.optional(Schema.String),
    work_ms: Schema.optional(Schema.Number),
    reclaimed: Schema.optional(Schema.Boolean),
    outcome: Schema.optional(Schema.String)
  })
)
const decodeConsumerLine = Schema.decodeUnknownOption(ConsumerLine)

const message = (line: string) => line.replace(/^.*message="?/, "").replace(/"$/, "")

/** Workers as the serverless' log shows them: when each started and stopped. */
interface WorkerTally {
  readonly started: Map<number, number>
  readonly stopped: Map<number, number>
  /** Started and not yet stopping. */
  readonly live: Set<number>
  /** Stopping (a drain and its last report), not yet stopped. */
  readonly stopping: Set<number>
  peak: number
  /** Reservations routed to a worker (each one a route and a create; a full worker's 429 routes again). */
  routes: number
  /** Each worker's name by its URL, so that the daemon's lines (which know URLs) name the worker the timeline shows. */
  readonly named: Map<string, string>
}

const newTally = (): WorkerTally => ({ started: new Map(), stopped: new Map(), live: new Set(), stopping: new Set(), peak: 0, routes: 0, named: new Map() })

const workerSeconds = (tally: WorkerTally, now: number): number =>
  [...tally.started].reduce((sum, [id, at]) => sum + ((tally.stopped.get(id) ?? now) - at) / 1000, 0)

const round1 = (value: number) => Math.round(value * 10) / 10

interface RunFigures {
  readonly seconds: number
  readonly worker_seconds: number
  readonly workers_started: number
  readonly routes: number
}

const figures = (run: RunFigures) =>
  `${run.seconds} s, ${run.worker_seconds} worker-seconds, ${run.workers_started} worker starts, ${run.routes} routes`

/**
 * What the two runs' figures say, in one line. Here a worker starts in about a second, so time and worker-seconds come
 * out close (docs/autoscale.md); the starts and routes are what each model pays per job, and on Vast a start is a
 * cold start of minutes.
 */
const verdict = (held: RunFigures, perJob: RunFigures): string => {
  /** `2.5× as often`; a ratio of 1 reads `as often` alone. */
  const compared = (a: number, b: number, what: string) => {
    if (b <= 0) return `— ${what}`
    const times = round1(a / b)
    return times === 1 ? what : `${times}× ${what}`
  }
  return [
    `comparison: held workers ${figures(held)}; one reservation per job ${figures(perJob)}.`,
    `One reservation per job routed ${compared(perJob.routes, held.routes, "as often")} and started ${compared(perJob.workers_started, held.workers_started, "as many workers")};`,
    "on one machine a start takes about a second, so the times are close, while on Vast each start of a scaled-down worker is a cold start of minutes."
  ].join(" ")
}

const example = Command.make("autoscale-example", options, (opts) =>
  Effect.gen(function* () {
    const launcher = yield* WorkerLauncher
    const t0 = yield* Clock.currentTimeMillis
    const stamp = Effect.map(Clock.currentTimeMillis, (now) => `[${((now - t0) / 1000).toFixed(1).padStart(6)} s]`)
    const say = (text: string) => Effect.flatMap(stamp, (at) => Effect.sync(() => process.stdout.write(`${at} ${text}\n`)))
    const env = { PATH: process.env["PATH"] ?? "" }
    const deadline = t0 + opts.timeout * 1000
    const untilTrue = (what: string, check: Effect.Effect<boolean>, every: Duration.DurationInput = "200 millis") =>
      Effect.gen(function* () {
        while (!(yield* check)) {
          if ((yield* Clock.currentTimeMillis) > deadline) return yield* new ExampleFailed({ message: `timed out waiting for ${what}` })
          yield* Effect.sleep(every)
        }
      })

    if (opts.maxMs < opts.minMs) return yield* new ExampleFailed({ message: "--max-ms must be at least --min-ms" })
    const dir = yield* exampleWorkspace("null-worker-autoscale-")

    // Redis.
    const redisUrl = yield* startRedisServer(dir, ["--save", ""], env)
    const redis: RedisConnection = yield* connectRedis(redisUrl)
    yield* say(`redis on ${redisUrl}`)

    // The jobs, the same for both runs.
    const jobs: ReadonlyArray<Job> = yield* Effect.withRandom(
      Effect.forEach(Array.from({ length: opts.jobs }, (_, i) => i), (i) =>
        Effect.map(Random.nextIntBetween(opts.minMs, opts.maxMs + 1), (workMs) => ({ job_id: `job-${i + 1}`, work_ms: workMs }))
      ),
      Random.make(opts.seed)
    )
    const firstBurst = jobs.slice(0, Math.ceil(jobs.length / 2))
    const secondBurst = jobs.slice(firstBurst.length)
    const totalMs = jobs.reduce((sum, job) => sum + job.work_ms, 0)
    yield* say(`${jobs.length} jobs (${firstBurst.length} + ${secondBurst.length}), ${round1(totalMs / 1000)} s of work in all`)

    /** The local serverless with `sidecar` beside each worker; its worker lines feed `tally`. */
    const startServerless = (sidecar: string, tally: WorkerTally, extraEnv: Record<string, string>, label: string) =>
      Effect.gen(function* () {
        const lines = yield* Queue.unbounded<string>()
        const listening = yield* Deferred.make<string>()
        const serverless = yield* launcher.launch(
          {
            name: `serverless (${label})`,
            command: process.execPath,
            args: [
              dist("serverless.js"), "--port", "0", "--recommended", "--inactivity-timeout", String(INACTIVITY_TIMEOUT),
              "--max-workers", String(opts.maxWorkers), "--healthcheck-interval", "0.5", "--tick", "0.1",
              "--sidecar", sidecar, "--sidecar-health", "/health", "--verbose"
            ],
            env: { ...env, REDIS_URL: redisUrl, ...extraEnv }
          },
          (line) => {
            const url = /serverless listening on (http:\/\/[0-9.:]+)/.exec(line)?.[1]
            if (url !== undefined) Deferred.unsafeDone(listening, Effect.succeed(url))
            Queue.unsafeOffer(lines, line)
          }
        )
        const url = yield* Deferred.await(listening)
        return { serverless, url, lines }
      })

    /** Worker starts and stops, from the serverless' own lines (not its workers'). */
    const trackWorker = (tally: WorkerTally, line: string, now: number): Option.Option<string> => {
      if (line.startsWith("[")) return Option.none()
      const text = message(line)
      if (/^request \d+ → w\d+$/.test(text)) tally.routes += 1
      const found = /^w(\d+) (starting|stopping|stopped|died)(?: on (\S+))?/.exec(text)
      if (found === null) return Option.none()
      const id = Number(found[1])
      if (found[2] === "starting") {
        // A freed port may be the next worker's: the latest worker started on a URL names it.
        const url = found[3]
        if (url !== undefined) tally.named.set(url, `w${id}`)
        tally.started.set(id, now)
        tally.live.add(id)
        tally.peak = Math.max(tally.peak, tally.live.size)
      } else if (found[2] === "stopping") {
        tally.live.delete(id)
        tally.stopping.add(id)
      } else {
        // Stopped, or died: gone either way.
        tally.live.delete(id)
        tally.stopping.delete(id)
        tally.stopped.set(id, now)
      }
      const stopping = tally.stopping.size > 0 ? `, ${tally.stopping.size} stopping` : ""
      return Option.some(`${text}   (workers: ${tally.live.size}${stopping})`)
    }

    const countResults = redis.call(IntegerReply, "HLEN", [resultsKey("jobs")]).pipe(Effect.orElseSucceed(() => 0))

    // ── Run 1: the autoscale daemon and its consumers ───────────────────────────────────────────────
    yield* say("── queue-depth autoscaling: one stream, consumers beside up to " + `${opts.maxWorkers} workers, the daemon holding N = ceil(backlog / ${opts.jobsPerWorker})`)
    const tally = newTally()
    const first = yield* startServerless(
      `${JSON.stringify(process.execPath)} ${JSON.stringify(dist("examples/autoscale-consumer.js"))}`,
      tally,
      { AUTOSCALE_STREAM: "jobs", IDLE_GRACE: String(IDLE_GRACE), CLAIM_MIN_IDLE: String(CLAIM_MIN_IDLE) },
      "autoscale"
    )
    yield* Effect.addFinalizer(() => first.serverless.stop)
    yield* say(`local serverless on ${first.url} (status page: ${first.url}/)`)

    const daemonLines = yield* Queue.unbounded<string>()
    const daemon: RunningProcess = yield* launcher.launch(
      {
        name: "daemon",
        command: process.execPath,
        args: [
          dist("client.js"), "autoscale", "--autoscaler-url", first.url, "--webserver-url", first.url, "--endpoint", "null-local",
          "--redis-url", redisUrl, "--stream", "jobs", "--group", "workers", "--max", String(opts.maxWorkers),
          "--jobs-per-worker", String(opts.jobsPerWorker), "--cooldown", String(COOLDOWN), "--interval", "0.5", "--lease", "2",
          "--lifetime", "10", "--ping-interval", "1", "--scale-out-step", "3", "--scale-out-window", "1", "--json"
        ],
        env: { ...env, VAST_API_KEY: "local" }
      },
      (line) => Queue.unsafeOffer(daemonLines, line)
    )
    yield* Effect.addFinalizer(() => daemon.stop)

    const killThreshold = opts.minMs + 0.6 * (opts.maxMs - opts.minMs)
    const killAfter = Math.max(2, Math.floor(jobs.length / 10))
    let killed = 0
    let done = 0
    let lastDecision = ""
    const daemonReady = yield* Deferred.make<void>()
    // The timeline: the daemon's decisions and sessions, the workers, the consumers' releases, the kill.
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const line = yield* Queue.take(daemonLines)
          const event = decodeDaemonEvent(line)
          if (Option.isNone(event)) return yield* say(`daemon | ${line}`)
          const e = event.value
          if (e.event === "scale") {
            yield* Deferred.succeed(daemonReady, undefined)
            const decision = `backlog ${e.waiting ?? "?"} waiting + ${e.in_flight ?? "?"} in flight → N = ${e.desired ?? "?"} (kept ${e.target}); held ${e.held}${(e.reserving ?? 0) > 0 ? ` + ${e.reserving} reserving` : ""}`
            const shape = `${e.desired}/${e.target}/${e.held}/${e.reserving}`
            if (shape !== lastDecision) yield* say(`daemon | ${decision}`)
            lastDecision = shape
          } else if (e.event === "created" || e.event === "closed" || e.event === "error" || e.event === "adopted") {
            yield* say(`daemon | ${reservationLine(e, e.url === undefined ? undefined : tally.named.get(e.url))}`)
          }
        })
      )
    )
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const line = yield* Queue.take(first.lines)
          const now = yield* Clock.currentTimeMillis
          const worker = trackWorker(tally, line, now)
          if (Option.isSome(worker)) return yield* say(`serverless | ${worker.value}`)
          const sidecar = /^\[w(\d+)\/sidecar\] (\{.*\})$/.exec(line)
          if (sidecar === null) return
          const entry = decodeConsumerLine(sidecar[2])
          if (Option.isNone(entry)) return
          const c = entry.value
          if (c.event === "job-done") done += 1
          if (c.event === "working" && c.reclaimed === true) yield* say(`consumer w${sidecar[1]} | re-claimed ${c.job} from a dead consumer`)
          if (c.event === "released") yield* say(`consumer w${sidecar[1]} | no job for its idle grace: released its worker`)
          if (c.event === "job-done" && c.outcome !== "stored") yield* say(`consumer w${sidecar[1]} | ${c.job}: ${c.outcome}`)
          // One consumer, well into the run, killed in the middle of one of the longer jobs.
          if (!opts.noKill && killed === 0 && done >= killAfter && c.event === "working" && (c.work_ms ?? 0) >= killThreshold) {
            killed = 1
            const pid = c.pid
            yield* Effect.forkScoped(
              Effect.gen(function* () {
                yield* Effect.sleep(Duration.millis(Math.min(300, (c.work_ms ?? 0) / 3)))
                yield* Effect.sync(() => process.kill(pid, "SIGKILL"))
                yield* say(`consumer w${sidecar[1]} | killed (SIGKILL) in the middle of ${c.job}`)
              })
            )
          }
        })
      )
    )

    yield* Deferred.await(daemonReady).pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new ExampleFailed({ message: "the daemon did not start" }) })
    )
    const push = (burst: ReadonlyArray<Job>) =>
      Effect.forEach(burst, (job) => redis.call(Schema.String, "XADD", ["jobs", "*", "job_id", job.job_id, "work_ms", job.work_ms]), { discard: true })
    const firstPushAt = yield* Clock.currentTimeMillis
    yield* push(firstBurst)
    yield* say(`pushed ${firstBurst.length} jobs`)
    yield* untilTrue("the first burst", Effect.map(countResults, (n) => n >= firstBurst.length))
    yield* say(`first burst done; the second in ${opts.burstGap} s`)
    yield* Effect.sleep(Duration.seconds(opts.burstGap))
    yield* push(secondBurst)
    yield* say(`pushed ${secondBurst.length} jobs`)
    yield* untilTrue("every job", Effect.map(countResults, (n) => n >= jobs.length))
    const lastDoneAt = yield* Clock.currentTimeMillis
    yield* say("every job done; waiting for the endpoint to scale back to zero")
    // Cool-down, idle grace, a ping to see the release, inactivity timeout, stop: well under 20 s.
    const zeroBy = (yield* Clock.currentTimeMillis) + 20_000
    yield* untilTrue("zero workers", Effect.map(Clock.currentTimeMillis, (now) => tally.live.size === 0 || now > zeroBy))
    const workersLeft = tally.live.size
    const stoppedAt = yield* Clock.currentTimeMillis
    yield* daemon.stop
    const daemonExit = yield* daemon.exited
    yield* first.serverless.stop

    const flatCompletions = yield* redis.call(Schema.Array(Schema.String), "HGETALL", [completionsKey("jobs")]).pipe(Effect.orElseSucceed(() => []))
    const completions = flatCompletions.filter((_, index) => index % 2 === 1).map(Number)
    const results = yield* countResults
    const summary = {
      jobs: jobs.length,
      done: results,
      duplicates: completions.filter((n) => n > 1).length,
      lost: jobs.length - results,
      peak_workers: tally.peak,
      workers_left: workersLeft,
      killed_consumers: killed,
      worker_seconds: round1(workerSeconds(tally, stoppedAt)),
      seconds: round1((lastDoneAt - firstPushAt) / 1000),
      workers_started: tally.started.size,
      routes: tally.routes
    }
    yield* say(`daemon exited with ${daemonExit}`)
    process.stdout.write(`${JSON.stringify(summary)}\n`)

    // ── Run 2: the same jobs, one reservation per job (examples/redis-queue) ────────────────────────
    let comparisonDone = jobs.length
    if (!opts.noCompare) {
      yield* redis.call(Schema.String, "FLUSHALL", [])
      yield* say(`── the same jobs, one reservation per job (examples/redis-queue), at most ${opts.maxWorkers} at a time`)
      const files = [firstBurst, secondBurst].map((burst, index) => {
        const path = join(dir, `burst-${index + 1}.json`)
        writeFileSync(path, JSON.stringify(burst.map((job) => ({ job_id: job.job_id, input: job.job_id, work_ms: job.work_ms }))))
        return path
      })
      const perJob = newTally()
      const second = yield* startServerless(
        `${JSON.stringify(process.execPath)} ${JSON.stringify(dist("examples/redis-consumer.js"))}`,
        perJob,
        {},
        "per job"
      )
      yield* Effect.addFinalizer(() => second.serverless.stop)
      yield* Effect.forkScoped(
        Effect.forever(
          Effect.gen(function* () {
            const line = yield* Queue.take(second.lines)
            const worker = trackWorker(perJob, line, yield* Clock.currentTimeMillis)
            if (Option.isSome(worker)) yield* say(`serverless | ${worker.value}`)
          })
        )
      )
      const dispatch = (file: string) =>
        Effect.gen(function* () {
          const dispatcher = yield* launcher.launch(
            {
              name: "dispatcher",
              command: process.execPath,
              args: [
                dist("examples/redis-dispatcher.js"), "--jobs-file", file, "--autoscaler-url", second.url, "--webserver-url", second.url,
                "--redis-url", redisUrl, "--concurrency", String(opts.maxWorkers)
              ],
              env: { ...env, VAST_API_KEY: "local" }
            },
            () => undefined
          )
          // Stopped before the serverless it routes through (finalizers run last first).
          return yield* dispatcher.exited.pipe(Effect.onInterrupt(() => dispatcher.stop))
        })
      const startedAt = yield* Clock.currentTimeMillis
      const firstExit = yield* dispatch(files[0] ?? "")
      yield* say(`first burst done (dispatcher exit ${firstExit}); the second in ${opts.burstGap} s`)
      yield* Effect.sleep(Duration.seconds(opts.burstGap))
      const secondExit = yield* dispatch(files[1] ?? "")
      const finishedAt = yield* Clock.currentTimeMillis
      yield* say(`second burst done (dispatcher exit ${secondExit}); waiting for zero workers`)
      const zeroAt = (yield* Clock.currentTimeMillis) + 20_000
      yield* untilTrue("zero workers", Effect.map(Clock.currentTimeMillis, (now) => perJob.live.size === 0 || now > zeroAt))
      const endAt = yield* Clock.currentTimeMillis
      yield* second.serverless.stop
      const doneKeys = yield* redis.call(Schema.Array(Schema.String), "KEYS", ["done:*"]).pipe(Effect.orElseSucceed(() => []))
      comparisonDone = doneKeys.length
      const comparison = {
        comparison: "one-reservation-per-job",
        jobs: jobs.length,
        done: comparisonDone,
        peak_workers: perJob.peak,
        workers_left: perJob.live.size,
        worker_seconds: round1(workerSeconds(perJob, endAt)),
        seconds: round1((finishedAt - startedAt) / 1000),
        workers_started: perJob.started.size,
        routes: perJob.routes
      }
      process.stdout.write(`${JSON.stringify(comparison)}\n`)
      yield* say(verdict(summary, comparison))
    }

    const problems = [
      summary.done !== summary.jobs ? `${summary.jobs - summary.done} job(s) not done` : "",
      summary.duplicates > 0 ? `${summary.duplicates} job(s) done more than once` : "",
      summary.lost > 0 ? `${summary.lost} job(s) lost` : "",
      summary.workers_left > 0 ? `${summary.workers_left} worker(s) left running` : "",
      summary.killed_consumers !== (opts.noKill ? 0 : 1) ? "no consumer was killed mid-job" : "",
      daemonExit !== "0" ? `the daemon exited with ${daemonExit}` : "",
      comparisonDone !== jobs.length ? `the one-reservation-per-job run did ${comparisonDone} of ${jobs.length} jobs` : ""
    ].filter((problem) => problem !== "")
    if (problems.length > 0) return yield* new ExampleFailed({ message: problems.join("; ") })
    yield* say("autoscale example OK: every job done exactly once, nothing lost, back to zero workers")
  }).pipe(Effect.scoped)
)

runExample("autoscale example", help, Command.run(example, { name: "autoscale example", version: VERSION }))
