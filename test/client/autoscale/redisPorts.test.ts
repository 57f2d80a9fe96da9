/**
 * The daemon's Redis ports against a real redis-server: the backlog of a list and of a stream group
 * (with Redis' lag, and counted when Redis cannot give it), the state records, the keep lease and the
 * ownership token.
 */
import { Context, Effect, Layer, Option, type Scope } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Backlog, listBacklog, streamBacklog } from "../../../src/client/autoscale/Backlog.js"
import { connectRedis, type RedisConnection } from "../../../src/client/autoscale/redis.js"
import { countCap, desiredWorkers } from "../../../src/client/autoscale/scalingRule.js"
import { type HeldRecord, StateStore } from "../../../src/client/autoscale/StateStore.js"
import { type RunningRedis, skipWithoutRedis, startRedis } from "../../support/redisServer.js"
import { authData } from "../../support/sessions.js"

const skip = skipWithoutRedis("the Redis port tests")
let redis: RunningRedis
let client: Redis
beforeAll(async () => {
  if (skip) return
  redis = await startRedis()
  client = new Redis(redis.url, { maxRetriesPerRequest: null })
  client.on("error", () => undefined)
})
afterAll(async () => {
  client?.disconnect()
  await redis?.stop()
})

/** Run `use` with a connection to the test's Redis. */
const withRedis = <A, E>(use: (connection: RedisConnection) => Effect.Effect<A, E, Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(connectRedis(redis.url), use)))

const readBacklog = (layer: Layer.Layer<Backlog>) => Effect.flatMap(Layer.build(layer), (context) => Context.get(context, Backlog).read)

const record = (id: string, reservation: number): HeldRecord => ({
  session_id: id,
  reservation,
  url: "https://203.0.113.7:41234",
  auth_data: authData(),
  lifetime: 60,
  expiration: 2_000_000_000,
  request_idx: 4242,
  generation: 3,
  created_at: 1_700_000_000_000
})

