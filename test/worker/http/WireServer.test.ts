import { connect } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { text } from "../../../src/worker/http/errorResponse.js"
import { type RouteTable, serve } from "../../../src/worker/http/WireServer.js"

/** A route whose answers (64 KiB each) fill a socket's buffers after a few dozen unread ones. */
const routes: RouteTable = new Map([["/big", { method: "GET", body: "none", handle: () => Either.right(text(200, "x".repeat(64 * 1024))) }]])

/**
 * A client that sends whole requests one at a time, 1 ms apart, and never reads an answer: Node stops reading it at a
 * request boundary, where no header or request timer runs. Resolves with how long the connection lived.
 */
const pipelineWithoutReading = (port: number, giveUpMs: number) =>
  Effect.async<number>((resume) => {
    const started = performance.now()
    const socket = connect(port, "127.0.0.1")
    socket.pause()
    socket.on("error", () => undefined)
    const tick = () => {
      if (socket.destroyed) return
      if (socket.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")) timer = setTimeout(tick, 1)
      else socket.once("drain", tick)
    }
    let timer = setTimeout(() => undefined, 0)
    socket.on("connect", tick)
    socket.on("close", () => {
      clearTimeout(timer)
      clearTimeout(limit)
      resume(Effect.succeed(performance.now() - started))
    })
    const limit = setTimeout(() => socket.destroy(), giveUpMs)
    return Effect.sync(() => socket.destroy())
  })

describe("WireServer against a real socket", () => {
  it.live("a client that pipelines and never reads its answers is cut off once the connection stalls", () =>
    Effect.gen(function* () {
      const listener = yield* serve({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs: 300 } })
      const lived = yield* pipelineWithoutReading(listener.port, 10_000)
      assert.isBelow(lived, 5_000, "closed by the server, not by the test's own limit")
    }).pipe(Effect.scoped)
  )

  it.live("without the stall limit the same client holds its connection", () =>
    Effect.gen(function* () {
      const listener = yield* serve({ name: "test", host: "127.0.0.1", port: 0, routes, limits: { stallTimeoutMs: 0 } })
      const lived = yield* pipelineWithoutReading(listener.port, 2_000)
      assert.isAtLeast(lived, 2_000)
    }).pipe(Effect.scoped)
  )
})
