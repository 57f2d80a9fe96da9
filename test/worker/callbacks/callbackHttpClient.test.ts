import { lookup as dnsLookup, type LookupAddress } from "node:dns"
import { type ClientRequestArgs, createServer, type Server } from "node:http"
import type { LookupFunction } from "node:net"
import { Duplex } from "node:stream"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Either, Layer } from "effect"
import { SELF_TARGET_REFUSED, type SelfAddresses } from "../../../src/worker/callbacks/selfTarget.js"
import { CallbackPoster } from "../../../src/worker/callbacks/CallbackPoster.js"
import { type Connect, guardedAgents, guardedConnect } from "../../../src/worker/callbacks/callbackHttpClient.js"
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
const names: Record<string, string> = { "evil.test": "127.0.0.1", "mapped.test": "::ffff:127.0.0.1", "public.test": "203.0.113.9", "other.test": "127.0.0.1" }
const looked: Array<string> = []
const testLookup: LookupFunction = (hostname, options, done) => {
  looked.push(hostname)
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
      // A name on another port is looked up through the agents' own (limited) lookup too, not Node's default.
      looked.length = 0
      assert.deepStrictEqual(yield* statusOf(client, `http://other.test:${other.port}/done`), Either.right(200))
      assert.deepStrictEqual(looked, ["other.test"])
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

describe("guardedConnect", () => {
  const self: SelfAddresses = { hosts: new Set(["203.0.113.9"]), ports: new Set([3000]) }
  const socket = new Duplex()
  /** A connect that records what it was given and answers with one socket. */
  const recording = () => {
    const calls: Array<ClientRequestArgs> = []
    const connect: Connect = (options) => {
      calls.push(options)
      return socket
    }
    return { calls, connect }
  }
  /** What `connected` was told. */
  const outcome = () => {
    const told: Array<Error | null> = []
    return { told, connected: (error: Error | null) => void told.push(error) }
  }
  it("passes a connection to any other port through untouched", () => {
    const { calls, connect } = recording()
    const given: ClientRequestArgs = { host: "127.0.0.1", port: 8080 }
    assert.strictEqual(guardedConnect(self, dnsLookup, connect)(given, outcome().connected), socket)
    assert.deepStrictEqual(calls, [given])
    assert.strictEqual(calls[0], given)
  })

  it("on a worker port: an address of this machine is refused before connecting, with a message naming no URL", () => {
    for (const host of ["127.0.0.1", "::1", "::ffff:127.0.0.1", "203.0.113.9", "0.0.0.0"]) {
      const { calls, connect } = recording()
      const { connected, told } = outcome()
      assert.isUndefined(guardedConnect(self, dnsLookup, connect)({ host, port: 3000 }, connected), host)
      assert.lengthOf(calls, 0, host)
      assert.lengthOf(told, 1, host)
      assert.strictEqual(errnoOf(told[0]), SELF_TARGET_REFUSED)
      assert.strictEqual(told[0]?.message, "refused: the destination is one of this worker's own ports")
    }
  })

  it("on a worker port: an address of another machine connects as given", () => {
    for (const host of ["198.51.100.7", "2001:db8::1"]) {
      const { calls, connect } = recording()
      const given: ClientRequestArgs = { host, port: "3000" as unknown as number }
      guardedConnect(self, dnsLookup, connect)(given, outcome().connected)
      assert.deepStrictEqual(calls, [given], host)
    }
  })

  it("on a worker port: a name connects through a lookup that refuses any answer with an address of this machine", () => {
    const answers: ReadonlyArray<readonly [string | ReadonlyArray<LookupAddress>, boolean]> = [
      ["127.0.0.1", true],
      ["198.51.100.7", false],
      [[{ address: "198.51.100.7", family: 4 }, { address: "::1", family: 6 }], true],
      [[{ address: "198.51.100.7", family: 4 }, { address: "2001:db8::1", family: 6 }], false]
    ]
    for (const [address, refusedHere] of answers) {
      const dns: LookupFunction = (_, __, done) => done(null, address as string, 4)
      const { calls, connect } = recording()
      guardedConnect(self, dns, connect)({ host: "name.test", port: 3000 }, outcome().connected)
      assert.lengthOf(calls, 1)
      let seen: { error: NodeJS.ErrnoException | null; address: unknown; family: number | undefined } | undefined
      calls[0]?.lookup?.("name.test", { all: typeof address !== "string" }, (error, resolved, family) => void (seen = { error, address: resolved, family }))
      if (refusedHere) {
        assert.strictEqual(errnoOf(seen?.error), SELF_TARGET_REFUSED, JSON.stringify(address))
      } else {
        assert.deepStrictEqual(seen, { error: null, address, family: 4 }, JSON.stringify(address))
      }
    }
    // A lookup that failed is passed on as it failed.
    const failing: LookupFunction = (_, __, done) => done(Object.assign(new Error("no such name"), { code: "ENOTFOUND" }), "", 0)
    const { calls, connect } = recording()
    guardedConnect(self, failing, connect)({ host: "name.test", port: 3000 }, outcome().connected)
    let seen: NodeJS.ErrnoException | null | undefined
    calls[0]?.lookup?.("name.test", {}, (error) => void (seen = error))
    assert.strictEqual(errnoOf(seen), "ENOTFOUND")
  })

  it("on a worker port: the lookup the request brought is the one checked", () => {
    const own: LookupFunction = (_, __, done) => done(null, "127.0.0.1", 4)
    const { calls, connect } = recording()
    guardedConnect(self, (_, __, done) => done(null, "198.51.100.7", 4), connect)({ host: "name.test", port: 3000, lookup: own }, outcome().connected)
    let seen: NodeJS.ErrnoException | null | undefined
    calls[0]?.lookup?.("name.test", {}, (error) => void (seen = error))
    assert.strictEqual(errnoOf(seen), SELF_TARGET_REFUSED)
  })
})

