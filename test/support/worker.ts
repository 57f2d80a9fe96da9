import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { HttpServer } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Context, Effect, Layer, Option, Queue } from "effect"
import { SignatureVerifier } from "../../src/worker/auth/SignatureVerifier.js"
import { LoadMetrics } from "../../src/worker/autoscaler/LoadMetrics.js"
import { CallbackPoster, defaultPolicy } from "../../src/worker/callbacks/CallbackPoster.js"
import type { WorkerSettings } from "../../src/worker/config/WorkerConfig.js"
import { controlRouter } from "../../src/worker/http/ControlHttp.js"
import { serveApp, serverLayer } from "../../src/shared/listen.js"
import { publicRouter, webhookRouter } from "../../src/worker/http/PublicHttp.js"
import { SlotPool } from "../../src/worker/slots/SlotPool.js"
import { testConfig } from "./layers.js"

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: unknown
}

/** One HTTP call with `fetch`: a Promise at the test's edge, turned into an Effect. */
export const call = (
  base: string,
  path: string,
  options: { readonly method?: string; readonly body?: string | object; readonly headers?: Record<string, string> } = {}
): Effect.Effect<Reply> =>
  Effect.promise(async () => {
    const body = options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body)
    const response = await fetch(base + path, {
      method: options.method ?? "POST",
      ...(body === undefined ? {} : { body }),
      headers: { "content-type": "application/json", ...options.headers }
    })
    const text = await response.text()
    let json: unknown = null
    try {
      json = JSON.parse(text)
    } catch {
      json = null
    }
    return { status: response.status, headers: response.headers, text, json }
  })

/**
 * The worker's three listeners on loopback port 0, over one set of services. With `pubkeyUrl`, the
 * autoscaler signature is checked against the key served there; otherwise every request is accepted.
 */
export const startWorker = (settings: Partial<WorkerSettings> = {}, options: { readonly pubkeyUrl?: string } = {}) =>
  Effect.gen(function* () {
    const verifier =
      options.pubkeyUrl === undefined ? SignatureVerifier.layerUnsecured : SignatureVerifier.layer({ pubkeyUrl: options.pubkeyUrl })
    const services = yield* Layer.build(
      SlotPool.Default.pipe(
        // Under TestClock a bounded drain would wait for time nobody moves: tests end without one.
        Layer.provideMerge(CallbackPoster.layer({ ...defaultPolicy, drainTimeout: "0 millis" })),
        Layer.provideMerge(verifier),
        Layer.provideMerge(LoadMetrics.Default),
        Layer.provideMerge(NodeHttpClient.layerUndici),
        Layer.provideMerge(testConfig(settings))
      )
    )
    const serve = <E, R>(app: Parameters<typeof serveApp<E, R>>[0], name: string) =>
      Effect.gen(function* () {
        const context = yield* Layer.build(
          serveApp(app, name).pipe(Layer.provideMerge(serverLayer({ name, host: "127.0.0.1", port: 0 })))
        ).pipe(Effect.provide(services))
        const address = Context.get(context, HttpServer.HttpServer).address
        return address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
      })
    const stubHealth = Option.isNone(settings.backendHealthUrl ?? Option.none())
    return {
      publicUrl: yield* serve(publicRouter, "public"),
      webhookUrl: yield* serve(webhookRouter, "webhook"),
      controlUrl: yield* serve(controlRouter({ stubHealth }), "control"),
      pool: Context.get(services, SlotPool),
      metrics: Context.get(services, LoadMetrics),
      verifier: Context.get(services, SignatureVerifier)
    }
  })

export interface Received {
  readonly path: string
  readonly body: unknown
}

/**
 * A callback target on loopback port 0 that queues every body it gets. With `hang`, it never answers.
 */
export const startReceiver = (options: { readonly hang?: boolean; readonly status?: number } = {}) =>
  Effect.gen(function* () {
    const received = yield* Queue.unbounded<Received>()
    const server: Server = yield* Effect.acquireRelease(
      Effect.async<Server>((resume) => {
        const s = createServer((request: IncomingMessage, response) => {
          let text = ""
          request.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")))
          request.on("end", () => {
            Queue.unsafeOffer(received, { path: request.url ?? "", body: text === "" ? null : JSON.parse(text) })
            if (!options.hang) response.writeHead(options.status ?? 200).end()
          })
        })
        s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          s.closeAllConnections()
          s.close(() => resume(Effect.void))
        })
    )
    const address: AddressInfo | string | null = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return { url: `http://127.0.0.1:${port}`, received }
  })
