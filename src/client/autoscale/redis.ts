/**
 * Redis for the autoscaler and its consumers: one ioredis connection as a scoped resource, and commands
 * as Effects whose replies are decoded with a Schema (a reply is external input like any other).
 *
 * The connection is set up to fail fast rather than wait: `maxRetriesPerRequest: 0` makes ioredis
 * reject the commands queued or in flight whenever the connection drops (instead of holding them, or
 * resending them, which could run a write twice behind our back), and every call has a timeout. The
 * callers retry with a back-off of their own; ioredis keeps reconnecting underneath.
 */
import { Data, Duration, Effect, ParseResult, Schema, type Scope } from "effect"
import type { Redis } from "ioredis"
import { redactUrl } from "../../shared/redactUrl.js"
import { redisErrorText } from "../../shared/redisErrorText.js"

/** A Redis command failed, timed out, or answered something its caller cannot read. */
export class RedisFailed extends Data.TaggedError("RedisFailed")<{ readonly command: string; readonly detail: string }> {
  override get message() {
    return `redis ${this.command}: ${this.detail}`
  }
}

export type RedisArg = string | number

export interface RedisConnection {
  /** Run `command args…` and decode the reply with `schema`; fails after `timeout` (default 5 s). */
  readonly call: <A, I>(
    schema: Schema.Schema<A, I>,
    command: string,
    args: ReadonlyArray<RedisArg>,
    timeout?: Duration.DurationInput
  ) => Effect.Effect<A, RedisFailed>
  /** `EVAL script` with `keys` and `args`, reply decoded with `schema`. */
  readonly eval: <A, I>(
    schema: Schema.Schema<A, I>,
    name: string,
    script: string,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<RedisArg>
  ) => Effect.Effect<A, RedisFailed>
  /** True while the connection is up. */
  readonly ready: Effect.Effect<boolean>
}

const DEFAULT_TIMEOUT = Duration.seconds(5)

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** ioredis's words for a command refused while it has no connection (`maxRetriesPerRequest: 0`). */
const NOT_CONNECTED = /max retries per request limit|Connection is closed|Stream isn't writeable/

const decodeFailure = (command: string) => (error: ParseResult.ParseError) =>
  new RedisFailed({ command, detail: `unexpected reply: ${ParseResult.TreeFormatter.formatErrorSync(error).slice(0, 300)}` })

/** A connection to `url`, closed with the scope. It connects in the background and reconnects by itself. */
export const connectRedis = (url: string): Effect.Effect<RedisConnection, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      // Loaded on first use: the client's other commands start without evaluating ioredis.
      Effect.map(Effect.promise(() => import("ioredis")), (ioredis): Redis & { readonly lastError: () => string } => {
        const redis = new ioredis.Redis(url, {
          maxRetriesPerRequest: 0,
          retryStrategy: (attempt) => Math.min(100 * attempt, 1000)
        })
        // Errors are seen through the failed commands; an unhandled 'error' event would end the process. The last
        // one says why there is no connection, which ioredis's refusal of a command does not.
        let lastError = ""
        redis.on("error", (error: Error) => {
          // ioredis also emits its refusal of the queued commands; that says nothing of the connection.
          if (!NOT_CONNECTED.test(error.message)) lastError = redisErrorText(error.message)
        })
        return Object.assign(redis, { lastError: () => lastError })
      }),
      (redis) => Effect.sync(() => redis.disconnect())
    ),
    (redis): RedisConnection => {
      const detailOf = (error: unknown): string => {
        const text = describe(error)
        const plain = redisErrorText(text)
        // A peer that is not Redis fails the command itself: said as the connection it is not.
        if (plain !== text) return `no connection to ${redactUrl(url)} (${plain})`
        if (!NOT_CONNECTED.test(text)) return text
        const why = redis.lastError()
        return `no connection to ${redactUrl(url)}${why === "" ? "" : ` (${why})`}`
      }
      // Interruptible, or the timeout cannot end a call made from a finalizer (releasing ownership, leaving the
      // group at a stop): against a Redis that never answers, the stop would hang for ever.
      const raw = (command: string, args: ReadonlyArray<RedisArg>, timeout: Duration.DurationInput) =>
        Effect.interruptible(
          Effect.tryPromise({
            try: () => redis.call(command, ...args),
            catch: (error) => new RedisFailed({ command, detail: detailOf(error) })
          })
        ).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new RedisFailed({ command, detail: `no answer within ${Duration.format(Duration.decode(timeout))}` })
          })
        )
      return {
        call: (schema, command, args, timeout = DEFAULT_TIMEOUT) =>
          Effect.flatMap(raw(command, args, timeout), (reply) =>
            Effect.mapError(Schema.decodeUnknown(schema)(reply), decodeFailure(command))
          ),
        eval: (schema, name, script, keys, args) =>
          Effect.flatMap(raw("EVAL", [script, keys.length, ...keys, ...args], DEFAULT_TIMEOUT), (reply) =>
            Effect.mapError(Schema.decodeUnknown(schema)(reply), decodeFailure(name))
          ).pipe(Effect.mapError((error) => (error.command === "EVAL" ? new RedisFailed({ command: name, detail: error.detail }) : error))),
        ready: Effect.sync(() => redis.status === "ready")
      }
    }
  )

/** A reply that is an integer. */
export const IntegerReply = Schema.Int
/** `OK`, or null when a conditional write (`SET NX`) did not happen. */
export const OkReply = Schema.NullOr(Schema.String)
