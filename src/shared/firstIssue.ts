/**
 * The first problem of a Schema decode, as one line a client can act on: the field's dotted path and a sentence
 * about it. Never the value (it can be a megabyte, or a secret), never Effect's multi-line error tree.
 */
import { ParseResult } from "effect"

const MESSAGE_LIMIT = 200

export interface FirstIssue {
  /** The dotted path of the field; `""` when the value as a whole is wrong. */
  readonly field: string
  readonly message: string
}

export const firstIssue = (error: ParseResult.ParseError): FirstIssue | undefined => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (issue === undefined) return undefined
  const field = issue.path.map(String).join(".")
  if (issue._tag === "Missing") return { field, message: `${field} is required` }
  const text = issue.message.length > MESSAGE_LIMIT ? `${issue.message.slice(0, MESSAGE_LIMIT)}…` : issue.message
  return { field, message: field === "" ? text : `${field}: ${text}` }
}
