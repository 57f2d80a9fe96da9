import { assert, describe, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { parseBoundedJson } from "../../src/shared/boundedJson.js"
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
      [true, "true"],
      [null, "null"],
      [10n, "10n"],
      [new Date(0), "another value"],
      [Symbol("secret"), "another value"]
    ]
    for (const [value, kind] of cases) {
      assert.deepStrictEqual(issueOf(Count, { count: value }), { field: "count", message: `count: Expected number, got ${kind}` })
    }
    const Text = Schema.Struct({ text: Schema.String })
    for (const [value, shown] of [[0, "0"], [-1.5e-7, "-1.5e-7"], [12345678901234567890, "12345678901234567000"], [Number.NEGATIVE_INFINITY, "-Infinity"]] as const) {
      assert.deepStrictEqual(issueOf(Text, { text: value }), { field: "text", message: `text: Expected string, got ${shown}` })
    }
  })

  it("an integer past 2^53 (kept exact by the JSON parser) where a number belongs is named as such, without its digits", () => {
    const parsed = parseBoundedJson('{"count": 9007199254740993}')
    if (parsed._tag !== "Parsed") return assert.fail(parsed._tag)
    assert.deepStrictEqual(issueOf(Count, parsed.value), { field: "count", message: "count: Expected number, got an integer beyond 2^53, which a number cannot hold exactly" })
  })

  it("a refinement's default message loses its value too; a number is named as one", () => {
    const Short = Schema.Struct({ token: Schema.String.pipe(Schema.maxLength(3)) })
    assert.deepStrictEqual(issueOf(Short, { token: "secret-token" }), {
      field: "token",
      message: "token: Expected a string at most 3 character(s) long, got a string"
    })
    const Whole = Schema.Struct({ n: Schema.Int.pipe(Schema.positive()) })
    for (const [n, shown] of [[1.5, "1.5"], [-0.5, "-0.5"], [Number.NaN, "NaN"], [Number.POSITIVE_INFINITY, "Infinity"], [0, "0"]] as const) {
      assert.match(issueOf(Whole, { n })?.message ?? "", new RegExp(`^n: Expected .*, got ${shown}$`))
    }
    assert.deepStrictEqual(issueOf(Whole, { n: 0 }), { field: "n", message: "n: Expected a positive number, got 0" })
  })

  it("a union's refusal names every member it would take, not the first alone (probe 35 I1)", () => {
    const Record = Schema.Struct({ status: Schema.Literal("Success", "Error", "Cancelled", "Rejected") })
    assert.deepStrictEqual(issueOf(Record, { status: "Done" }), { field: "status", message: 'status: Expected "Success" | "Error" | "Cancelled" | "Rejected", got a string' })
    const Mixed = Schema.Struct({ n: Schema.Union(Schema.Number, Schema.Literal("auto")) })
    assert.deepStrictEqual(issueOf(Mixed, { n: true }), { field: "n", message: 'n: Expected number | "auto", got true' })
    // A union with a struct among its members says only its first member's issue, as before.
    const Shaped = Schema.Struct({ v: Schema.Union(Schema.Struct({ a: Schema.Number }), Schema.Literal("none")) })
    assert.strictEqual(issueOf(Shaped, { v: 5 })?.message, "v: must be a JSON object, got 5")
  })

  it("keeps a message of our own as written, and says a missing field is required", () => {
    const Named = Schema.Struct({ age: Schema.Number.pipe(Schema.positive({ message: () => "must be above 0, actual value -1 refused" })) })
    assert.deepStrictEqual(issueOf(Named, { age: -1 }), { field: "age", message: "age: must be above 0, actual value -1 refused" })
    assert.deepStrictEqual(issueOf(Count, {}), { field: "count", message: "count is required" })
  })

  it("a value too deep for Schema's formatter to describe gives a one-line issue instead of a stack overflow", () => {
    let deep: unknown = 1
    for (let level = 0; level < 100_000; level++) deep = [deep]
    assert.deepStrictEqual(issueOf(Count, { count: deep }), { field: "", message: "a value nested too deeply to describe" })
  })

  it("a wrong value as a whole has an empty field and an unprefixed message; a long message is cut", () => {
    const Long = Schema.Struct({ x: Schema.Number.pipe(Schema.filter(() => false, { message: () => "y".repeat(300) })) })
    assert.deepStrictEqual(issueOf(Long, { x: 1 }), { field: "x", message: `x: ${"y".repeat(200)}…` })
    // A long expectation is cut before what was got, which is kept.
    assert.strictEqual(issueOf(Schema.Literal("v".repeat(300)), 1)?.message, `Expected "${"v".repeat(190)}…, got 1`)
  })

  it("a struct's shape is not recited: the value must be a JSON object, and what came instead is named by its kind", () => {
    assert.deepStrictEqual(issueOf(Count, "text"), { field: "", message: "must be a JSON object, got a string" })
    const Nested = Schema.Struct({ auth_data: Count, payload: Schema.Struct({ lifetime: Schema.optional(Schema.Number) }) })
    assert.deepStrictEqual(issueOf(Nested, { auth_data: null, payload: {} }), { field: "auth_data", message: "auth_data: must be a JSON object, got null" })
    assert.deepStrictEqual(issueOf(Nested, { auth_data: { count: 1 }, payload: "x" }), { field: "payload", message: "payload: must be a JSON object, got a string" })
  })
})
