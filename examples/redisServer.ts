/**
 * The examples' own `redis-server`, on a free port with its files in `dir`. It runs under the local serverless's
 * sidecar runner (`dist/sidecar.js`), which stops it when the example is gone: a runner killed outright (`kill -9`)
 * would otherwise leave it running for good.
 */
import { fileURLToPath } from "node:url"
import { Data, Deferred, Effect, type Scope } from "effect"
import { WorkerLauncher } from "../src/serverless/WorkerLauncher.js"

export class RedisNotStarted extends Data.TaggedError("RedisNotStarted")<{ readonly message: string }> {}

const sidecarJs = fileURLToPath(new URL("../sidecar.js", import.meta.url))

/** `text` as one word for `sh`. */
const shellWord = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`

/** Started and answering, or why not (not installed: said with the fix); stopped with the scope. */
export const startRedisServer = (
  dir: string,
  extraArgs: ReadonlyArray<string>,
  env: Record<string, string>
): Effect.Effect<string, RedisNotStarted, WorkerLauncher | Scope.Scope> =>
  Effect.gen(function* () {
    const launcher = yield* WorkerLauncher
    const port = yield* launcher.freePort
    const ready = yield* Deferred.make<void>()
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, ...extraArgs]
    const command = `exec redis-server ${args.map(shellWord).join(" ")}`
    const redis = yield* launcher.launch({ name: "redis", command: process.execPath, args: [sidecarJs, command], env }, (line) => {
      if (line.includes("Ready to accept connections")) Deferred.unsafeDone(ready, Effect.void)
    })
    yield* Effect.addFinalizer(() => redis.stop)
    const exitedEarly = redis.exited.pipe(
      Effect.zip(redis.tail),
      Effect.flatMap(([status, tail]) => {
        const last = tail.at(-1) ?? `exit ${status}`
        return new RedisNotStarted({
          message: /not found/.test(last) ? "redis-server was not found: install it (Debian/Ubuntu: apt-get install redis-server)" : `redis-server did not start: ${last}`
        })
      })
    )
    yield* Deferred.await(ready).pipe(
      Effect.raceFirst(exitedEarly),
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new RedisNotStarted({ message: "redis-server did not start within 10 s" }) })
    )
    return `redis://127.0.0.1:${port}`
  }).pipe(Effect.catchTag("LaunchError", (error) => Effect.fail(new RedisNotStarted({ message: `redis-server could not be started: ${error.message}` }))))
