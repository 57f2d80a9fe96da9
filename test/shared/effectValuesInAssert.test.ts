/** The test runs' own setup: deep equality sees what an `Option` or `Either` holds (chai alone took Some for None). */
import { assert, describe, it } from "@effect/vitest"
import { Data, Either, Option } from "effect"

const fails = (compare: () => void): boolean => {
  try {
    compare()
    return false
  } catch {
    return true
  }
}

describe("assert's deep equality with Effect values", () => {
  it("Some and None differ, at the top and nested in arrays and objects; equal contents are equal", () => {
    assert.isTrue(fails(() => assert.deepStrictEqual(Option.some(1) as Option.Option<number>, Option.none())))
    assert.isTrue(fails(() => assert.deepStrictEqual(Option.none() as Option.Option<number>, Option.some(1))))
    assert.isTrue(fails(() => assert.deepStrictEqual({ a: [Option.some("x")] } as { a: Array<Option.Option<string>> }, { a: [Option.none()] })))
    assert.isTrue(fails(() => assert.deepEqual(Either.right(1) as Either.Either<number, number>, Either.left(1))))
    assert.isTrue(fails(() => assert.notDeepEqual(Option.some({ a: 1 }), Option.some({ a: 1 }))))
    assert.deepStrictEqual({ a: [Option.some({ b: Either.left("e") })] }, { a: [Option.some({ b: Either.left("e") })] })
    assert.notDeepEqual(Option.some(1) as Option.Option<number>, Option.none())
  })

  it("tagged errors differ by their fields, not only by name and message", () => {
    class Refused extends Data.TaggedError("Refused")<{ readonly limit: number }> {}
    assert.isTrue(fails(() => assert.deepStrictEqual(new Refused({ limit: 1 }), new Refused({ limit: 2 }))))
    assert.isTrue(fails(() => assert.deepStrictEqual([Either.left(new Refused({ limit: 1 }))], [Either.left(new Refused({ limit: 2 }))])))
    assert.deepStrictEqual(new Refused({ limit: 1 }), new Refused({ limit: 1 }))
  })
})
