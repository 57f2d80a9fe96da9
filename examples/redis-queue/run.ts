/**
 * `npm run example:redis`: the typical setup on one machine. It starts a Redis server (persistent, on a
 * free port, in a temporary directory), the local serverless with this example's consumer beside every
 * worker, and the dispatcher with `--jobs` jobs; then it checks that every job is done exactly once and
 * that the workers scaled back to zero.
 */
import { fileURLToPath } from "node:url"
import { Command } from "@effect/cli"
import { Data, Deferred, Duration, Effect } from "effect"
import { WorkerLauncher } from "../../src/serverless/WorkerLauncher.js"
import { defaulted, optionsOf, renderHelp } from "../../src/shared/cliHelp.js"
import { wholeAtLeast } from "../../src/shared/numericFlags.js"
import { VERSION } from "../../src/shared/version.js"
import { runExample } from "../runExample.js"
import { startRedisServer } from "../redisServer.js"
import { exampleWorkspace } from "../workspace.js"

const dist = (file: string) => fileURLToPath(new URL(`../${file}`, import.meta.url))

/** How long the endpoint has to stop every worker once the jobs are done. */
const ZERO_WITHIN_MS = 30_000

class ExampleFailed extends Data.TaggedError("ExampleFailed")<{ readonly message: string }> {}

const flags = {
  jobs: defaulted(wholeAtLeast(1), { name: "jobs", value: "N", fallback: 20, description: "how many jobs the dispatcher runs" }),
  maxWorkers: defaulted(wholeAtLeast(1), { name: "max-workers", value: "N", fallback: 3, description: "the endpoint's max_workers" }),
  workMs: defaulted(wholeAtLeast(0), { name: "work-ms", value: "MS", fallback: 300, description: "simulated work per job" })
}
const options = optionsOf(flags)

const help = renderHelp({
  usage: ["npm run example:redis -- [options]   (node dist/examples/redis-example.js)"],
  summary: [
    "The Redis queue example on one machine: a Redis server, the local serverless with the example consumer beside",
    "every worker, and the dispatcher; it checks that every job is done exactly once and that the workers scale back",
    "to zero. Needs redis-server (Debian/Ubuntu: apt-get install redis-server)."
  ],
  flags: Object.values(flags).map((flag) => flag.help)
})

const example = Command.make("redis-example", options, (opts) =>
  Effect.gen(function* () {
    const launcher = yield* WorkerLauncher
    const say = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))
    const env = { PATH: process.env["PATH"] ?? "" }
    const dir = yield* exampleWorkspace("null-worker-redis-")

    const redisUrl = yield* startRedisServer(dir, ["--appendonly", "yes", "--save", ""], env)
    yield* say(`redis on ${redisUrl}`)

    const listening = yield* Deferred.make<string>()
    /** Workers started and not yet stopped, by the serverless's own lines. */
    const live = new Set<string>()
    /** Done whenever the last live worker stops; made anew once the jobs are done, so only a stop after them counts. */
    let noWorkers = yield* Deferred.make<void>()
    const serverless = yield* launcher.launch(
      {
        name: "serverless",
        command: process.execPath,
        args: [
          dist("serverless.js"), "--port", "0", "--recommended", "--inactivity-timeout", "2",
          "--max-workers", String(opts.maxWorkers), "--healthcheck-interval", "0.5",
          "--sidecar", `${JSON.stringify(process.execPath)} ${JSON.stringify(dist("examples/redis-consumer.js"))}`,
          "--sidecar-health", "/health"
        ],
        env: { ...env, REDIS_URL: redisUrl, WORK_MS: String(opts.workMs) }
      },
      (line) => {
        const url = /serverless listening on (http:\/\/[0-9.:]+)/.exec(line)?.[1]
        if (url !== undefined) Deferred.unsafeDone(listening, Effect.succeed(url))
        const change = /w(\d+) (starting|ready|stopping|stopped|died)/.exec(line)
        if (change === null) return
        if (change[2] === "starting") live.add(change[1]!)
        if (change[2] === "stopped" || change[2] === "died") live.delete(change[1]!)
        if (live.size === 0) Deferred.unsafeDone(noWorkers, Effect.void)
        process.stdout.write(`  serverless | ${line.replace(/^.*message="?/, "").replace(/"$/, "")}\n`)
      }
    )
    yield* Effect.addFinalizer(() => serverless.stop)
    const url = yield* Deferred.await(listening)
    yield* say(`local serverless on ${url} (status page: ${url}/)`)

    const dispatcher = yield* launcher.launch(
      {
        name: "dispatcher",
        command: process.execPath,
        args: [
          dist("examples/redis-dispatcher.js"), "--jobs", String(opts.jobs), "--autoscaler-url", url, "--webserver-url", url,
          "--redis-url", redisUrl, "--concurrency", String(opts.maxWorkers)
        ],
        env: { ...env, VAST_API_KEY: "local" }
      },
      (line) => process.stdout.write(`  dispatcher | ${line.replace(/^.*message="?/, "").replace(/"$/, "")}\n`)
    )
    // Stopped before the serverless (finalizers run last first): stopped after it, an interrupted dispatcher's last
    // polls would find nothing listening and say so.
    yield* Effect.addFinalizer(() => dispatcher.stop)
    const exit = yield* dispatcher.exited
    if (exit !== "0") return yield* new ExampleFailed({ message: `the dispatcher exited with ${exit}` })
    yield* say(`all ${opts.jobs} jobs done exactly once; waiting for the endpoint to scale back to zero`)
    // Each consumer releases its session; the endpoint stops a worker once it has been idle for the inactivity timeout
    // (2 s here): well within the 30 s given.
    noWorkers = yield* Deferred.make<void>()
    if (live.size === 0) yield* Deferred.succeed(noWorkers, undefined)
    yield* Deferred.await(noWorkers).pipe(
      Effect.timeoutFail({
        duration: Duration.millis(ZERO_WITHIN_MS),
        onTimeout: () => new ExampleFailed({ message: `${live.size} worker(s) still running ${ZERO_WITHIN_MS / 1000} s after the last job` })
      })
    )
    yield* say("scaled back to zero workers")
  }).pipe(Effect.scoped)
)

runExample("redis example", help, Command.run(example, { name: "redis example", version: VERSION }))
