/**
 * Request bodies to typed values: every decode failure is `InvalidField` naming the field. Messages name
 * what was expected and never quote a string or a structure that was sent (it can be a megabyte, or a secret).
 */
import { Either, type ParseResult, Schema } from "effect"
import { firstIssue } from "../../shared/firstIssue.js"
import { InvalidField, type InvalidJson, refusals } from "../errors.js"

/** A body that is JSON but not an object. */
export const notAnObject = new InvalidField({ field: "body", message: "the body must be a JSON object" })

/** The first problem of a Schema error, as the field's dotted path and a sentence about it. */
export const toInvalidField = (error: ParseResult.ParseError): InvalidField => {
  const issue = firstIssue(error)
  if (issue === undefined) return new InvalidField({ field: "body", message: "the body is invalid" })
  return issue.field === "" ? notAnObject : new InvalidField(issue)
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
