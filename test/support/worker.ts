import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Context, Effect, Layer, Queue, Schema } from "effect"
import { SignatureVerifier } from "../../src/worker/auth/SignatureVerifier.js"
import { LoadMetrics } from "../../src/worker/autoscaler/LoadMetrics.js"
import { CallbackPoster, type DeliveryPolicy } from "../../src/worker/callbacks/CallbackPoster.js"
import type { WorkerSettings } from "../../src/worker/config/WorkerConfig.js"
import { WorkerSelf } from "../../src/worker/callbacks/selfTarget.js"
import { Listeners } from "../../src/worker/http/Listeners.js"
import { StopSignal } from "../../src/worker/lifecycle/StopSignal.js"
import { WorkerMetrics } from "../../src/worker/metrics/WorkerMetrics.js"
import { SlotPool } from "../../src/worker/slots/SlotPool.js"
import { quietLogs, testConfig } from "./layers.js"

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: unknown
}

/** A reply's JSON decoded with a protocol Schema: the test fails on any other shape. */
export const decodeReply = <A, I>(schema: Schema.Schema<A, I>, reply: Reply): A => Schema.decodeUnknownSync(schema)(reply.json)

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
 * The worker's three listeners on loopback port 0, over one set of services, logging nothing. With
 * `pubkeyUrl`, the autoscaler signature is checked against the key served there; otherwise every request
 * is accepted.
 */
export const startWorker = (
  settings: Partial<WorkerSettings> = {},
  options: {
    readonly pubkeyUrl?: string
    readonly delivery?: Partial<DeliveryPolicy>
    /** Where the worker's log lines go (none by default): e.g. `capturedLogs().layer`. */
    readonly logs?: Layer.Layer<never>
  } = {}
) =>
  Effect.gen(function* () {
    const verifier =
      options.pubkeyUrl === undefined ? SignatureVerifier.layerUnsecured : SignatureVerifier.layer({ pubkeyUrl: options.pubkeyUrl })
    const context = yield* Layer.build(
      Listeners.DefaultWithoutDependencies.pipe(
        Layer.provideMerge(SlotPool.DefaultWithoutDependencies),
        Layer.provideMerge(
          Layer.mergeAll(
            // Under TestClock a bounded drain would wait for time nobody moves: tests end without one.
            CallbackPoster.layerWith({ drainTimeout: "0 millis", ...options.delivery }),
            LoadMetrics.Default,
            WorkerMetrics.Default,
            StopSignal.Default,
            WorkerSelf.Default,
            verifier
          )
        ),
        Layer.provideMerge(NodeHttpClient.layerUndici),
        Layer.provideMerge(testConfig({ workerPort: 0, workerHttpPort: 0, controlPort: 0, publicHost: "127.0.0.1", ...settings }))
      )
    )
    const [publicPort, webhookPort, controlPort] = Context.get(context, Listeners).ports
    return {
      publicUrl: `http://127.0.0.1:${publicPort}`,
      webhookUrl: `http://127.0.0.1:${webhookPort}`,
      controlUrl: `http://127.0.0.1:${controlPort}`,
      pool: Context.get(context, SlotPool),
      metrics: Context.get(context, LoadMetrics),
      verifier: Context.get(context, SignatureVerifier),
      outbox: Context.get(context, CallbackPoster),
      stop: Context.get(context, StopSignal)
    }
  }).pipe(Effect.provide(options.logs ?? quietLogs))

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