describe.skipIf(skip)("the daemon's Redis ports (real redis-server)", () => {
  it("a list's backlog is LLEN, plus the in-flight list's length when there is one", async () => {
    await client.rpush("queue", "a", "b", "c")
    await client.rpush("queue:busy", "x")
    expect(await withRedis((r) => readBacklog(listBacklog(r, "queue", Option.none())))).toEqual({ waiting: 3, inFlight: 0 })
    expect(await withRedis((r) => readBacklog(listBacklog(r, "queue", Option.some("queue:busy"))))).toEqual({ waiting: 3, inFlight: 1 })
    expect(await withRedis((r) => readBacklog(listBacklog(r, "missing", Option.none())))).toEqual({ waiting: 0, inFlight: 0 })
  })

  it("a stream's backlog is the group's lag and pending; the group is made when missing; the lag is counted when Redis cannot say", async () => {
    for (let i = 1; i <= 5; i++) await client.xadd("s1", `${i}-0`, "job_id", `j${i}`)
    // No group yet: it is created at 0, so every entry counts.
    expect(await withRedis((r) => readBacklog(streamBacklog(r, "s1", "g", 100)))).toEqual({ waiting: 5, inFlight: 0 })
    await client.xreadgroup("GROUP", "g", "c", "COUNT", "2", "STREAMS", "s1", ">")
    expect(await withRedis((r) => readBacklog(streamBacklog(r, "s1", "g", 100)))).toEqual({ waiting: 3, inFlight: 2 })
    // Deleting an undelivered entry makes Redis' lag unknown (null): the entries after the group's position are counted.
    await client.xdel("s1", "4-0")
    expect(await withRedis((r) => readBacklog(streamBacklog(r, "s1", "g", 100)))).toEqual({ waiting: 2, inFlight: 2 })
    expect(await withRedis((r) => readBacklog(streamBacklog(r, "s1", "g", 1)))).toEqual({ waiting: 1, inFlight: 2 })
    // Counted as the daemon counts it (`countCap`, 6 of the 8 here): an activation threshold above max × jobs per worker
    // is still passed (review 41 M1).
    const rule = { jobsPerWorker: 1, min: 0, max: 1, activation: 5 }
    for (let i = 6; i <= 11; i++) await client.xadd("s1", `${i}-0`, "job_id", `j${i}`)
    const counted = await withRedis((r) => readBacklog(streamBacklog(r, "s1", "g", countCap(rule))))
    expect(counted).toEqual({ waiting: 6, inFlight: 2 })
    expect(desiredWorkers(counted, rule)).toBe(1)
    // A stream that does not exist yet: made, empty.
    expect(await withRedis((r) => readBacklog(streamBacklog(r, "fresh", "g", 100)))).toEqual({ waiting: 0, inFlight: 0 })
    expect(await client.exists("fresh")).toBe(1)
  })

  it("records are saved, loaded and removed; one that does not decode is dropped and named", async () => {
    const loaded = await withRedis((r) =>
      Effect.gen(function* () {
        const store = Context.get(yield* Layer.build(StateStore.layerRedis(r, "p1")), StateStore)
        yield* store.save(record("s-a", 1))
        yield* store.save(record("s-b", 2))
        yield* store.remove("s-b")
        yield* Effect.promise(() => client.hset("p1:sessions", "s-bad", "{\"session_id\":\"s-bad\"}"))
        // Corrupt past its signature: the reason quotes none of it (review 51 L1).
        yield* Effect.promise(() => client.hset("p1:sessions", "s-cut", '{"session_id":"s-cut","auth_data":{"signature":c2VjcmV0LXNpZ25hdHVyZQ}}'))
        return yield* store.load
      })
    )
    // A value past 64 bytes turns the hash into a table: its order is not the order of writing.
    const unreadable = [...loaded.unreadable].sort((a, b) => a.sessionId.localeCompare(b.sessionId))
    expect({ ...loaded, unreadable }).toEqual({
      records: [record("s-a", 1)],
      unreadable: [
        { sessionId: "s-bad", reason: "reservation is required" },
        { sessionId: "s-cut", reason: "Unexpected token 'c': not valid JSON" }
      ]
    })
    expect(await client.hkeys("p1:sessions")).toEqual(["s-a"])
  })

  it("the keep lease replaces the set and expires; ownership is one token's until released or lapsed", async () => {
    const result = await withRedis((r) =>
      Effect.gen(function* () {
        const store = Context.get(yield* Layer.build(StateStore.layerRedis(r, "p2")), StateStore)
        yield* store.publishKeep(["s1", "s2"], 60_000)
        yield* store.publishKeep(["s2", "s3"], 60_000)
        const kept = yield* Effect.promise(() => client.smembers("p2:keep"))
        const ttl = yield* Effect.promise(() => client.pttl("p2:keep"))
        yield* store.publishKeep([], 60_000)
        const cleared = yield* Effect.promise(() => client.exists("p2:keep"))
        const first = yield* store.claimOwner("a", 60_000)
        const renewed = yield* store.claimOwner("a", 60_000)
        const other = yield* store.claimOwner("b", 60_000)
        yield* store.releaseOwner("b")
        const stillA = yield* Effect.promise(() => client.get("p2:owner"))
        yield* store.releaseOwner("a")
        const afterRelease = yield* store.claimOwner("b", 1)
        // Redis lets the 1 ms lease lapse by itself: looked at until it has, rather than slept on.
        while ((yield* Effect.promise(() => client.exists("p2:owner"))) === 1) yield* Effect.yieldNow()
        const lapsed = yield* store.claimOwner("c", 60_000)
        return { kept: [...kept].sort(), ttl, cleared, first, renewed, other, stillA, afterRelease, lapsed }
      })
    )
    expect(result.kept).toEqual(["s2", "s3"])
    expect(result.ttl).toBeGreaterThan(50_000)
    expect(result).toMatchObject({ cleared: 0, first: true, renewed: true, other: false, stillA: "a", afterRelease: true, lapsed: true })
  })

  it("a keep lease of 10,000 sessions is published whole (past what one Lua unpack returns)", async () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `s-${i}`)
    const kept = await withRedis((r) =>
      Effect.gen(function* () {
        const store = Context.get(yield* Layer.build(StateStore.layerRedis(r, "p3")), StateStore)
        yield* store.publishKeep(ids, 60_000)
        return yield* Effect.promise(() => client.smembers("p3:keep"))
      })
    )
    expect(kept.length).toBe(10_000)
    expect(new Set(kept)).toEqual(new Set(ids))
  })
})
