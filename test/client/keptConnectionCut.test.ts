import { assert, describe, it } from "@effect/vitest"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Layer, Option, Redacted } from "effect"
import * as HttpStack from "../../src/client/httpClient.js"
import { type Session, VastClient } from "../../src/client/VastClient.js"

/**
 * A worker stand-in that destroys a kept connection when a second request arrives on it, answering nothing: what a
 * worker closing an idle connection (its idle timeout, or its stop) does to a request already on its way.
 */
const cuttingServer = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly seen: Array<string>; readonly server: Server }>((resume) => {
    const seen: Array<string> = []
    const served = new WeakMap<object, number>()
    const server = createServer((req, res) => {
      const count = (served.get(req.socket) ?? 0) + 1
      served.set(req.socket, count)
      seen.push(`${req.url} #${count}`)
      if (count > 1) return void req.socket.destroy()
      req.resume()
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server })))
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
)

describe("VastClient over Node's kept connections", () => {
  it.scoped("a ping whose kept connection is cut as it goes out (Node's 'socket hang up') is sent again on a new one and succeeds", () =>
    Effect.gen(function* () {
      const worker = yield* cuttingServer
      const client = yield* Effect.provide(
        VastClient,
        VastClient.layer({ apiKey: Redacted.make("k"), webserverUrl: worker.url, autoscalerUrl: worker.url }).pipe(Layer.provide(HttpStack.layer(Option.none())))
      )
      const session: Session = { url: worker.url, sessionId: "s-1", authData: { url: worker.url, signature: "s", reqnum: 1, request_idx: 1, endpoint: "e", cost: 100 }, requestIdx: 1, lifetime: 60, expiration: 0 }
      yield* client.ping(session)
      yield* client.ping(session)
      assert.deepStrictEqual(worker.seen, ["/ping #1", "/ping #2", "/ping #1"])
    })
  )
})
