/**
 * Setup file of every test run: chai's deep equality compares an object that can be iterated by what it yields, and
 * Effect's `Option` and `Either` can be (they are generators' steps): `Option.some(x)` and `Option.none()` each yield
 * one opaque step, so `assert.deepStrictEqual(Option.some(1), Option.none())` passed. It compares errors by name and
 * message only, and a `Data.TaggedError`'s message is empty: two with different fields were equal. Before chai
 * compares, every `Option`, `Either` and error in either value (nested in arrays and plain objects too) is written as a
 * plain record of what it holds, so the comparison, and its diff, is of that.
 */
import { Either, Option } from "effect"
import { assert } from "vitest"

const isPlainObject = (value: object): boolean => {
  const prototype = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/** `value` with its `Option`s, `Either`s and errors as plain records; other values as they are (a cycle is left as it is). */
export const withEffectValuesPlain = (value: unknown, seen: WeakSet<object> = new WeakSet()): unknown => {
  if (typeof value !== "object" || value === null || seen.has(value)) return value
  if (Option.isOption(value)) return Option.isSome(value) ? { _tag: "Some", value: withEffectValuesPlain(value.value, seen) } : { _tag: "None" }
  if (Either.isEither(value)) {
    return Either.isRight(value) ? { _tag: "Right", right: withEffectValuesPlain(value.right, seen) } : { _tag: "Left", left: withEffectValuesPlain(value.left, seen) }
  }
  seen.add(value)
  try {
    if (Array.isArray(value)) return value.map((item) => withEffectValuesPlain(item, seen))
    if (value instanceof Error) {
      const fields = Object.entries(value).map(([key, field]) => [key, withEffectValuesPlain(field, seen)])
      return Object.fromEntries([["error", value.name], ["message", value.message], ...fields])
    }
    if (!isPlainObject(value)) return value
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, withEffectValuesPlain(field, seen)]))
  } finally {
    seen.delete(value)
  }
}

type Comparison = (actual: unknown, expected: unknown, message?: string) => void

for (const name of ["deepStrictEqual", "deepEqual", "notDeepEqual"] as const) {
  const original = assert[name] as Comparison
  ;(assert as unknown as Record<string, Comparison>)[name] = (actual, expected, message) =>
    original(withEffectValuesPlain(actual), withEffectValuesPlain(expected), message)
}
