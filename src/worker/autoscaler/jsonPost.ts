/**
 * One POST of a JSON text to the autoscaler: the answer's status, or why there was none.
 *
 * Reports and deletions go through `makeNodeJsonPost`, a thin Effect over `node:http(s)` with keep-alive
 * agents. Through `@effect/platform`'s client a small post measured 1–3 ms of CPU and a second's
 * `/delete_requests/` batch (400 KB) as much again to encode its text; each tick stalled the session routes for
 * that long (docs/performance.md). `jsonPostFromHttpClient` posts through any `HttpClient` (tests' fakes).
 */
import type { IncomingMessage } from "node:http"
import { Agent as HttpAgent, request as httpRequest } from "node:http"
import { Agent as HttpsAgent, request as httpsRequest } from "node:https"
import { HttpBody, HttpClient, HttpClientRequest } from "@effect/platform"
import { Context, Data, Effect, Layer, Stream } from "effect"
import { transportCause } from "../../shared/errno.js"

/** No answer: `reason` is Node's errno (`ECONNREFUSED`, …) or "transport error"; never the URL. */
export class PostFailed extends Data.TaggedError("PostFailed")<{ readonly reason: string }> {}

/**
 * POST `json` (a JSON text) to `url`; succeeds with the answer's status once its body was read. `onStatus` hears the
 * status as soon as it arrives, before the body: an attempt stopped while the body is still coming was answered all
 * the same, and what the answer accepted must not be sent again.
 */
export type JsonPost = (url: string, json: string, onStatus?: (status: number) => void) => Effect.Effect<number, PostFailed>

/** How long an answer's body may take to arrive before the connection is given up instead of reused. */
const ANSWER_DRAIN_TIMEOUT = "1 second"

/**
 * The most of an answer's body read to keep its connection: the autoscaler's answers are a few bytes. Past it the
 * connection is closed: reading an answer that never ends for the whole drain time cost each post a second of CPU
 * and the process 70 MB (probe 15).
 */
const MAX_DRAINED_BYTES = 64 * 1024

/** Read (and drop) the rest of an answer, so its connection goes back to the agent's pool. */
const drain = (response: IncomingMessage): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    // `close` follows the body's end, or the connection's loss.
    const done = () => resume(Effect.void)
    response.once("close", done)
    let drained = 0
    response.on("data", (chunk: Buffer) => {
      drained += chunk.length
      if (drained > MAX_DRAINED_BYTES) response.destroy()
    })
    // Given up (the drain timed out): the connection is closed rather than reused.
    return Effect.sync(() => {
      response.off("close", done)
      response.destroy()
    })
  })

export interface NodeJsonPost {
  readonly post: JsonPost
  /** Close the agents' idle connections (at shutdown, after the last report). */
  readonly close: () => void
}

export const makeNodeJsonPost = (): NodeJsonPost => {
  // Reports go to the same few addresses every second or so; over HTTPS a new connection is a handshake.
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) }
  const send = (url: string, json: string) =>
    Effect.async<IncomingMessage, PostFailed>((resume) => {
      let target: URL
      try {
        target = new URL(url)
      } catch {
        return resume(Effect.fail(new PostFailed({ reason: "invalid address" })))
      }
      const secure = target.protocol === "https:"
      const options = {
        method: "POST",
        agent: secure ? agents.https : agents.http,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(json) }
      }
      let settled = false
      const onResponse = (response: IncomingMessage) => {
        settled = true
        resume(Effect.succeed(response))
      }
      const request = secure ? httpsRequest(target, options, onResponse) : httpRequest(target, options, onResponse)
      // Kept for the request's whole life: an error after the answer (or after an abort) must not go unhandled.
      request.on("error", (error) => {
        if (settled) return
        settled = true
        resume(Effect.fail(new PostFailed({ reason: transportCause(error) })))
      })
      request.end(json)
      return Effect.sync(() => {
        settled = true
        request.destroy()
      })
    })
  return {
    post: (url, json, onStatus) =>
      Effect.flatMap(send(url, json), (response) => {
        onStatus?.(response.statusCode ?? 0)
        return Effect.as(Effect.timeoutOption(drain(response), ANSWER_DRAIN_TIMEOUT), response.statusCode ?? 0)
      }),
    close: () => {
      agents.http.destroy()
      agents.https.destroy()
    }
  }
}

/** The same contract over an `HttpClient`. */
export const jsonPostFromHttpClient = (client: HttpClient.HttpClient): JsonPost => {
  const scoped = HttpClient.withScope(client)
  return (url, json, onStatus) =>
    HttpClientRequest.post(url).pipe(
      HttpClientRequest.setBody(HttpBody.text(json, "application/json")),
      scoped.execute,
      Effect.tap((response) => onStatus?.(response.status)),
      // The body is read and dropped (briefly, errors ignored) so the connection returns to the pool, not aborted;
      // never kept, however much of it comes.
      Effect.flatMap((response) => Effect.as(Effect.ignore(Effect.timeout(Stream.runDrain(response.stream), ANSWER_DRAIN_TIMEOUT)), response.status)),
      Effect.scoped,
      Effect.mapError((error) => new PostFailed({ reason: transportCause(error.cause ?? error) }))
    )
}

/** How the reporter posts. */
export class AutoscalerPost extends Context.Tag("worker/AutoscalerPost")<AutoscalerPost, JsonPost>() {
  /** Over `node:http(s)`; the agents close with the layer's scope, after the last report. */
  static readonly node: Layer.Layer<AutoscalerPost> = Layer.scoped(
    AutoscalerPost,
    Effect.map(
      Effect.acquireRelease(Effect.sync(makeNodeJsonPost), (poster) => Effect.sync(poster.close)),
      (poster) => poster.post
    )
  )
  /** Through the `HttpClient` in context (tests' fakes). */
  static readonly fromHttpClient: Layer.Layer<AutoscalerPost, never, HttpClient.HttpClient> = Layer.effect(
    AutoscalerPost,
    Effect.map(HttpClient.HttpClient, jsonPostFromHttpClient)
  )
}
