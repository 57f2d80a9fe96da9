/**
 * Where the daemon reads the backlog. Two Redis shapes, as KEDA reads them:
 *
 * - a list: waiting = `LLEN key` (KEDA's `redis` scaler, `listLength`); in flight = `LLEN` of an optional
 *   in-flight list (a reliable-queue consumer moves each job there with `LMOVE` while it works on it);
 * - a stream with a consumer group: waiting = the group's lag (entries not yet delivered to any consumer),
 *   in flight = its pending entries (delivered, not acknowledged), both from `XINFO GROUPS` (KEDA's
 *   `redis-streams` scaler, `lagCount` / `pendingEntriesCount`).
 *
 * The group is created (at id 0, with the stream) when it does not exist yet, so that entries added
 * before the first consumer started count as lag. When Redis cannot give the lag (before 7.0, or after
 * entries were deleted) the undelivered entries are counted with `XRANGE`, up to `countCap` (`scalingRule.ts`: one
 * past both the count at which the rule clamps at `max` and the activation threshold, so a larger count would change
 * nothing).
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { IntegerReply, type RedisConnection, RedisFailed } from "./redis.js"
import type { BacklogReading } from "./scalingRule.js"

export class Backlog extends Context.Tag("autoscale/Backlog")<
  Backlog,
  {
    readonly read: Effect.Effect<BacklogReading, RedisFailed>
    /** What is read, for display: `list jobs`, `stream jobs (group workers)`. */
    readonly source: string
  }
>() {}

/** `LLEN key` (+ `LLEN inFlightKey`). */
export const listBacklog = (redis: RedisConnection, key: string, inFlightKey: Option.Option<string>): Layer.Layer<Backlog> =>
  Layer.succeed(
    Backlog,
    Backlog.of({
      source: Option.match(inFlightKey, { onNone: () => `list ${key}`, onSome: (busy) => `list ${key} (in flight: ${busy})` }),
      read: Effect.gen(function* () {
        const waiting = yield* redis.call(IntegerReply, "LLEN", [key])
        const inFlight = Option.isSome(inFlightKey) ? yield* redis.call(IntegerReply, "LLEN", [inFlightKey.value]) : 0
        return { waiting, inFlight }
      })
    })
  )

const Field = Schema.Union(Schema.String, Schema.Number, Schema.Null)
/** `XINFO GROUPS`: one flat `[name, value, name, value, …]` array per group. */
const GroupsReply = Schema.Array(Schema.Array(Field))
const GroupInfo = Schema.Struct({
  name: Schema.String,
  pending: Schema.Int,
  "last-delivered-id": Schema.String,
  /** Redis ≥ 7.0; null when Redis cannot tell. */
  lag: Schema.optional(Schema.NullOr(Schema.Int))
})
const decodeGroup = Schema.decodeUnknown(GroupInfo)
const EntryIds = Schema.Array(Schema.Tuple(Schema.String, Schema.Unknown))

const pairs = (flat: ReadonlyArray<string | number | null>): Record<string, string | number | null> => {
  const record: Record<string, string | number | null> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = flat[i + 1] ?? null
  return record
}

const isMissingKey = (error: RedisFailed) => /no such key/i.test(error.detail)

/** The group's lag and pending count. */
export const streamBacklog = (redis: RedisConnection, stream: string, group: string, countCap: number): Layer.Layer<Backlog> => {
  const ensureGroup = redis
    .call(Schema.Unknown, "XGROUP", ["CREATE", stream, group, "0", "MKSTREAM"])
    .pipe(Effect.catchIf((error) => /BUSYGROUP/.test(error.detail), () => Effect.void), Effect.asVoid)

  const groupInfo = Effect.gen(function* () {
    const reply = yield* redis.call(GroupsReply, "XINFO", ["GROUPS", stream])
    for (const flat of reply) {
      const fields = pairs(flat)
      if (fields["name"] !== group) continue
      return Option.some(
        yield* Effect.mapError(
          decodeGroup(fields),
          () => new RedisFailed({ command: "XINFO GROUPS", detail: `unexpected fields for group ${group}` })
        )
      )
    }
    return Option.none()
  })

  const read: Effect.Effect<BacklogReading, RedisFailed> = Effect.gen(function* () {
    const lookUp = groupInfo.pipe(Effect.catchIf(isMissingKey, () => Effect.succeed(Option.none<typeof GroupInfo.Type>())))
    let found = yield* lookUp
    if (Option.isNone(found)) {
      yield* ensureGroup
      found = yield* lookUp
    }
    if (Option.isNone(found)) return { waiting: 0, inFlight: 0 }
    const info = found.value
    if (typeof info.lag === "number") return { waiting: info.lag, inFlight: info.pending }
    const undelivered = yield* redis.call(EntryIds, "XRANGE", [stream, `(${info["last-delivered-id"]}`, "+", "COUNT", countCap])
    return { waiting: undelivered.length, inFlight: info.pending }
  })

  return Layer.succeed(Backlog, Backlog.of({ source: `stream ${stream} (group ${group})`, read }))
}
