import { assert, describe, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { firstIssue } from "../../src/shared/firstIssue.js"

const issueOf = <A, I>(schema: Schema.Schema<A, I>, value: unknown) => {
  const result = Schema.decodeUnknownEither(schema, { errors: "first" })(value)
  if (Either.isRight(result)) return assert.fail("the value decoded")
  return firstIssue(result.left)
}

describe("firstIssue", () => {
  const Count = Schema.Struct({ count: Schema.Number })

  it("names the kind of a wrong value, never the value itself", () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [" 2", "a string"],
      ["secret-token", "a string"],
      [[1, 2], "an array"],
      [{ nested: "secret-token" }, "an object"],
      [true, "a boolean"],
      [null, "null"],
      [10n, "a number"],
      [new Date(0), "another value"],
      [Symbol("secret"), "another value"]
    ]
    for (const [value, kind] of cases) {
      assert.deepStrictEqual(issueOf(Count, { count: value }), { field: "count", message: `count: Expected number, got ${kind}` })
    }
    const Text = Schema.Struct({ text: Schema.String })
    for (const value of [0, -1.5e-7, 12345678901234567890, Number.NEGATIVE_INFINITY]) {
      assert.deepStrictEqual(issueOf(Text, { text: value }), { field: "text", message: "text: Expected string, got a number" })
    }
  })

  it("a refinement's default message loses its value too; a number is named as one", () => {
    const Short = Schema.Struct({ token: Schema.String.pipe(Schema.maxLength(3)) })
    assert.deepStrictEqual(issueOf(Short, { token: "secret-token" }), {
      field: "token",
      message: "token: Expected a string at most 3 character(s) long, got a string"
    })
    const Whole = Schema.Struct({ n: Schema.Int })
    for (const n of [1.5, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.deepStrictEqual(issueOf(Whole, { n }), { field: "n", message: "n: Expected an integer, got a number" })
    }
  })

  it("keeps a message of our own as written, and says a missing field is required", () => {
    const Named = Schema.Struct({ age: Schema.Number.pipe(Schema.positive({ message: () => "must be above 0, actual value -1 refused" })) })
    assert.deepStrictEqual(issueOf(Named, { age: -1 }), { field: "age", message: "age: must be above 0, actual value -1 refused" })
    assert.deepStrictEqual(issueOf(Count, {}), { field: "count", message: "count is required" })
  })

  it("a wrong value as a whole has an empty field and an unprefixed message; a long message is cut", () => {
    assert.deepStrictEqual(issueOf(Count, "text"), { field: "", message: "Expected { readonly count: number }, got a string" })
    const Long = Schema.Struct({ x: Schema.Number.pipe(Schema.filter(() => false, { message: () => "y".repeat(300) })) })
    assert.deepStrictEqual(issueOf(Long, { x: 1 }), { field: "x", message: `x: ${"y".repeat(200)}…` })
  })
})
