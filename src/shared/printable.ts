/**
 * Text from outside (a worker's session id, an error page, an autoscaler's message) made safe to print. Workers run on
 * hosts we do not control: a control character in what they send could clear a terminal, retitle it, or start a
 * forged line in a log. Every such character is written as an escape instead; credentials and queries in URLs are
 * hidden (`redactUrlsIn`).
 */
import { redactUrlsIn } from "./redactUrl.js"

/**
 * DEL, the C1 controls, the line and paragraph separators (a new line to some viewers), and the characters that
 * reorder text on screen (bidirectional overrides and marks).
 */
const BEYOND_C0 = "\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069"

/** Every character a terminal would act on: the C0 controls and `BEYOND_C0`. */
const UNPRINTABLE = new RegExp(`[\\u0000-\\u001f${BEYOND_C0}]`, "g")

const escape = (char: string): string => {
  const code = char.charCodeAt(0)
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
}

/**
 * The most of one text that is shown. A worker may send a session id of up to an answer's megabyte: shown whole it
 * would bury the output, and every redraw would scan it again.
 */
export const PRINTABLE_MAX = 2_000

/** `text` (its first `PRINTABLE_MAX` characters) with every control character escaped and every secret-bearing URL redacted. */
export const printable = (text: string): string => {
  const shown = text.length > PRINTABLE_MAX ? `${text.slice(0, PRINTABLE_MAX)}… (${text.length - PRINTABLE_MAX} more characters)` : text
  return redactUrlsIn(shown).replace(UNPRINTABLE, escape)
}

/**
 * `value` with `printable` applied to every string in it, keys included (objects and arrays walked; other values kept).
 * `Object.fromEntries` defines each key as the object's own, so even a `__proto__` key is kept as data.
 */
export const printableDeep = <A>(value: A): A => {
  if (typeof value === "string") return printable(value) as A
  if (Array.isArray(value)) return value.map(printableDeep) as A
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [printable(key), printableDeep(field)])) as A
  }
  return value
}

/** What `JSON.stringify` leaves as is and a terminal would act on (it escapes the C0 controls itself). */
const UNPRINTABLE_IN_JSON = new RegExp(`[${BEYOND_C0}]`, "g")

/**
 * `value` as one line of JSON that is safe on a terminal and still the same data once parsed: `JSON.stringify`
 * escapes the C0 controls, and the rest of `UNPRINTABLE` is written as `\uXXXX` escapes too. The values stay exact
 * (a session id, a worker's URL), for the scripts that read them.
 */
export const printableJson = (value: unknown): string => escapedInJson(JSON.stringify(value))

const unicodeEscape = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`

/** JSON text (or logfmt, whose quoted values are JSON strings) with the rest of `UNPRINTABLE` written as `\uXXXX`: the same data once parsed. */
export const escapedInJson = (json: string): string => json.replace(UNPRINTABLE_IN_JSON, unicodeEscape)

/** Bare text (a log line's message in the pretty format) with every character of `UNPRINTABLE` written as `\uXXXX`. */
export const escapedControls = (text: string): string => text.replace(UNPRINTABLE, unicodeEscape)
