/**
 * A Redis call's timeout holds where the call cannot be interrupted: the daemon releases its ownership, and a
 * consumer leaves its group, from a finalizer. A Redis that accepts and never answers (hung, stopped) must not
 * hang them.
 */
import { createServer, type Socket } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Schema, TestClock } from "effect"
import { connectRedis } from "../../../src/client/autoscale/redis.js"

/** A TCP server that accepts connections and never answers, closed with the scope. */
const silentServer = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly close: () => void }>((resume) => {
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => undefined)
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const close = () => {
        for (const socket of sockets) socket.destroy()
        server.close()
      }
      resume(Effect.succeed({ port, close }))
    })
  }),
  (server) => Effect.sync(server.close)
)

describe("connectRedis: a call's timeout", () => {
  it.scoped("fails the call after its timeout even inside an uninterruptible region (a finalizer)", () =>
    Effect.gen(function* () {
      const server = yield* silentServer
      const redis = yield* connectRedis(`redis://127.0.0.1:${server.port}`)
      const call = yield* Effect.fork(Effect.uninterruptible(redis.call(Schema.String, "PING", [], "5 seconds")))
      yield* TestClock.adjust("5 seconds")
      yield* Effect.yieldNow()
      const outcome = yield* Fiber.poll(call)
      assert.isTrue(Option.isSome(outcome), "the call ended at its timeout")
      if (Option.isNone(outcome) || Exit.isSuccess(outcome.value)) return assert.fail("the call failed")
      assert.include(String(outcome.value.cause), "no answer within 5s")
    })
  )
})
