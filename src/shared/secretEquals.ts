import * as crypto from "node:crypto"
import { ExactInteger } from "./exactJson.js"
import { sha256, sha256Hex } from "./sha256.js"

/** A value whose `JSON.stringify` text is its canonical text (a number past the double range is not: below). */
const isPrimitive = (value: unknown): boolean =>
  value === null || typeof value === "string" || (typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean"

/** `keys` (the object's own, in property order) are in code-unit order and every value is a JSON primitive. */
const isOrderedAndFlat = (value: object, keys: ReadonlyArray<string>): boolean => {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] ?? ""
    if (i > 0 && !((keys[i - 1] ?? "") < key)) return false
    if (!isPrimitive(Reflect.get(value, key))) return false
  }
  return true
}

const exactIntegerCanonical = (digits: string): string => {
  const nearest = Number(digits)
  return Number.isFinite(nearest) && BigInt(nearest) === BigInt(digits) ? JSON.stringify(nearest) : digits
}

/**
 * The canonical text of a JSON value: object keys sorted, so two values that are equal as JSON
 * (key order ignored, `1` and `1.0` alike) have the same text.
 */
export const canonicalJson = (value: unknown): string => {
  // `1e400` parses to Infinity, which `JSON.stringify` writes as `null`: kept apart, so that `null`, `1e400` and
  // `-1e400` are three values, as they are to the Python worker (its `inf`, `-inf` and `None`).
  if (typeof value === "number" && !Number.isFinite(value)) return String(value)
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  // An integer past 2^53 as it was written: equal to a double only when the double is that integer exactly (as
  // Python compares an `int` with a `float`).
  if (value instanceof ExactInteger) return exactIntegerCanonical(value.digits)
  // Built with plain loops: this runs twice per session (create, end) on the session path.
  if (Array.isArray(value)) {
    let text = "["
    for (let i = 0; i < value.length; i++) text += (i === 0 ? "" : ",") + canonicalJson(value[i])
    return text + "]"
  }
  // Own keys only (an own `__proto__` key from JSON.parse included), in code-unit order.
  const keys = Object.keys(value)
  // The common case (an `auth_data` as clients send it): keys already in order and only primitive values, whose
  // JSON text is already canonical. Sorting and joining it piece by piece was a third of a create's work in the
  // pool (docs/performance.md).
  if (isOrderedAndFlat(value, keys)) return JSON.stringify(value)
  keys.sort()
  let text = "{"
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] ?? ""
    text += (i === 0 ? "" : ",") + JSON.stringify(key) + ":" + canonicalJson(Reflect.get(value, key))
  }
  return text + "}"
}

/** The fixed-size digest a secret JSON value is kept as, to compare later with `matchesSecret`. */
export const secretDigest = (value: unknown): Buffer => sha256(canonicalJson(value))

/** `secretDigest` as hex text, for plain serialisable state; `""` (which matches nothing) for no value. */
export const secretDigestHex = (value: unknown): string => (value === undefined ? "" : sha256Hex(canonicalJson(value)))

/**
 * Whether `value` equals the JSON value behind `expected`, in time that does not depend on where
 * they differ: fixed-size digests compared with `timingSafeEqual`. Key order is ignored.
 */
export const matchesSecret = (value: unknown, expected: Buffer): boolean =>
  value !== undefined && crypto.timingSafeEqual(secretDigest(value), expected)

/** `matchesSecret` for two plain values. */
export const jsonValuesEqualSecret = (a: unknown, b: unknown): boolean => matchesSecret(a, secretDigest(b))

/** Constant-time string comparison; an empty expected secret never matches. */
export const stringEqualsSecret = (given: string, expected: string): boolean =>
  expected.length > 0 && crypto.timingSafeEqual(sha256(given), sha256(expected))
