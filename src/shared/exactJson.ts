/**
 * JSON whose integers beyond 2^53 survive a round trip. The Python worker keeps such a number exact (Python's
 * `int`), so an `auth_data` or `on_close_payload` holding one comes back from `/session/get`, and goes out in the
 * callback, as it was sent. `JSON.parse` turns it into the nearest double, and the SDK's comparison of what it
 * sent with what it got back then fails. `JSON.rawJSON`, which would let `JSON.stringify` write it back, needs
 * Node 22 or a V8 flag on the command line, so the exact reading and writing come from `lossless-json`, used
 * only for the rare text that holds such a number.
 */
import { parse as parseLossless, stringify as stringifyLossless } from "lossless-json"

/**
 * An integer too large for a double, as it was written. Anything that does not know about it and calls
 * `JSON.stringify` gets the nearest double, which is what every value was before this class existed.
 */
export class ExactInteger {
  constructor(readonly digits: string) {}
  toJSON(): number {
    return Number(this.digits)
  }
  /** How Schema's messages show it (`firstIssue.ts` reads this): by its own name, which a minified build would not keep. */
  toString(): string {
    return `ExactInteger(${this.digits})`
  }
}

/** Whether any `ExactInteger` was made in this process: until one is, no value needs looking into. */
let anyMade = false
/**
 * Whether any number past the double range (`1e400`: `Infinity`) was parsed in this process; the same for it. Like
 * `anyMade`, it stays set: from then on `jsonText` looks through each value it writes (as it did for every value
 * before these flags existed).
 */
let anyNonFinite = false

const INTEGER_TEXT = /^-?\d+$/

/** `JSON.parse`'s number, except for an integer past 2^53, whose text is kept. */
const readNumber = (text: string): number | ExactInteger => {
  const value = Number(text)
  if (Number.isSafeInteger(value) || !INTEGER_TEXT.test(text)) {
    // `holdsLargeInteger` stops at the first large integer: a `1e400` after it is noted here (review 51 L3).
    if (!Number.isFinite(value)) anyNonFinite = true
    return value
  }
  anyMade = true
  return new ExactInteger(text)
}

/** The own value of `key`; an own `__proto__` key (JSON allows it) would read as the prototype through `[key]`. */
const ownValue = (object: object, key: string): unknown =>
  key === "__proto__" ? Object.getOwnPropertyDescriptor(object, key)?.value : (object as Record<string, unknown>)[key]

/**
 * Whether `value` holds a number that may have been an integer past 2^53, which `JSON.parse` rounds: one past 2^53, or
 * one past the double range (`Infinity`), which may have been written as 310 digits as well as `1e400` (the text
 * decides: digits are kept exactly, an exponent stays `Infinity`). Such a number is noted on the way (`anyNonFinite`).
 */
const holdsLargeInteger = (value: unknown): boolean => {
  if (typeof value === "number") {
    if (Number.isInteger(value)) return !Number.isSafeInteger(value)
    if (Number.isFinite(value)) return false
    anyNonFinite = true
    return true
  }
  if (typeof value !== "object" || value === null) return false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (holdsLargeInteger(value[i])) return true
    return false
  }
  for (const key in value) if (holdsLargeInteger(ownValue(value, key))) return true
  return false
}

/** Whether `value` holds, anywhere, what `JSON.stringify` would not write back as it was read: an `ExactInteger`, or a number past the double range. */
const needsExactText = (value: unknown): boolean => {
  if (typeof value === "number") return !Number.isFinite(value)
  if (typeof value !== "object" || value === null) return false
  if (value instanceof ExactInteger) return true
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (needsExactText(value[i])) return true
    return false
  }
  for (const key in value) if (needsExactText(ownValue(value, key))) return true
  return false
}

/** A repeated key: the last value wins, as in `JSON.parse` and Python (lossless-json would throw). */
const lastOneWins = ({ newValue }: { readonly newValue: unknown }): unknown => newValue

/**
 * `JSON.parse`, except that an integer past 2^53 becomes an `ExactInteger`. Throws what `JSON.parse` throws.
 * Bodies hold few values, so looking through the parsed value costs a small part of parsing it (~90 ns for a
 * create body, whose parse takes ~1.3 µs); only a value holding such an integer is read a second time.
 */
export const parseJson = (text: string): unknown => {
  const value: unknown = JSON.parse(text)
  if (!holdsLargeInteger(value)) return value
  try {
    return parseLossless(text, null, { parseNumber: readNumber, onDuplicateKey: lastOneWins })
  } catch {
    // Text `JSON.parse` took and lossless-json would not (none is known) keeps `JSON.parse`'s reading.
    return value
  }
}

/**
 * How the values `JSON.stringify` gets wrong are written: an `ExactInteger` as its digits; a number past the double
 * range (`1e400` was read as `Infinity`, which `JSON.stringify` writes as `null`) as `1e999` or `-1e999`, which read back
 * as the same value, in JavaScript and in Python (whose worker keeps it as `inf`).
 */
const exactNumberText = [
  { test: (value: unknown) => value instanceof ExactInteger, stringify: (value: unknown) => (value as ExactInteger).digits },
  {
    test: (value: unknown) => typeof value === "number" && (value === Infinity || value === -Infinity),
    stringify: (value: unknown) => ((value as number) > 0 ? "1e999" : "-1e999")
  }
]

/** lossless-json reads `object[key]`, which for an own `__proto__` key is the prototype: each value is read as own. */
function ownValueOfThis(this: object, key: string): unknown {
  return ownValue(this, key)
}

/**
 * lossless-json writes its text piece by piece, and V8 keeps such a string as a tree of its pieces until something reads
 * it as a whole: a payload of large integers held by an open session took 6 times its length in heap (the text alone
 * of an array of them, 16 times), which the outbox's budget (counted in characters) did not see. Reading one character
 * makes V8 copy the tree into one flat string and drop the pieces (V8's behaviour, not a promise of the language:
 * `keptPayloadMemory.test.ts` holds it).
 */
const flat = (text: string | undefined): string | undefined => {
  if (text !== undefined && text.length > 0) text.charCodeAt(0)
  return text
}

/** `JSON.stringify`, writing every `ExactInteger` as its digits and a number past the double range as one (not `null`). */
export const jsonText = (value: unknown): string | undefined =>
  (anyMade || anyNonFinite) && needsExactText(value) ? flat(stringifyLossless(value, ownValueOfThis, undefined, exactNumberText)) : JSON.stringify(value)
