/**
 * A consumer's side of a Redis stream with a consumer group: new jobs with `XREADGROUP`, jobs of a
 * crashed consumer with `XAUTOCLAIM` (pending longer than a minimum idle time), and completion as one
 * script that stores the result (`HSETNX`) and acknowledges the entry (`XACK`) together, so a job is
 * never acknowledged without its result, nor stored twice.
 *
 * While a consumer works on a job it refreshes the entry's idle time (`XCLAIM … JUSTID` to itself, only
 * while it still owns it): a live consumer's job is never re-claimed however long it takes, and a dead
 * consumer's job is, once the minimum idle time has passed.
 */
import { Context, Duration, Effect, Layer, Option, Ref, Schema } from "effect"
import { autoscaleKeys, completionsKey, resultsKey } from "./keys.js"
import { IntegerReply, type RedisConnection, type RedisFailed } from "./redis.js"

export interface StreamJob {
  /** The stream entry id. */
  readonly id: string
  /** The job's identity: its `job_id` field (or the configured one), else the entry id. */
  readonly key: string
  readonly fields: Readonly<Record<string, string>>
  /** True when it was taken over from another consumer's pending entries. */
  readonly reclaimed: boolean
}

/**
 * `stored`: result stored and entry acknowledged. `duplicate`: a result was there already (the job had
 * run before); acknowledged. `not-mine`: another consumer took the entry over meanwhile; nothing stored,
 * it will. `gone`: the entry was no longer pending (acknowledged by an earlier try of this call).
 */
export type CompleteOutcome = "stored" | "duplicate" | "not-mine" | "gone"

export interface JobStreamSettings {
  readonly stream: string
  readonly group: string
  /** This consumer's name in the group: unique per process. */
  readonly consumer: string
  /** The daemon's key prefix (its keep lease). */
  readonly prefix: string
  /** The field that names a job. */
  readonly jobKeyField: string
}

export class JobStream extends Context.Tag("autoscale/JobStream")<
  JobStream,
  {
    /** Create the group (at id 0, with the stream) unless it exists. */
    readonly ensureGroup: Effect.Effect<void, RedisFailed>
    /** One entry pending longer than `minIdle` with any consumer, now ours. */
    readonly claimStale: (minIdle: Duration.Duration) => Effect.Effect<Option.Option<StreamJob>, RedisFailed>
    /** One new entry, waiting up to `block` for it. */
    readonly readNew: (block: Duration.Duration) => Effect.Effect<Option.Option<StreamJob>, RedisFailed>
    /** Reset the entry's idle time while we own it; false when we do not any more. */
    readonly refresh: (job: StreamJob) => Effect.Effect<boolean, RedisFailed>
    /** Store `result` and acknowledge, atomically. */
    readonly complete: (job: StreamJob, result: string) => Effect.Effect<CompleteOutcome, RedisFailed>
    /** Whether the daemon's keep lease protects `sessionId` from an idle release. */
    readonly isProtected: (sessionId: string) => Effect.Effect<boolean, RedisFailed>
    /** Leave the group, if nothing is pending with us (deleting a consumer drops its pending entries). */
    readonly leave: Effect.Effect<void, RedisFailed>
  }
>() {
  /** `redis` for quick commands, `blocking` for `XREADGROUP … BLOCK`, which holds its connection. */
  static readonly layerRedis = (redis: RedisConnection, blocking: RedisConnection, settings: JobStreamSettings): Layer.Layer<JobStream> =>
    Layer.effect(JobStream, makeRedis(redis, blocking, settings))
}

const Entry = Schema.Tuple(Schema.String, Schema.Array(Schema.String))
const ReadReply = Schema.NullOr(Schema.Array(Schema.Tuple(Schema.String, Schema.Array(Entry))))
/** `[next cursor, entries (null: deleted, before 7.0), deleted ids (7.0+)]`. */
const AutoclaimReply = Schema.Tuple([Schema.String, Schema.Array(Schema.NullOr(Entry))], Schema.Unknown)

