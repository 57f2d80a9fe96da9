import { assert, describe, it } from "@effect/vitest"
import { isRedisTarget } from "../../src/shared/redisTarget.js"

describe("isRedisTarget (--redis-url, REDIS_URL)", () => {
  it("takes what ioredis reads as meant: redis(s) and unix URLs, host:port, a bare host or port, a socket's path", () => {
    for (const target of ["redis://127.0.0.1:6379", "REDISS://user:pw@redis.example:6380/1", "localhost:6379", "redis-host", "6379", "/run/redis.sock", "unix:///run/redis.sock"]) {
      assert.isTrue(isRedisTarget(target), target)
    }
  })

  it("refuses a URL of another scheme, which ioredis would take for a socket path and try for ever", () => {
    for (const target of ["http://x", "https://redis.example:6379", "tcp://127.0.0.1:6379"]) {
      assert.isFalse(isRedisTarget(target), target)
    }
  })
})
