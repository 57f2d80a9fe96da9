/**
 * What the daemon keeps in Redis (keys.ts): a record per reservation it holds, so that a restarted
 * daemon finds them again; the `keep` lease that tells consumers which workers to hold while idle; and
 * an owner token, so that two daemons never manage the same reservations.
 *
 * A record holds the session's `auth_data`, which is its `session_auth` (the secret `/session/end`
 * needs): keep the Redis it lives in as private as the API key.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { HttpUrl } from "../../protocol/httpUrl.js"
import { AuthData, Lifetime } from "../../protocol/session.js"
import { autoscaleKeys } from "./keys.js"
import { IntegerReply, type RedisConnection, type RedisFailed } from "./redis.js"
import { parseBoundedJsonWith } from "../../shared/boundedJson.js"
import { firstIssue } from "../../shared/firstIssue.js"

/**
 * One held reservation, as stored (JSON) under its session id. Read back as strictly as the answers it came from: a
 * record that names no http(s) worker, or a deadline or lifetime that is not a finite time, was not written by a daemon
 * (Redis is shared, its records may be edited) and is dropped, not adopted and pinged until a deadline that never comes.
 */
export const HeldRecord = Schema.Struct({
  session_id: Schema.NonEmptyString,
  /** The daemon's number for it, shown in events. */
  reservation: Schema.Int.pipe(Schema.positive()),
  url: HttpUrl,
  auth_data: AuthData,
  /** Seconds. */
  lifetime: Lifetime,
  /** Epoch seconds: the deadline after the latest successful ping. */
  expiration: Schema.Finite,
  request_idx: Schema.Int,
  generation: Schema.NullOr(Schema.Int),
  /** Epoch ms. */
  created_at: Schema.Finite
})
export type HeldRecord = typeof HeldRecord.Type

export interface Loaded {
  readonly records: ReadonlyArray<HeldRecord>
  /** Session ids whose records did not decode (they are deleted: they cannot be adopted). */
  readonly unreadable: ReadonlyArray<{ readonly sessionId: string; readonly reason: string }>
}

export class StateStore extends Context.Tag("autoscale/StateStore")<
  StateStore,
  {
    readonly load: Effect.Effect<Loaded, RedisFailed>
    readonly save: (record: HeldRecord) => Effect.Effect<void, RedisFailed>
    readonly remove: (sessionId: string) => Effect.Effect<void, RedisFailed>
    /** Replace the keep set with `sessionIds`, expiring after `ttlMs` unless published again. */
    readonly publishKeep: (sessionIds: ReadonlyArray<string>, ttlMs: number) => Effect.Effect<void, RedisFailed>
    /** Take or renew ownership for `ttlMs`; false when another token holds it. */
    readonly claimOwner: (token: string, ttlMs: number) => Effect.Effect<boolean, RedisFailed>
    /** Give ownership up, if `token` still holds it. */
    readonly releaseOwner: (token: string) => Effect.Effect<void, RedisFailed>
  }
>() {
  static readonly layerRedis = (redis: RedisConnection, prefix: string): Layer.Layer<StateStore> => Layer.succeed(StateStore, makeRedis(redis, prefix))
}

const encodeRecord = Schema.encodeSync(parseBoundedJsonWith(HeldRecord))
const decodeRecord = Schema.decodeUnknownEither(parseBoundedJsonWith(HeldRecord))
const FlatHash = Schema.Array(Schema.String)

// SADD in slices: Lua's unpack returns at most about 8,000 values, and --max allows a larger keep set.
const KEEP_SCRIPT = `
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 4096 do
  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 4095, #ARGV)))
end
if #ARGV > 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1`

const CLAIM_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

const makeRedis = (redis: RedisConnection, prefix: string) => {
  const keys = autoscaleKeys(prefix)
  return StateStore.of({
    load: Effect.gen(function* () {
      const flat = yield* redis.call(FlatHash, "HGETALL", [keys.sessions])
      const records: Array<HeldRecord> = []
      const unreadable: Array<{ readonly sessionId: string; readonly reason: string }> = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const id = flat[i] ?? ""
        const decoded = decodeRecord(flat[i + 1])
        if (decoded._tag === "Right" && decoded.right.session_id === id) records.push(decoded.right)
        else {
          // The field that is wrong, without its value: the record holds the session's secret.
          const reason = decoded._tag === "Left" ? (firstIssue(decoded.left)?.message ?? "not a record") : "its session_id is another one"
          unreadable.push({ sessionId: id, reason })
        }
      }
      if (unreadable.length > 0) yield* redis.call(IntegerReply, "HDEL", [keys.sessions, ...unreadable.map((record) => record.sessionId)])
      return { records, unreadable }
    }),
    save: (record) => Effect.asVoid(redis.call(IntegerReply, "HSET", [keys.sessions, record.session_id, encodeRecord(record)])),
    remove: (sessionId) => Effect.asVoid(redis.call(IntegerReply, "HDEL", [keys.sessions, sessionId])),
    publishKeep: (sessionIds, ttlMs) =>
      Effect.asVoid(redis.eval(IntegerReply, "publish keep set", KEEP_SCRIPT, [keys.keep], [Math.max(1, Math.round(ttlMs)), ...sessionIds])),
    claimOwner: (token, ttlMs) =>
      Effect.map(redis.eval(IntegerReply, "claim owner", CLAIM_SCRIPT, [keys.owner], [token, Math.max(1, Math.round(ttlMs))]), (won) => won === 1),
    releaseOwner: (token) => Effect.asVoid(redis.eval(IntegerReply, "release owner", RELEASE_SCRIPT, [keys.owner], [token]))
  })
}
