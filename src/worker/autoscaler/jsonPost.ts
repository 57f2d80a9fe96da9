/**
 * One POST of a JSON text to the autoscaler: the answer's status, or why there was none.
 *
 * Reports and deletions go through `makeNodeJsonPost`, a thin Effect over `node:http(s)` with keep-alive
 * agents. Through `@effect/platform`'s client a small post measured 1–3 ms of CPU and a second's
 * `/delete_requests/` batch (400 KB) as much again to encode its text; each tick stalled the session routes for
 * that long (docs/performance.md). `jsonPostFromHttpClient` posts through any `HttpClient` (tests' fakes).
 */
import type { IncomingMessage } from "node:http"
import type { LookupFunction } from "node:net"
import type { Duplex } from "node:stream"
import { Agent as HttpAgent, request as httpRequest } from "node:http"
import { Agent as HttpsAgent, request as httpsRequest } from "node:https"
import { HttpBody, HttpClient, HttpClientRequest } from "@effect/platform"
import { Context, Data, Effect, Layer, Stream } from "effect"
import { transportCause } from "../../shared/errno.js"
import { hostsFirstLookup } from "../../shared/hostsFirstLookup.js"

/** No answer: `reason` is Node's errno (`ECONNREFUSED`, …) or "transport error"; never the URL. */
export class PostFailed extends Data.TaggedError("PostFailed")<{ readonly reason: string }> {}

/**
 * POST `json` (a JSON text) to `url`; succeeds with the answer's status once its body was read. `onStatus` hears the
 * status as soon as it arrives, before the body: an attempt stopped while the body is still coming was answered all
 * the same, and what the answer accepted must not be sent again.
 */
export type JsonPost = (url: string, json: string, onStatus?: (status: number) => void) => Effect.Effect<number, PostFailed>

/** 307/308 hops followed per post, as the framework's client (aiohttp) follows them. */
const MAX_REDIRECTS = 3

/**
 * Where a `307`/`308` answer to a post at `from` sends it again, with its method and body: an http→https front, or a
 * path moved on the same server (probe 50 L2: every report was refused, and the autoscaler never heard of a worker
 * that took sessions). Null for any other answer, and for any other place: the body carries `MASTER_TOKEN`, and a
 * hop to another port of the same host could be this worker's own control port (review 55 M1: a redirect to
 * `/recycle` recycled it). So the host stays the same, and so does the port unless the hop goes from http to https.
 */
export const redirectTarget = (from: string, status: number, location: string | undefined): string | null => {
  if ((status !== 307 && status !== 308) || location === undefined || !URL.canParse(location, from)) return null
  const before = new URL(from)
  const next = new URL(location, from)
  if (next.hostname !== before.hostname) return null
  const samePlace = next.protocol === before.protocol && next.port === before.port
  const upgrade = before.protocol === "http:" && next.protocol === "https:"
  return samePlace || upgrade ? next.href : null
}

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
    // `close` follows the body's end, or the connection's loss; an upgrade's answer is closed already.
    const done = () => resume(Effect.void)
    if (response.closed) return done()
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

/** `lookup`: how a host's addresses are found; a local autoscaler's `localhost` without the thread pool (probe 57 #1). */
export const makeNodeJsonPost = (lookup: LookupFunction = hostsFirstLookup()): NodeJsonPost => {
  // Reports go to the same few addresses every second or so; over HTTPS a new connection is a handshake.
  const agents = { http: new HttpAgent({ keepAlive: true, lookup }), https: new HttpsAgent({ keepAlive: true, lookup }) }
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
        // The agents' own, for a connection made without them too (the post sent again).
        lookup,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(json) }
      }
      let settled = false
      const onResponse = (response: IncomingMessage) => {
        settled = true
        resume(Effect.succeed(response))
      }
      const start = (again: boolean) => {
        // Again on a connection of its own: the pool's other kept ones to that address are as stale (review 64 #1: a
        // report's and a deletion batch's, both reset after a pause).
        const using = again ? { ...options, agent: false as const } : options
        const request = secure ? httpsRequest(target, using, onResponse) : httpRequest(target, using, onResponse)
        // A `101` hands the connection over and ends the request with no `response` event, so the post waited out its
        // attempt's time-out (probe 54 #5). It is an answer like any other status; the connection is ours to close.
        request.on("upgrade", (response: IncomingMessage, socket: Duplex) => {
          socket.destroy()
          response.destroy()
          onResponse(response)
        })
        // Kept for the request's whole life: an error after the answer (or after an abort) must not go unhandled.
        request.on("error", (error) => {
          if (settled) return
          // A kept connection the server had closed (its idle time-out, while this process was paused) fails the post
          // before any answer: sent once more on a new one (probe 57 #4: the stop's last report was lost so). Were it
          // read after all, the same report or deletion records twice change nothing at the autoscaler.
          const code = (error as NodeJS.ErrnoException).code
          if (!again && request.reusedSocket && (code === "ECONNRESET" || code === "EPIPE")) return void (current = start(true))
          settled = true
          resume(Effect.fail(new PostFailed({ reason: transportCause(error) })))
        })
        request.end(json)
        return request
      }
      let current = start(false)
      return Effect.sync(() => {
        settled = true
        current.destroy()
      })
    })
  const post = (url: string, json: string, onStatus: ((status: number) => void) | undefined, hops: number): Effect.Effect<number, PostFailed> =>
    Effect.flatMap(send(url, json), (response) => {
      const status = response.statusCode ?? 0
      const drained = Effect.timeoutOption(drain(response), ANSWER_DRAIN_TIMEOUT)
      const next = hops < MAX_REDIRECTS ? redirectTarget(url, status, response.headers.location) : null
      if (next !== null) return Effect.zipRight(drained, post(next, json, onStatus, hops + 1))
      onStatus?.(status)
      return Effect.as(drained, status)
    })
  return {
    post: (url, json, onStatus) => post(url, json, onStatus, 0),
    close: () => {
      agents.http.destroy()
      agents.https.destroy()
    }
  }
}

/** The same contract over an `HttpClient`. */
export const jsonPostFromHttpClient = (client: HttpClient.HttpClient): JsonPost => {
  const scoped = HttpClient.withScope(client)
  const post = (url: string, json: string, onStatus: ((status: number) => void) | undefined, hops: number): Effect.Effect<number, PostFailed> =>
    HttpClientRequest.post(url).pipe(
      HttpClientRequest.setBody(HttpBody.text(json, "application/json")),
      scoped.execute,
      Effect.flatMap((response): Effect.Effect<number | string> => {
        // The body is read and dropped (briefly, errors ignored) so the connection returns to the pool, not aborted;
        // never kept, however much of it comes.
        const drained = Effect.ignore(Effect.timeout(Stream.runDrain(response.stream), ANSWER_DRAIN_TIMEOUT))
        const next = hops < MAX_REDIRECTS ? redirectTarget(url, response.status, response.headers["location"]) : null
        if (next !== null) return Effect.as(drained, next)
        onStatus?.(response.status)
        return Effect.as(drained, response.status)
      }),
      Effect.scoped,
      Effect.mapError((error) => new PostFailed({ reason: transportCause(error.cause ?? error) })),
      Effect.flatMap((answer) => (typeof answer === "string" ? post(answer, json, onStatus, hops + 1) : Effect.succeed(answer)))
    )
  return (url, json, onStatus) => post(url, json, onStatus, 0)
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
