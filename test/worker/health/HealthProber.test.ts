import { createServer, type Server } from "node:http"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net"
import { Deferred, type Duration, Effect, Either, Exit, Fiber, Option, TestClock } from "effect"
import { keepAliveHttpClient } from "../../../src/shared/keepAliveHttpClient.js"
import type { WorkerSettings } from "../../../src/worker/config/WorkerConfig.js"
import { connectionFailureKind, HealthProber } from "../../../src/worker/health/HealthProber.js"
import { testConfig } from "../../support/layers.js"

/**
 * A consumer on a free loopback port: `/ok` answers 200, `/moved` redirects to `/ok`, `/loop` to itself, `/ftp` and
 * `/badport` to places Node's client cannot go, `/down` 503.
 */
const consumer = Effect.acquireRelease(
  Effect.async<{ readonly server: Server; readonly base: string }>((resume) => {
    const server = createServer((req, res) => {
      switch (req.url) {
        case "/ok":
          return void res.writeHead(200).end("ok")
        case "/moved":
          return void res.writeHead(301, { location: "/ok" }).end()
        case "/loop":
          return void res.writeHead(302, { location: "/loop" }).end()
        case "/ftp":
          return void res.writeHead(302, { location: "ftp://127.0.0.1/x" }).end()
        case "/badport":
          return void res.writeHead(302, { location: "http://127.0.0.1:99999/health" }).end()
        case "/nocontent":
          return void res.writeHead(204).end()
        default:
          return void res.writeHead(503).end()
      }
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({ server, base: `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}` }))
    })
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
)

const probe = (url: string, timeout: Duration.DurationInput = "5 seconds") =>
  Effect.flatMap(HealthProber, (prober) => Effect.either(prober.check)).pipe(
    Effect.provide(HealthProber.layer(url, timeout)),
    Effect.provide(NodeHttpClient.layer)
  )

/** A consumer that never closes an idle connection (Go's default server): `/moved` redirects to `/ok`. Counts open connections. */
const keepingConsumer = Effect.acquireRelease(
  Effect.async<{ readonly server: Server; readonly base: string; readonly open: () => number }>((resume) => {
    let open = 0
    const server = createServer((req, res) => {
      if (req.url === "/moved") return void res.writeHead(301, { location: "/ok" }).end()
      res.writeHead(200).end("ok")
    })
    server.keepAliveTimeout = 0
    server.on("connection", (socket) => {
      open++
      socket.once("close", () => open--)
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({ server, base: `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`, open: () => open }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

describe("HealthProber against a real consumer", () => {
  it.live("a redirect leaves no connection open behind it: 20 checks through a 301, over the worker's keep-alive client, against a server that keeps idle connections", () =>
    Effect.gen(function* () {
      const { base, open } = yield* keepingConsumer
      const prober = yield* Effect.provide(HealthProber, HealthProber.layer(`${base}/moved`, "5 seconds"))
      for (let i = 0; i < 20; i++) assert.isTrue(Either.isRight(yield* Effect.either(prober.check)))
      // The aborted sockets reach the server's side a moment later: polled, with a deadline.
      for (let i = 0; i < 200 && open() > 1; i++) yield* Effect.sleep("10 millis")
      assert.isAtMost(open(), 1)
    }).pipe(Effect.provide(keepAliveHttpClient()), Effect.scoped)
  )

  it.live("200 is healthy; a redirect to a 200 is followed, as aiohttp's GET follows it", () =>
    Effect.gen(function* () {
      const { base } = yield* consumer
      assert.isTrue(Either.isRight(yield* probe(`${base}/ok`)))
      assert.isTrue(Either.isRight(yield* probe(`${base}/moved`)))
    }).pipe(Effect.scoped)
  )

  it.live("another status, another 2xx too, is a failure naming it (the Python worker takes 200 only); a redirect loop ends as a failure, not a hang", () =>
    Effect.gen(function* () {
      const { base } = yield* consumer
      const down = yield* probe(`${base}/down`)
      assert.deepStrictEqual(Either.isLeft(down) ? [down.left.kind, down.left.message] : [], ["status", "Healthcheck failed with status: 503"])
      const noContent = yield* probe(`${base}/nocontent`)
      assert.deepStrictEqual(Either.isLeft(noContent) ? [noContent.left.kind, noContent.left.message] : [], ["status", "Healthcheck failed with status: 204"])
      const loop = yield* probe(`${base}/loop`)
      assert.isTrue(Either.isLeft(loop))
    }).pipe(Effect.scoped)
  )

  it.live("a port nothing listens on is a refused check, said with Node's code", () =>
    Effect.gen(function* () {
      const closed = yield* Effect.scoped(Effect.map(consumer, ({ base }) => base))
      const refused = yield* probe(`${closed}/ok`)
      assert.deepStrictEqual(Either.isLeft(refused) ? [refused.left.kind, refused.left.message] : [], ["refused", "Healthcheck failed: ECONNREFUSED"])
    })
  )

  it.scoped("a consumer that takes the connection and never answers is a timed-out check, the one kind a busy worker forgives (review 49 I1)", () =>
    Effect.gen(function* () {
      const accepted = yield* Deferred.make<void>()
      const taken: Array<Socket> = []
      const silent = yield* Effect.acquireRelease(
        Effect.async<NetServer>((resume) => {
          const server = createNetServer((socket) => {
            socket.on("error", () => undefined)
            taken.push(socket)
            Deferred.unsafeDone(accepted, Exit.void)
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            for (const socket of taken) socket.destroy()
            server.close(() => resume(Effect.void))
          })
      )
      const address = silent.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const checked = yield* Effect.fork(probe(`http://127.0.0.1:${port}/health`, "300 millis"))
      yield* Deferred.await(accepted)
      yield* TestClock.adjust("300 millis")
      const outcome = yield* Fiber.join(checked)
      assert.deepStrictEqual(Either.isLeft(outcome) ? [outcome.left.kind, outcome.left.message] : [], [
        "timeout",
        "Healthcheck failed: no answer within 300ms"
      ])
    })
  )

  it.live("a redirect Node's client cannot follow (another scheme, an impossible port) is one failed check, not a crash", () =>
    Effect.gen(function* () {
      const { base } = yield* consumer
      for (const path of ["/ftp", "/badport"]) {
        const failed = yield* probe(`${base}${path}`)
        assert.isTrue(Either.isLeft(failed), path)
        if (Either.isLeft(failed)) {
          assert.strictEqual(failed.left.kind, "transport")
          assert.match(failed.left.message, /^Healthcheck failed: TypeError: /)
        }
      }
    }).pipe(Effect.scoped)
  )

  it.scoped("from the configuration: BACKEND_HEALTH_URL is probed; without it nothing is, not even the stub on the control port", () =>
    Effect.gen(function* () {
      const { base } = yield* consumer
      const fromConfig = (settings: Partial<WorkerSettings>) =>
        Effect.flatMap(HealthProber, (prober) => Effect.either(prober.check)).pipe(
          Effect.provide(HealthProber.layerFromConfig),
          Effect.provide(testConfig(settings)),
          Effect.provide(NodeHttpClient.layer)
        )
      const down = yield* fromConfig({ backendHealthUrl: Option.some(`${base}/down`) })
      assert.isTrue(Either.isLeft(down) && down.left.message === "Healthcheck failed with status: 503")
      // The control port here (3, testConfig's) has no server: a probe of the stub would be refused.
      assert.isTrue(Either.isRight(yield* fromConfig({ backendHealthUrl: Option.none() })))
    })
  )
})

describe("what a failed connection says of the consumer", () => {
  it("a refused one that it is not listening; the worker's own want of descriptors nothing (probe 54 #2); any other a transport failure", () => {
    assert.deepStrictEqual(
      ["ECONNREFUSED", "EMFILE", "ENFILE", "ECONNRESET", "EHOSTUNREACH", undefined].map(connectionFailureKind),
      ["refused", "local", "local", "transport", "transport", "transport"]
    )
  })
})
