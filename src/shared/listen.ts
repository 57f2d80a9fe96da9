/**
 * One HTTP listener: an app served on a host and port. The worker runs three (public, webhook,
 * control), each with its own Node server, so they start and stop independently of one another.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { Server as TlsServer } from "node:tls"
import { HttpIncomingMessage, HttpMiddleware, HttpServer, type HttpApp } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Deferred, Duration, Effect, Exit, FiberSet, Layer, Option } from "effect"
import { BodyTooLarge } from "./boundedBody.js"
import { MAX_REQUEST_BYTES } from "./boundedRequest.js"
import { cutPastMaxPieces } from "./bodyPieces.js"
import { declaresBody } from "./declaresBody.js"
import { makeLingeringClose } from "./lingeringClose.js"
import { logListening } from "./listeningLine.js"

export interface ListenOptions {
  readonly name: string
  readonly host: string
  readonly port: number
  /** The Node HTTP server to use (one with other settings); a plain one by default. */
  readonly server?: () => Server
  /** At close, how long a connection still busy (or silent, or half-sent) is waited for before it is cut; 2 s by default. */
  readonly closeGrace?: Duration.DurationInput
}

/**
 * Stop `server` within `grace`: it stops accepting, idle connections close at once, a connection with answers still
 * to send closes after the last of them (which says `Connection: close` if its headers are not out yet: a request
 * already handled keeps its answer), and the rest are cut after `grace`. The platform's own release is a bare `server.close`, which waits for every connection to end:
 * one client that connects and sends nothing (or half a request) would hold the program's stop, and every finalizer
 * behind it, for ever.
 */
const closeWithin = (
  server: Server,
  latestAnswers: ReadonlyMap<Socket, ServerResponse | undefined>,
  lingeringClose: (socket: Socket) => void,
  grace: Duration.DurationInput
) =>
  Effect.suspend(() => {
    if (!server.listening) return Effect.void
    return Effect.flatMap(Deferred.make<void>(), (closed) => {
      server.close(() => Deferred.unsafeDone(closed, Exit.void))
      server.closeIdleConnections()
      for (const [socket, answer] of latestAnswers) {
        if (answer === undefined || answer.writableFinished) continue
        // Node closes the connection after an answer it wrote with `Connection: close` (through `destroySoon`).
        if (!answer.headersSent) answer.shouldKeepAlive = false
        else answer.once("finish", () => lingeringClose(socket))
      }
      return Effect.interruptible(Deferred.await(closed)).pipe(
        Effect.timeoutOption(grace),
        Effect.flatMap((finished) =>
          Option.isSome(finished) ? Effect.void : Effect.zipRight(Effect.sync(() => server.closeAllConnections()), Deferred.await(closed))
        )
      )
    })
  })

/**
 * Make `res` say `Connection: close` if, when its headers are written, `req`'s body has not all come. Node writes the
 * headers in `writeHead` (also for an answer without an explicit one), and closes a connection after an answer that
 * says so (through `destroySoon`: here a lingering close).
 */
const closesIfBodyComing = (req: IncomingMessage, res: ServerResponse): void => {
  const writeHead = res.writeHead
  res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse["writeHead"]>) {
    if (!req.complete) this.shouldKeepAlive = false
    return writeHead.apply(this, args)
  } as ServerResponse["writeHead"]
}

