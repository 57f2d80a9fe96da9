import { lookup as dnsLookup, type LookupAddress } from "node:dns"
import { createServer, type Server } from "node:http"
import type { LookupFunction } from "node:net"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Either, Layer } from "effect"
import { SELF_TARGET_REFUSED, type SelfAddresses } from "../../../src/worker/callbacks/selfTarget.js"
import { CallbackPoster } from "../../../src/worker/callbacks/CallbackPoster.js"
import { guardedAgents } from "../../../src/worker/callbacks/callbackHttpClient.js"
import { keepAliveHttpClient } from "../../../src/shared/keepAliveHttpClient.js"
import { quietLogs, testConfig } from "../../support/layers.js"
import { errnoOf } from "../../../src/shared/errno.js"

/** A loopback server counting the requests that reached it. */
const counting = Effect.acquireRelease(
  Effect.async<{ readonly server: Server; readonly port: number; readonly hits: () => number }>((resume) => {
    let hits = 0
    const server = createServer((_, response) => {
      hits++
      response.writeHead(200).end()
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({ server, port: typeof address === "object" && address !== null ? address.port : 0, hits: () => hits }))
    })
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
)

/** DNS for the test: two names of ours; any other name asks the system. Answers in both of Node's shapes. */
const names: Record<string, string> = { "evil.test": "127.0.0.1", "mapped.test": "::ffff:127.0.0.1", "public.test": "203.0.113.9" }
const testLookup: LookupFunction = (hostname, options, done) => {
  const address = names[hostname]
  if (address === undefined) return dnsLookup(hostname, options, done)
  const family = address.includes(":") ? 6 : 4
  if (options.all === true) return done(null, [{ address, family } satisfies LookupAddress])
  done(null, address, family)
}

const clientFor = (self: SelfAddresses) =>
  Effect.provide(HttpClient.HttpClient, NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(Layer.scoped(NodeHttpClient.HttpAgent, guardedAgents(self, testLookup)))))

const statusOf = (client: HttpClient.HttpClient, url: string) =>
  HttpClientRequest.post(url).pipe(
    client.execute,
    Effect.map((response) => response.status),
    Effect.scoped,
    Effect.mapError((error) => errnoOf(error) ?? "no code"),
    Effect.either
  )

describe("callbackHttpClient's agents", () => {
  it.live("refuse every way of writing a connection to the worker's own ports, and pass every other port", () =>
    Effect.gen(function* () {
      const worker = yield* counting
      const other = yield* counting
      const client = yield* clientFor({ hosts: new Set(["203.0.113.9"]), ports: new Set([worker.port]) })
      for (const host of ["127.0.0.1", "127.9.9.9", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "localhost", "evil.test", "mapped.test", "public.test"]) {
        for (const scheme of ["http", "https"]) {
          const answer = yield* statusOf(client, `${scheme}://${host}:${worker.port}/recycle`)
          assert.deepStrictEqual(answer, Either.left(SELF_TARGET_REFUSED), `${scheme}://${host}`)
        }
      }
      assert.strictEqual(worker.hits(), 0)
      for (const host of ["127.0.0.1", "localhost"]) {
        assert.deepStrictEqual(yield* statusOf(client, `http://${host}:${other.port}/done`), Either.right(200), host)
      }
      assert.strictEqual(other.hits(), 2)
    }).pipe(Effect.scoped)
  )

  it.live("CallbackPoster.Default sends through them even where the worker provides its plain client to everything else", () =>
    Effect.gen(function* () {
      const worker = yield* counting
      const context = yield* Layer.build(
        CallbackPoster.Default.pipe(Layer.provide(keepAliveHttpClient()), Layer.provide(testConfig({ controlPort: worker.port })), Layer.provide(quietLogs))
      )
      const poster = Context.get(context, CallbackPoster)
      yield* poster.post({ sessionId: "s", generation: 1, route: `http://127.0.0.1:${worker.port}/recycle`, body: "{}", reason: "released" })
      yield* poster.drain("10 seconds")
      const [record] = yield* poster.deliveries
      assert.deepStrictEqual([record?.state, record?.lastError], ["failed", "refused: the destination is one of this worker's own ports"])
      assert.strictEqual(worker.hits(), 0)
    }).pipe(Effect.scoped)
  )
})
