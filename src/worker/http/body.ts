/**
 * Reading and decoding request bodies. Every failure is a typed error: an unreadable or non-JSON body
 * is `InvalidJson`, an oversized one `BodyTooLarge`, a Schema mismatch `InvalidField` naming the field.
 */
import type { IncomingMessage } from "node:http"
import { HttpServerRequest } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect, Either, ParseResult, Schema } from "effect"
import { BodyTooLarge, InvalidField, InvalidJson } from "./errors.js"

const parseJson = Schema.decodeUnknownEither(Schema.parseJson())

/**
 * The body as UTF-8 text, read straight from Node's request. The platform's `request.text` does the
 * same with a cached Effect per request; this measured ~25% less CPU per create/end cycle, and it
 * stops an oversized chunked body (no content-length) with a typed `BodyTooLarge`.
 */
const readText = (source: IncomingMessage, limit: number): Effect.Effect<string, InvalidJson | BodyTooLarge> =>
  Effect.async<string, InvalidJson | BodyTooLarge>((resume) => {
    const chunks: Array<Buffer> = []
    let bytes = 0
    const cleanup = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
    }
    function onData(chunk: Buffer) {
      bytes += chunk.length
      if (bytes <= limit) return void chunks.push(chunk)
      // Stop reading and answer 413; Node discards the rest of the body after the response (bounded
      // by its request timeout), so the client gets the 413 rather than a reset connection.
      cleanup()
      chunks.length = 0
      resume(Effect.fail(new BodyTooLarge({ limit })))
    }
    function onEnd() {
      cleanup()
      resume(Effect.succeed(Buffer.concat(chunks).toString("utf8")))
    }
    function onError() {
      cleanup()
      resume(Effect.fail(new InvalidJson()))
    }
    source.on("data", onData)
    source.once("end", onEnd)
    source.once("error", onError)
    return Effect.sync(cleanup)
  })

/** The request body as a JSON value, read with a size limit. */
export const readJsonBody = (limit: number): Effect.Effect<unknown, InvalidJson | BodyTooLarge, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > limit) return yield* new BodyTooLarge({ limit })
    const text = yield* readText(NodeHttpServerRequest.toIncomingMessage(request), limit)
    const parsed = parseJson(text)
    return Either.isRight(parsed) ? parsed.right : yield* new InvalidJson()
  })

/** The first problem of a Schema error, as the field's dotted path and a sentence about it. */
export const toInvalidField = (error: ParseResult.ParseError): InvalidField => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (issue === undefined) return new InvalidField({ field: "body", message: "the body is invalid" })
  if (issue.path.length === 0) return new InvalidField({ field: "body", message: "the body must be a JSON object" })
  const field = issue.path.map(String).join(".")
  const message = issue._tag === "Missing" ? `${field} is required` : `${field}: ${issue.message}`
  return new InvalidField({ field, message })
}

/** Decode a JSON value with `schema`, failing with `InvalidField`. */
export const decodeBody =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (value: unknown): Effect.Effect<A, InvalidField> =>
    Schema.decodeUnknown(schema, { errors: "first" })(value).pipe(Effect.mapError(toInvalidField))
