/**
 * Reading and decoding request bodies. Every failure is a typed error: an unreadable or non-JSON body
 * is `InvalidJson`, an oversized one `BodyTooLarge`, a Schema mismatch `InvalidField` naming the field.
 */
import { HttpIncomingMessage, HttpServerRequest } from "@effect/platform"
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import { BodyTooLarge, InvalidField, InvalidJson } from "../domain/errors.js"

const parseJson = Schema.decodeUnknownEither(Schema.parseJson())

/** The request body as a JSON value, read with a size limit. */
export const readJsonBody = (limit: number): Effect.Effect<unknown, InvalidJson | BodyTooLarge, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > limit) return yield* new BodyTooLarge({ limit })
    const text = yield* request.text.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(limit)),
      // A chunked body has no content-length: the stream reader stops it at the limit.
      Effect.mapError((error) =>
        error.cause instanceof Error && error.cause.message === "maxBytes exceeded"
          ? new BodyTooLarge({ limit })
          : new InvalidJson()
      )
    )
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
