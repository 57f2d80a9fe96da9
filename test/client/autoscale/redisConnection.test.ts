/** A Redis that does not answer: a command fails naming the address and why, not in ioredis's words. */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { connectRedis, IntegerReply } from "../../../src/client/autoscale/redis.js"
import { freePort } from "../../support/process.js"

describe("connectRedis", () => {
  it("a command with no connection fails with 'no connection to <url> (<why>)'", async () => {
    // A loopback port that was free a moment ago: nothing listens on it.
    const url = `redis://127.0.0.1:${await freePort()}`
    const failed = await Effect.runPromise(Effect.scoped(Effect.flatMap(connectRedis(url), (redis) => Effect.flip(redis.call(IntegerReply, "INCR", ["n"])))))
    expect(failed.message).toMatch(new RegExp(`^redis INCR: no connection to ${url.replaceAll(".", "\\.")} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\)$`))
  })
})
