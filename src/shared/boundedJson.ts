/**
 * JSON text to a value, with a nesting limit. `JSON.parse` itself copes with deep input, but everything that
 * walks the value afterwards (canonical forms, digests, Schema error messages, `JSON.stringify` of a
 * callback body) recurses, and a 10 KB body of 5,000 nested brackets overflows the stack there. Refusing
 * such input up front keeps every later step bounded.
 */

import { ParseResult, Schema } from "effect"
import { jsonText, parseJson } from "./exactJson.js"

/** The deepest nesting of arrays and objects accepted in a request body. */
export const MAX_JSON_DEPTH = 64

export type JsonParse =
  | { readonly _tag: "Parsed"; readonly value: unknown }
  | { readonly _tag: "Invalid" }
  | { readonly _tag: "TooDeep"; readonly limit: number }

const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** The deepest bracket nesting in `text`, outside string literals; stops counting past `limit`. */
const depthExceeds = (text: string, limit: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (inString) {
      if (code === BACKSLASH) i++
      else if (code === QUOTE) inString = false
    } else if (code === QUOTE) inString = true
    else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (++depth > limit) return true
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) depth--
  }
  return false
}

/** Whether `text` holds more than `limit` of `{` and `[` together (inside strings too): found with `indexOf`. */
const openingsExceed = (text: string, limit: number): boolean => {
  let count = 0
  for (let at = text.indexOf("{"); at !== -1; at = text.indexOf("{", at + 1)) if (++count > limit) return true
  for (let at = text.indexOf("["); at !== -1; at = text.indexOf("[", at + 1)) if (++count > limit) return true
  return false
}

/**
 * Whether `text` nests arrays and objects deeper than `limit`. Nesting deeper than `limit` needs more than `limit`
 * openings: most bodies have a handful, and counting them with `indexOf` costs a fraction of the scan that follows
 * strings character by character.
 */
export const nestedDeeperThan = (text: string, limit: number): boolean => openingsExceed(text, limit) && depthExceeds(text, limit)

export const parseBoundedJson = (text: string, limit: number = MAX_JSON_DEPTH): JsonParse => {
  if (nestedDeeperThan(text, limit)) return { _tag: "TooDeep", limit }
  try {
    return { _tag: "Parsed", value: parseJson(text) }
  } catch {
    return { _tag: "Invalid" }
  }
}

/**
 * A JSON syntax error's message without the excerpt of the text V8 quotes in some (`Unexpected token 'c', ..."ignature":
 * c2VjcmV0"... is not valid JSON` becomes `Unexpected token 'c': not valid JSON`): the text may hold a secret (a
 * session's record, review 51 L1). The others name a position only.
 */
export const jsonSyntaxMessage = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error)
  const excerpt = message.search(/, (?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/)
  // The one character named stays: it says what is wrong, and one character of a secret tells nothing.
  if (excerpt >= 0) return `${message.slice(0, excerpt)}: not valid JSON`
  return message.endsWith(" is not valid JSON") ? "not valid JSON" : message
}

/**
 * `Schema.parseJson()` with the nesting limit: JSON text from outside (an answer, a flag, a file) is refused past
 * `limit` levels before any value exists, so no later step (Schema's messages among them) recurses without bound.
 */
export const BoundedJsonText = (limit: number = MAX_JSON_DEPTH): Schema.Schema<unknown, string> =>
  Schema.transformOrFail(Schema.String, Schema.Unknown, {
    strict: true,
    decode: (text, _, ast) =>
      nestedDeeperThan(text, limit)
        ? ParseResult.fail(new ParseResult.Type(ast, text, `JSON nested deeper than ${limit} levels`))
        : ParseResult.try({
            try: (): unknown => parseJson(text),
            catch: (error) => new ParseResult.Type(ast, text, jsonSyntaxMessage(error))
          }),
    encode: (value, _, ast) =>
      ParseResult.try({
        try: () => jsonText(value) ?? "null",
        catch: (error) => new ParseResult.Type(ast, value, error instanceof Error ? error.message : String(error))
      })
  })

/** `Schema.parseJson(schema)` with the nesting limit. */
export const parseBoundedJsonWith = <A, I, R>(schema: Schema.Schema<A, I, R>, limit: number = MAX_JSON_DEPTH): Schema.Schema<A, string, R> =>
  Schema.compose(BoundedJsonText(limit), schema, { strict: false })
