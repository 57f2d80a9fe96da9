import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { canonicalJson, jsonValuesEqualSecret, stringEqualsSecret } from "../../src/shared/secretEquals.js"

/** The definition, written out: every object's keys sorted by code unit, piece by piece, at every depth. */
const oracle = (value: unknown): string => {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value)
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(oracle).join(",")}]`
  const keys = Object.keys(value).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${oracle(Reflect.get(value, key))}`).join(",")}}`
}

/** Objects as JSON.parse makes them: keys in the text's order (integer-like ones first, as JavaScript orders them). */
const parsed = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

const primitive = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null))
/** Flat objects whose keys come sorted: the shape the shortcut takes. */
const sortedFlat = fc
  .dictionary(fc.string({ maxLength: 12 }), primitive, { maxKeys: 8 })
  .map((object) => Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))

describe("canonicalJson", () => {
  it("an auth_data in the order clients send it, in another order, and nested: one text", () => {
    const text = '{"cost":100,"endpoint":"e","reqnum":7,"request_idx":7,"signature":"s","url":"u"}'
    expect(canonicalJson(JSON.parse(text))).toBe(text)
    expect(canonicalJson(JSON.parse('{"url":"u","signature":"s","request_idx":7,"reqnum":7,"endpoint":"e","cost":100}'))).toBe(text)
    expect(canonicalJson({ b: [3, { d: 1, c: null }], a: "x" })).toBe('{"a":"x","b":[3,{"c":null,"d":1}]}')
    expect(canonicalJson({ b: 1, a: { y: 2, x: 1 } })).toBe('{"a":{"x":1,"y":2},"b":1}')
  })

  it("keys JavaScript orders differently from code units (integer-like), an own __proto__, duplicates in the text", () => {
    expect(canonicalJson(JSON.parse('{"2":"b","10":"a"}'))).toBe('{"10":"a","2":"b"}')
    expect(canonicalJson(JSON.parse('{"__proto__":1,"a":2}'))).toBe('{"__proto__":1,"a":2}')
    expect(canonicalJson(JSON.parse('{"a":1,"__proto__":2}'))).toBe('{"__proto__":2,"a":1}')
    expect(canonicalJson(JSON.parse('{"b":1,"a":2,"b":3}'))).toBe('{"a":2,"b":3}')
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1,"b":null}')
  })

  it("equals the written-out definition for any JSON value (20,000 generated)", () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => canonicalJson(parsed(value)) === oracle(parsed(value))), { numRuns: 20_000 })
  })

  it("equals the written-out definition for flat objects whose keys come sorted (20,000 generated)", () => {
    fc.assert(fc.property(sortedFlat, (value) => canonicalJson(parsed(value)) === oracle(parsed(value))), { numRuns: 20_000 })
  })

  it("secrets compare equal regardless of key order, and differ on any value (null and ±Infinity included)", () => {
    expect(jsonValuesEqualSecret({ a: 1, b: "x" }, { b: "x", a: 1 })).toBe(true)
    expect(jsonValuesEqualSecret({ a: 1, b: "x" }, { a: 1, b: "y" })).toBe(false)
    expect(jsonValuesEqualSecret(undefined, { a: 1 })).toBe(false)
    // Numbers past the double range parse to ±Infinity, which JSON.stringify writes as null: three values all the same.
    const [big, negative, nothing] = [JSON.parse('{"x":1e400}'), JSON.parse('{"x":-1e999}'), JSON.parse('{"x":null}')]
    expect(jsonValuesEqualSecret(big, negative)).toBe(false)
    expect(jsonValuesEqualSecret(big, nothing)).toBe(false)
    expect(jsonValuesEqualSecret(negative, nothing)).toBe(false)
    expect(jsonValuesEqualSecret(big, JSON.parse('{"x":2e400}'))).toBe(true)
    expect(jsonValuesEqualSecret([big], [nothing])).toBe(false)
    expect(stringEqualsSecret("token", "token")).toBe(true)
    expect(stringEqualsSecret("", "")).toBe(false)
  })
})
