import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { vi } from "vitest"
import { ExactInteger, jsonText, parseJson } from "../../src/shared/exactJson.js"
import { canonicalJson, jsonValuesEqualSecret } from "../../src/shared/secretEquals.js"

const past = "9007199254740993" // 2^53 + 1: JSON.parse reads it as 2^53

describe("parseJson and jsonText", () => {
  it("an integer past 2^53 comes back as it was written, at any depth and in arrays", () => {
    const text = `{"a":${past},"b":[1,-123456789012345678901234567890,{"c":${past}}],"d":"x"}`
    const value = parseJson(text)
    expect(JSON.parse(text)).not.toEqual(value)
    expect(jsonText(value)).toBe(text)
    expect((value as { a: unknown }).a).toEqual(new ExactInteger(past))
  })

  it("text without such an integer is JSON.parse's value, the same object kinds and numbers", () => {
    const text = '{"a":9007199254740991,"b":1.5,"c":1e300,"d":[-0],"e":"12345678901234567890"}'
    expect(parseJson(text)).toStrictEqual(JSON.parse(text))
    expect(jsonText(parseJson(text))).toBe(JSON.stringify(JSON.parse(text)))
  })

  it("a process's first body holding a large number before a 1e400 writes that one back as 1e999, not null (review 51 L3)", async () => {
    // A fresh module: its flags are those of a process that has parsed nothing yet.
    vi.resetModules()
    const fresh = await import("../../src/shared/exactJson.js")
    expect(fresh.jsonText(fresh.parseJson('{"a":1e20,"b":1e400}'))).toBe('{"a":100000000000000000000,"b":1e999}')
  })

  it("an integer written in more digits than a double holds (310) is kept exactly, whatever else the body holds; an exponent past the range is Infinity", () => {
    const huge = `1${"0".repeat(310)}`
    for (const text of [`{"a":${huge}}`, `{"a":${huge},"b":1e16}`, `{"a":${huge},"c":1e400}`]) {
      const value = parseJson(text) as { a: unknown; c?: unknown }
      expect(value.a, text).toEqual(new ExactInteger(huge))
      expect(jsonText(value), text).toContain(`"a":${huge}`)
      if (value.c !== undefined) expect(value.c).toBe(Infinity)
    }
    // The same text compares equal however it was read (a create body with another large number, a ping without).
    expect(jsonValuesEqualSecret(parseJson(`{"a":${huge}}`), { a: (parseJson(`{"a":${huge},"b":1e16}`) as { a: unknown }).a })).toBe(true)
    expect(jsonValuesEqualSecret(parseJson(`{"a":${huge}}`), { a: Infinity })).toBe(false)
  })

  it("a number past the double range (1e400, read as Infinity) is written back as one, 1e999 or -1e999, never as null", () => {
    const text = '{"a":1e400,"b":[-1E999,2],"c":{"d":1.5e308000},"e":null}'
    const value = parseJson(text)
    expect(jsonText(value)).toBe('{"a":1e999,"b":[-1e999,2],"c":{"d":1e999},"e":null}')
    // What it writes reads back as the same value, and compares equal to what was sent (as Python's inf does).
    expect(jsonValuesEqualSecret(parseJson(jsonText(value) ?? ""), value)).toBe(true)
    expect(jsonValuesEqualSecret({ a: null }, { a: Infinity })).toBe(false)
  })

  it("a double past 2^53 written with a fraction or an exponent stays a double (Python reads it as a float too)", () => {
    for (const text of ["[1e20]", "[12345678901234567890.0]", "[1.2345678901234567e25]"]) {
      expect(parseJson(text)).toStrictEqual(JSON.parse(text))
    }
  })

  it("a repeated key: the last one wins, as in JSON.parse and Python, in its first place", () => {
    const value = parseJson(`{"k":1,"n":${past},"k":2}`)
    expect(Object.keys(value as object)).toEqual(["k", "n"])
    expect(jsonText(value)).toBe(`{"k":2,"n":${past}}`)
  })

  it("an own __proto__ key is data, read and written as data", () => {
    const text = `{"__proto__":{"x":${past}},"y":1}`
    const value = parseJson(text) as object
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(Object.keys(value)).toEqual(["__proto__", "y"])
    expect(jsonText(value)).toBe(text)
  })

  it("JSON.stringify, which does not know the class, writes the nearest double", () => {
    expect(JSON.stringify({ n: parseJson(`[${past}]`) })).toBe('{"n":[9007199254740992]}')
  })

  it("invalid text throws as JSON.parse does", () => {
    expect(() => parseJson(`{"a":${past}`)).toThrow(SyntaxError)
  })

  it("any JSON value with big integers spliced in: parsed and written back to the same text", () => {
    const big = fc.bigInt({ min: 1n << 53n, max: 1n << 200n }).chain((n) => fc.constantFrom(n, -n)).map((n) => new ExactInteger(n.toString()))
    const leaf = fc.oneof(fc.jsonValue({ maxDepth: 0 }), big)
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, fc.array(tie("node"), { maxLength: 4 }), fc.dictionary(fc.string(), tie("node"), { maxKeys: 4 }))
    })).node
    fc.assert(
      fc.property(value, (v) => {
        const text = jsonText(v) ?? ""
        // The same JSON as JSON.stringify writes, except for the digits of each big integer.
        expect(JSON.parse(text)).toStrictEqual(JSON.parse(JSON.stringify(v)))
        expect(jsonText(parseJson(text))).toBe(text)
      })
    )
  })
})

describe("canonicalJson of exact integers", () => {
  it("two texts of the same big integer are equal; one unit apart are not, though JSON.parse reads them alike", () => {
    expect(jsonValuesEqualSecret(parseJson(`{"n":${past},"m":1}`), parseJson(`{"m":1,"n":${past}}`))).toBe(true)
    expect(jsonValuesEqualSecret(parseJson(`{"n":${past}}`), parseJson('{"n":9007199254740992}'))).toBe(false)
  })

  it("a big integer equals a double only when the double is exactly that integer", () => {
    expect(canonicalJson(parseJson("[100000000000000000000]"))).toBe(canonicalJson(JSON.parse("[1e20]")))
    expect(canonicalJson(parseJson("[1000000000000000000000]"))).toBe(canonicalJson(JSON.parse("[1e21]")))
    expect(canonicalJson(parseJson(`[${past}]`))).not.toBe(canonicalJson(JSON.parse(`[${past}.0]`)))
  })
})
