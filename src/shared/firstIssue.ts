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

/** Schema's default messages: `Expected …, actual <the value as text>`. A message of ours is never of this form. */
const DEFAULT_MESSAGE = /^(Expected [\s\S]*?), actual ([\s\S]*)$/

/**
 * What kind of value Schema's text of it shows. The kind says enough to fix the request; the text itself would
 * echo what was sent, and a query's `+2` reads back as `" 2"`.
 */
const kindOf = (shown: string): string => {
  if (shown.startsWith('"')) return "a string"
  if (shown.startsWith("[")) return "an array"
  if (shown.startsWith("{")) return "an object"
  if (shown === "true" || shown === "false") return "a boolean"
  if (shown === "null" || shown === "undefined") return shown
  if (/^-?(?:[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?n?|Infinity|NaN)$/.test(shown)) return "a number"
  return "another value"
}

/** `message` with the value it quotes replaced by its kind. */
const withoutValue = (message: string): string => {
  const parts = DEFAULT_MESSAGE.exec(message)
  return parts === null ? message : `${parts[1]}, got ${kindOf(parts[2]!)}`
}

export const firstIssue = (error: ParseResult.ParseError): FirstIssue | undefined => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (issue === undefined) return undefined
  const field = issue.path.map(String).join(".")
  if (issue._tag === "Missing") return { field, message: `${field} is required` }
  const plain = withoutValue(issue.message)
  const text = plain.length > MESSAGE_LIMIT ? `${plain.slice(0, MESSAGE_LIMIT)}…` : plain
  return { field, message: field === "" ? text : `${field}: ${text}` }
}