/** A stream entry (its id, then its fields as name, value, …) as a job, keyed by `keyField` (its id without one). */
export const jobOf = (entry: typeof Entry.Type, reclaimed: boolean, keyField: string): StreamJob => {
  const [id, flat] = entry
  const fields: Record<string, string> = {}
  // Own properties whatever the name: an assignment to `__proto__` would set the prototype and drop the field.
  for (let i = 0; i + 1 < flat.length; i += 2) {
    Object.defineProperty(fields, flat[i] ?? "", { value: flat[i + 1] ?? "", enumerable: true, writable: true, configurable: true })
  }
  return { id, key: Object.hasOwn(fields, keyField) ? (fields[keyField] ?? id) : id, fields, reclaimed }
}

const CompleteReply = Schema.Literal("stored", "duplicate", "not-mine", "gone")

const REFRESH_SCRIPT = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1`

// Counted in completions whenever the work was finished while the entry was still pending, so a job
// run twice shows as 2 even when the second run stored nothing.
const COMPLETE_SCRIPT = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 then return 'gone' end
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
if p[1][2] ~= ARGV[2] then return 'not-mine' end
local stored = redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[5])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
if stored == 1 then return 'stored' end
return 'duplicate'`

const LEAVE_SCRIPT = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])`

const makeRedis = (redis: RedisConnection, blocking: RedisConnection, settings: JobStreamSettings) =>
  Effect.gen(function* () {
    const { stream, group, consumer } = settings
    const keep = autoscaleKeys(settings.prefix).keep
    const cursor = yield* Ref.make("0-0")

    const toJob = (entry: typeof Entry.Type, reclaimed: boolean): StreamJob => jobOf(entry, reclaimed, settings.jobKeyField)

    const ensureGroup = redis
      .call(Schema.Unknown, "XGROUP", ["CREATE", stream, group, "0", "MKSTREAM"])
      .pipe(Effect.catchIf((error) => /BUSYGROUP/.test(error.detail), () => Effect.void), Effect.asVoid)

    /** Our commands fail with NOGROUP when the group was deleted (or never made): make it, once, and retry. */
    const withGroup = <A>(effect: Effect.Effect<A, RedisFailed>) =>
      effect.pipe(Effect.catchIf((error) => /NOGROUP/.test(error.detail), () => Effect.zipRight(ensureGroup, effect)))

    const claimStale = (minIdle: Duration.Duration) =>
      withGroup(
        Effect.gen(function* () {
          const from = yield* Ref.get(cursor)
          const [next, entries] = yield* redis.call(AutoclaimReply, "XAUTOCLAIM", [
            stream,
            group,
            consumer,
            Math.round(Duration.toMillis(minIdle)),
            from,
            "COUNT",
            1
          ])
          yield* Ref.set(cursor, next)
          const first = entries.find((entry) => entry !== null)
          return first === undefined || first === null ? Option.none() : Option.some(toJob(first, true))
        })
      )

    const readNew = (block: Duration.Duration) =>
      withGroup(
        Effect.gen(function* () {
          const millis = Math.max(1, Math.round(Duration.toMillis(block)))
          const reply = yield* blocking.call(
            ReadReply,
            "XREADGROUP",
            ["GROUP", group, consumer, "COUNT", 1, "BLOCK", millis, "STREAMS", stream, ">"],
            Duration.sum(block, Duration.seconds(5))
          )
          const entry = reply?.[0]?.[1][0]
          return entry === undefined ? Option.none() : Option.some(toJob(entry, false))
        })
      )

    return JobStream.of({
      ensureGroup,
      claimStale,
      readNew,
      refresh: (job) => Effect.map(redis.eval(IntegerReply, "refresh claim", REFRESH_SCRIPT, [stream], [group, consumer, job.id]), (n) => n === 1),
      complete: (job, result) =>
        redis.eval(CompleteReply, "complete job", COMPLETE_SCRIPT, [stream, resultsKey(stream), completionsKey(stream)], [group, consumer, job.id, job.key, result]),
      isProtected: (sessionId) => Effect.map(redis.call(IntegerReply, "SISMEMBER", [keep, sessionId]), (n) => n === 1),
      leave: Effect.asVoid(
        redis.eval(IntegerReply, "leave group", LEAVE_SCRIPT, [stream], [group, consumer]).pipe(
          Effect.catchIf((error) => /NOGROUP|no such key/i.test(error.detail), () => Effect.succeed(0))
        )
      )
    })
  })
