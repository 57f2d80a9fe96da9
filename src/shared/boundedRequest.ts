/**
 * A request's body, read by a server of ours built on the platform (the local serverless), within a size limit.
 *
 * The platform's own limit (`HttpIncomingMessage.MaxBodySize`) and `boundedText` both end the read by
 * destroying the request stream, which destroys the socket: the client gets no answer at all. Here reading
 * stops at the first byte over the limit and the stream is only paused, so the caller can still answer 413
 * (with `connection: close`: the rest of the body is never read).
 */
import { isUtf8 } from "node:buffer"
import type { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Data, Effect } from "effect"
import { BodyTooLarge } from "./boundedBody.js"
import { MAX_JSON_DEPTH, parseBoundedJson } from "./boundedJson.js"
import { ChunkAccumulator } from "./chunkAccumulator.js"

/** The most a request to one of our platform-served apps may carry: the worker's own limit. */
export const MAX_REQUEST_BYTES = 1024 * 1024

/** A request body that is not JSON. */
export class BodyNotJson extends Data.TaggedError("BodyNotJson")<{}> {
  override get message() {
    return "invalid JSON"
  }
}

/** A JSON body nested deeper than the limit: refused before anything walks it. */
export class BodyTooDeep extends Data.TaggedError("BodyTooDeep")<{ readonly limit: number }> {
  override get message() {
    return `invalid JSON: nested deeper than ${this.limit} levels`
  }
}

/** The client went away before its body ended. */
export class BodyAborted extends Data.TaggedError("BodyAborted")<{}> {}

/** The body as UTF-8 text, failing with `BodyTooLarge` at the first byte past `limit`, and with `BodyNotJson` when it is not UTF-8. */
export const boundedRequestText = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number = MAX_REQUEST_BYTES
): Effect.Effect<string, BodyTooLarge | BodyAborted | BodyNotJson> =>
  Effect.async((resume) => {
    const source = NodeHttpServerRequest.toIncomingMessage(request)
    const body = new ChunkAccumulator()
    const stop = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onAborted)
      source.off("close", onAborted)
    }
    const onData = (chunk: Buffer) => {
      if (body.length + chunk.length <= limit) return void body.push(chunk, limit)
      stop()
      body.clear()
      source.pause()
      resume(Effect.fail(new BodyTooLarge({ limit })))
    }
    const onEnd = () => {
      stop()
      const raw = body.bytes()
      // Not UTF-8 is not JSON (RFC 8259 §8.1); a lenient decode would make different bytes read alike.
      resume(isUtf8(raw) ? Effect.succeed(raw.toString("utf8")) : Effect.fail(new BodyNotJson()))
    }
    const onAborted = () => {
      stop()
      resume(Effect.fail(new BodyAborted()))
    }
    source.on("data", onData)
    source.on("end", onEnd)
    source.on("error", onAborted)
    source.on("close", onAborted)
    return Effect.sync(stop)
  })

/** The body as JSON (an empty body is `null`, as the platform's `json` reads it); decoding is the caller's. */
export const boundedRequestJson = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number = MAX_REQUEST_BYTES
): Effect.Effect<unknown, BodyTooLarge | BodyAborted | BodyNotJson | BodyTooDeep> =>
  Effect.flatMap(boundedRequestText(request, limit), (text): Effect.Effect<unknown, BodyNotJson | BodyTooDeep> => {
    if (text === "") return Effect.succeed(null)
    const parsed = parseBoundedJson(text, MAX_JSON_DEPTH)
    switch (parsed._tag) {
      case "Parsed":
        return Effect.succeed(parsed.value)
      case "Invalid":
        return Effect.fail(new BodyNotJson())
      case "TooDeep":
        return Effect.fail(new BodyTooDeep({ limit: parsed.limit }))
    }
  })