/** The server itself, for callers that need its bound address (tests bind port 0). */
export const serverLayer = (options: ListenOptions) =>
  Layer.scoped(
    HttpServer.HttpServer,
    Effect.gen(function* () {
      const server = (options.server ?? (() => createServer()))()
      // Its connections are tracked from `connection`, which for TLS is not the socket the requests come on.
      if (server instanceof TlsServer) return yield* Effect.dieMessage(`${options.name}: serverLayer serves plain HTTP only`)
      // Every header kept, as the worker's listeners keep them: a browser guard must not read only the first 2,000 (probe 51 L6).
      server.maxHeadersCount = 0
      // `Expect: 100-continue`: a body declared past the limit is refused before the client sends it (Node would say
      // `100 Continue`, and the body would be read up to the limit only to be refused); any other is asked for.
      server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
        // Stopping (the platform's handler is gone): the fallback's 503 at once, without asking for the body.
        if (server.listenerCount("request") <= 1) return void server.emit("request", req, res)
        if (Number(req.headers["content-length"] ?? "0") > MAX_REQUEST_BYTES) {
          res.writeHead(413, { "content-type": "application/json", connection: "close" })
          res.end(JSON.stringify({ error: new BodyTooLarge({ limit: MAX_REQUEST_BYTES }).message }))
          return
        }
        res.writeContinue()
        server.emit("request", req, res)
      })
      // The platform takes its request handler off when its scope closes, before `closeWithin`'s grace: a request whose
      // headers complete during the grace (half-sent at the stop) would reach no handler, and hold its connection, with
      // no answer, for the grace. It is told the server is stopping, and the connection closes after.
      // Each connection's latest answer: the stop closes the connection after it, so that requests pipelined behind
      // the one in progress, already handled, are answered too.
      const latestAnswers = new Map<Socket, ServerResponse | undefined>()
      server.on("request", (req: IncomingMessage, res: ServerResponse) => {
        if (latestAnswers.has(req.socket)) latestAnswers.set(req.socket, res)
        // A body still coming when its answer begins (the app did not read it: an unknown path, a wrong method) would be
        // parsed by Node to its end, outside every limit: the answer says `Connection: close`, and the connection closes
        // after it (probe 41 M1; review 46: closed unannounced, a kept-alive client's next request met a reset).
        if (declaresBody(req.headers)) {
          closesIfBodyComing(req, res)
          cutPastMaxPieces(req)
        }
        if (server.listenerCount("request") > 1) return
        res.writeHead(503, { "content-type": "application/json", connection: "close" })
        res.end(JSON.stringify({ error: "the server is stopping" }))
      })
      // Node closes a connection after an answer marked last (a `413`, a `Connection: close`) with `destroySoon`: it
      // lingers instead, so that a client still sending does not lose that answer to a reset.
      const background = yield* FiberSet.make()
      const { close: lingeringClose } = makeLingeringClose(yield* FiberSet.runtime(background)<never>())
      server.on("connection", (socket: Socket) => {
        socket.destroySoon = () => lingeringClose(socket)
        latestAnswers.set(socket, undefined)
        socket.once("close", () => latestAnswers.delete(socket))
      })
      const httpServer = yield* NodeHttpServer.make(() => server, { host: options.host, port: options.port })
      // Runs before the platform's release, which then finds the server closed.
      yield* Effect.addFinalizer(() => closeWithin(server, latestAnswers, lingeringClose, options.closeGrace ?? Duration.seconds(2)))
      return httpServer
    })
  )

/**
 * Serve `app`, its request bodies bounded, with no per-request tracing span or logger. It logs
 * `<name> listening on <address>`, unless the program says so itself (`announce: false`).
 */
export const serveApp = <E, R>(app: HttpApp.Default<E, R>, name: string, options: { readonly announce?: boolean } = {}) => {
  // Every body an app reads through the platform (`json`, `text`, `schemaBodyJson`) is bounded: unbounded, one
  // request without end grows a string until the process dies.
  const bounded = HttpIncomingMessage.withMaxBodySize(app, Option.some(MAX_REQUEST_BYTES))
  const served = HttpServer.serve(bounded).pipe(HttpMiddleware.withTracerDisabledWhen(() => true))
  return options.announce === false
    ? served
    : Layer.merge(
        served,
        Layer.effectDiscard(HttpServer.addressWith((address) => logListening(`${name} listening on ${HttpServer.formatAddress(address)}`)))
      )
}

export const listen = <E, R>(app: HttpApp.Default<E, R>, options: ListenOptions) =>
  serveApp(app, options.name).pipe(Layer.provide(serverLayer(options)))
