/**
 * One HTTP listener: an app served on a host and port. The worker runs three (public, webhook,
 * control), each with its own Node server, so they start and stop independently of one another.
 */
import { createServer, type Server } from "node:http"
import { HttpMiddleware, HttpServer, type HttpApp } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer } from "effect"

export interface ListenOptions {
  readonly name: string
  readonly host: string
  readonly port: number
  /** The Node server to use; plain HTTP by default (TLS passes an `https` server). */
  readonly server?: () => Server
}

/** The server itself, for callers that need its bound address (tests bind port 0). */
export const serverLayer = (options: ListenOptions) =>
  Layer.scoped(
    HttpServer.HttpServer,
    NodeHttpServer.make(options.server ?? (() => createServer()), { host: options.host, port: options.port })
  )

/**
 * Serve `app` with no per-request tracing span or logger: a null worker's hot path stays lean. It logs
 * `<name> listening on <address>`, unless the program says so itself (`announce: false`).
 */
export const serveApp = <E, R>(app: HttpApp.Default<E, R>, name: string, options: { readonly announce?: boolean } = {}) => {
  const served = HttpServer.serve(app).pipe(HttpMiddleware.withTracerDisabledWhen(() => true))
  return options.announce === false
    ? served
    : Layer.merge(
        served,
        Layer.effectDiscard(HttpServer.addressWith((address) => Effect.logInfo(`${name} listening on ${HttpServer.formatAddress(address)}`)))
      )
}

export const listen = <E, R>(app: HttpApp.Default<E, R>, options: ListenOptions) =>
  serveApp(app, options.name).pipe(Layer.provide(serverLayer(options)))
