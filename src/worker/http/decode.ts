/**
 * Request bodies to typed values: every decode failure is `InvalidField` naming the field. Messages name
 * what was expected and never quote the value (a value can be a megabyte, or a secret).
 */
import { Either, ParseResult, Schema } from "effect"
import { InvalidField, type InvalidJson, refusals } from "../errors.js"

const MESSAGE_LIMIT = 200

/** A body that is JSON but not an object. */
export const notAnObject = new InvalidField({ field: "body", message: "the body must be a JSON object" })

/** The first problem of a Schema error, as the field's dotted path and a sentence about it. */
export const toInvalidField = (error: ParseResult.ParseError): InvalidField => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (issue === undefined) return new InvalidField({ field: "body", message: "the body is invalid" })
  if (issue.path.length === 0) return notAnObject
  const field = issue.path.map(String).join(".")
  const text = issue._tag === "Missing" ? "is required" : issue.message.length > MESSAGE_LIMIT ? `${issue.message.slice(0, MESSAGE_LIMIT)}…` : issue.message
  return new InvalidField({ field, message: issue._tag === "Missing" ? `${field} is required` : `${field}: ${text}` })
}

/**
 * A decoder for `schema`: compiled once, synchronous, first error only. Its `Either` is also an Effect.
 * `fast`, when given, decodes the common shape by hand and must agree with the Schema (or answer `undefined`).
 */
export const bodyDecoder = <A, I>(schema: Schema.Schema<A, I>, fast?: (body: unknown) => A | undefined) => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "first" })
  return (body: unknown): Either.Either<A, InvalidField | InvalidJson> => {
    // No body at all is what the framework calls invalid JSON.
    if (body === undefined) return Either.left(refusals.invalidJson)
    const quick = fast?.(body)
    return quick === undefined ? Either.mapLeft(decode(body), toInvalidField) : Either.right(quick)
  }
}
