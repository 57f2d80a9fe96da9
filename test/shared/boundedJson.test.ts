import { describe, expect, it } from "vitest"
import { MAX_JSON_DEPTH, parseBoundedJson } from "../../src/shared/boundedJson.js"

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
