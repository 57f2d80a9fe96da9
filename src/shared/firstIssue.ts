/**
 * The first problem of a Schema decode, as one line a client can act on: the field's dotted path and a sentence
 * about it. Never a string or a structure that was sent (it can be a megabyte, or a secret), only its kind; never
 * Effect's multi-line error tree.
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
 * What Schema's text of a value may show of it: a number, a boolean or null as it is (short, and the point of a
 * refinement's message: "Expected a positive number, got 0"); anything else only by its kind. A string or a structure
 * could be a megabyte or a secret, and a query's `+2` reads back as `" 2"`.
 */
const shownAs = (shown: string): string => {
  if (shown.startsWith('"')) return "a string"
  if (shown.startsWith("[")) return "an array"
  if (shown.startsWith("{")) return "an object"
  // What exactJson.ts keeps of an integer JSON held past 2^53, where a number field cannot take it.
  if (shown.startsWith("ExactInteger(")) return "an integer beyond 2^53, which a number cannot hold exactly"
  if (shown === "true" || shown === "false" || shown === "null" || shown === "undefined") return shown
  if (/^-?(?:[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?n?|Infinity|NaN)$/.test(shown)) return shown
  return "another value"
}

/** Schema's text of a struct's type (`{ readonly url: string; … }`): a client is told what it is, not how it is declared. */
const STRUCT_EXPECTED = /^Expected \{ readonly /

/** `message` with the value it quotes replaced as `shownAs` says; the expectation is cut, never the value's part. */
const withoutValue = (message: string): string => {
  const parts = DEFAULT_MESSAGE.exec(message)
  if (parts === null) return cut(message)
  const expected = STRUCT_EXPECTED.test(parts[1]!) ? "must be a JSON object" : cut(parts[1]!)
  return `${expected}, got ${shownAs(parts[2]!)}`
}

const cut = (text: string): string => (text.length > MESSAGE_LIMIT ? `${text.slice(0, MESSAGE_LIMIT)}…` : text)

/** Said when Schema's formatter cannot even describe the value (nesting past the stack: our parsers refuse it first). */
const TOO_DEEP: FirstIssue = { field: "", message: "a value nested too deeply to describe" }

const formatted = (error: ParseResult.ParseError): ReadonlyArray<ParseResult.ArrayFormatterIssue> | typeof TOO_DEEP => {
  try {
    return ParseResult.ArrayFormatter.formatErrorSync(error)
  } catch (defect) {
    if (defect instanceof RangeError) return TOO_DEEP
    throw defect
  }
}

/**
 * A union refuses a value once per member (`Expected "Success", actual …`, then `Expected "Error", …`): said as one
 * expectation naming every member, not as the first member alone.
 */
const alternatives = (first: ParseResult.ArrayFormatterIssue, issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): string => {
  const path = first.path.join(".")
  const expected: Array<string> = []
  let actual = ""
  for (const issue of issues) {
    if (issue.path.join(".") !== path) continue
    const parts = issue._tag === "Type" ? DEFAULT_MESSAGE.exec(issue.message) : null
    if (parts === null || STRUCT_EXPECTED.test(parts[1]!)) return first.message
    expected.push(parts[1]!.slice("Expected ".length))
    actual = parts[2]!
  }
  return expected.length < 2 ? first.message : `Expected ${expected.join(" | ")}, actual ${actual}`
}

export const firstIssue = (error: ParseResult.ParseError): FirstIssue | undefined => {
  const issues = formatted(error)
  if (!Array.isArray(issues)) return TOO_DEEP
  const [issue] = issues as ReadonlyArray<ParseResult.ArrayFormatterIssue>
  if (issue === undefined) return undefined
  const field = issue.path.map(String).join(".")
  if (issue._tag === "Missing") return { field, message: `${field} is required` }
  const text = withoutValue(alternatives(issue, issues as ReadonlyArray<ParseResult.ArrayFormatterIssue>))
  return { field, message: field === "" ? text : `${field}: ${text}` }
}
