/**
 * Answers of `101 Switching Protocols` to a plain request: the connection is closed, by every HTTP client of ours built
 * on Node's agents (probe 54 #1: `@effect/platform-node` read the answer as a response and left the socket open, one more
 * with each callback, until the worker's descriptors ran out).
 */
import { createServer, type Server, type Socket } from "node:net"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer } from "effect"
import { httpClientClosingUpgraded } from "../../src/shared/closeUpgraded.js"
import { keepAliveHttpClient } from "../../src/shared/keepAliveHttpClient.js"
import { guardedAgents } from "../../src/worker/callbacks/callbackHttpClient.js"

/** A server that answers every request `101` and keeps the connection; `closed` once a client closes one. */
const upgrading = Effect.acquireRelease(
  Effect.gen(function* () {
    const closed = yield* Deferred.make<void>()
    const sockets = new Set<Socket>()
    const server: Server = createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => undefined)
      socket.on("data", () => socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"))
      socket.on("close", () => Deferred.unsafeDone(closed, Effect.void))
    })
    const port = yield* Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
    return { server, sockets, port, closed }
  }),
  ({ server, sockets }) =>
    Effect.async<void>((resume) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resume(Effect.void))
    })
)

const clients: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>]> = [
  ["the kept-alive client (the worker's health checks and key fetch, the client's calls)", keepAliveHttpClient()],
  ["the plain client (the serverless', the autoscale example's)", httpClientClosingUpgraded()],
  [
    "the callbacks' client",
    NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(Layer.scoped(NodeHttpClient.HttpAgent, guardedAgents({ hosts: new Set(), ports: new Set() }))))
  ]
]

describe("a 101 answer to a plain request", () => {
  it.live.each(clients)("is read as its status, and its connection closed: %s", ([, layer]) =>
    Effect.gen(function* () {
      const server = yield* upgrading
      const status = yield* HttpClientRequest.get(`http://127.0.0.1:${server.port}/`).pipe(
        (request) => Effect.flatMap(HttpClient.HttpClient, (client) => client.execute(request)),
        Effect.map((response) => response.status),
        Effect.scoped,
        Effect.provide(layer)
      )
      assert.strictEqual(status, 101)
      const closed = yield* Deferred.await(server.closed).pipe(Effect.timeoutOption("5 seconds"))
      assert.isTrue(closed._tag === "Some", "the connection was left open")
    }).pipe(Effect.scoped)
  )
})
