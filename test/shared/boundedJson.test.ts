import { describe, expect, it } from "vitest"
import { Either, Schema } from "effect"
import { BoundedJsonText, jsonSyntaxMessage, MAX_JSON_DEPTH, parseBoundedJson, parseBoundedJsonWith } from "../../src/shared/boundedJson.js"

const nest = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`

describe("parseBoundedJson", () => {
  it("parses JSON up to the nesting limit, refuses one level more", () => {
    expect(parseBoundedJson(nest(MAX_JSON_DEPTH))._tag).toBe("Parsed")
    expect(parseBoundedJson(nest(MAX_JSON_DEPTH + 1))).toEqual({ _tag: "TooDeep", limit: MAX_JSON_DEPTH })
  })
  it("counts objects and arrays alike", () => {
    expect(parseBoundedJson('{"a":[{"b":[1]}]}', 4)._tag).toBe("Parsed")
    expect(parseBoundedJson('{"a":[{"b":[1]}]}', 3)._tag).toBe("TooDeep")
  })
  it("brackets inside strings do not count, escaped quotes included", () => {
    expect(parseBoundedJson(JSON.stringify({ text: "[[[[[[[[" }), 1)._tag).toBe("Parsed")
    expect(parseBoundedJson(JSON.stringify({ text: 'say \\"[[[[\\" ok' }), 1)._tag).toBe("Parsed")
  })
  it("text that is not JSON is Invalid, and a 5,000-level body is refused without recursion", () => {
    expect(parseBoundedJson("{")._tag).toBe("Invalid")
    expect(parseBoundedJson("")._tag).toBe("Invalid")
    expect(parseBoundedJson(nest(5000))._tag).toBe("TooDeep")
  })
  it("an own __proto__ key survives as data", () => {
    const parsed = parseBoundedJson('{"__proto__":{"x":1}}')
    expect(parsed._tag === "Parsed" && Object.keys(parsed.value as object)).toEqual(["__proto__"])
  })
  it("many brackets that are not nested (or sit inside strings) are fine; the same number nested is not", () => {
    const flat = JSON.stringify({ list: Array.from({ length: 100 }, (_, i) => [i]), text: "{".repeat(100) })
    expect(parseBoundedJson(flat, 3)._tag).toBe("Parsed")
    expect(parseBoundedJson(nest(4), 3)._tag).toBe("TooDeep")
    expect(parseBoundedJson(`{"a":${nest(3)}}`, 3)._tag).toBe("TooDeep")
    expect(parseBoundedJson(`{"a":${nest(2)}}`, 3)._tag).toBe("Parsed")
  })
})

describe("BoundedJsonText and parseBoundedJsonWith", () => {
  const decode = Schema.decodeUnknownEither(BoundedJsonText(3))
  it("decodes as Schema.parseJson does up to the limit, and refuses past it with a message naming the limit", () => {
    expect(decode('{"a":[[1]]}')).toEqual(Either.right({ a: [[1]] }))
    const refused = decode('{"a":[[[1]]]}')
    expect(Either.isLeft(refused) && refused.left.message).toContain("JSON nested deeper than 3 levels")
    expect(Either.isLeft(decode("{"))).toBe(true)
  })
  it("a syntax error's message quotes none of the text, which may hold a secret (review 51 L1)", () => {
    const record = '{"session_id":"s-1","auth_data":{"signature":c2VjcmV0LXNpZ25hdHVyZQ}}'
    const refused = decode(record)
    expect(Either.isLeft(refused) && refused.left.message).toContain("Unexpected token 'c': not valid JSON")
    expect(Either.isLeft(refused) && refused.left.message).not.toMatch(/c2VjcmV0|ignature/)
    expect(Either.isLeft(refused) && refused.left.message).not.toContain("c2V")
    const messageOf = (text: string) => {
      try {
        JSON.parse(text)
      } catch (error) {
        return jsonSyntaxMessage(error)
      }
      return "parsed"
    }
    expect(messageOf("nope")).toBe("Unexpected token 'o': not valid JSON")
    expect(messageOf('"secret')).toMatch(/^Unterminated string in JSON at position 7/)
    expect(messageOf("")).toBe("Unexpected end of JSON input")
    expect(jsonSyntaxMessage(new Error('"sec,ret" is not valid JSON'))).toBe("not valid JSON")
  })
  it("composes with a schema, both ways", () => {
    const Named = parseBoundedJsonWith(Schema.Struct({ name: Schema.String }))
    expect(Schema.decodeUnknownSync(Named)('{"name":"x"}')).toEqual({ name: "x" })
    expect(Schema.encodeSync(Named)({ name: "x" })).toBe('{"name":"x"}')
    expect(Either.isLeft(Schema.decodeUnknownEither(Named)(`{"name":${nest(100)}}`))).toBe(true)
  })
})
