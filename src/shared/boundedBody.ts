/**
 * A message body from another host, read with a size limit. Unbounded, an answer without end grows one string
 * until V8's limit throws `RangeError: Invalid string length` in a stream handler, outside any fiber, and the
 * process dies; and undici's client honours no size limit of Effect's. So the bytes are counted here, for any
 * client, and reading stops (the stream is released) at the first byte over the limit.
 */
import type { HttpIncomingMessage } from "@effect/platform"
import { Data, Effect, Schema, Stream } from "effect"
import { parseBoundedJsonWith } from "./boundedJson.js"
import { ChunkAccumulator } from "./chunkAccumulator.js"

/** The most an answer of a control plane or a worker may carry: endpoint lists, `/route/`, session answers, `/sessions`, `/status`. */
export const MAX_ANSWER_BYTES = 1024 * 1024

/** A body went past its limit; nothing more of it was read. */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly limit: number }> {
  override get message() {
    return `the body is larger than ${Math.round(this.limit / 1024)} KB`
  }
}

/** The body as UTF-8 text, failing with `BodyTooLarge` past `limit` bytes. */
export const boundedText = <E>(message: HttpIncomingMessage.HttpIncomingMessage<E>, limit: number = MAX_ANSWER_BYTES): Effect.Effect<string, E | BodyTooLarge> =>
  Effect.suspend(() => {
    const body = new ChunkAccumulator()
    return message.stream.pipe(
      Stream.runForEach((chunk) => {
        if (body.length + chunk.length > limit) return Effect.fail(new BodyTooLarge({ limit }))
        body.push(chunk, limit)
        return Effect.void
      }),
      Effect.map(() => body.bytes().toString("utf8"))
    )
  })

/** The body as JSON decoded with `schema`, read within `limit` bytes: `HttpClientResponse.schemaBodyJson`, bounded. */
export const boundedJson =
  <A, I, R>(schema: Schema.Schema<A, I, R>, limit: number = MAX_ANSWER_BYTES) =>
  <E>(message: HttpIncomingMessage.HttpIncomingMessage<E>) =>
    Effect.flatMap(boundedText(message, limit), (text) => Schema.decodeUnknown(parseBoundedJsonWith(schema))(text))
