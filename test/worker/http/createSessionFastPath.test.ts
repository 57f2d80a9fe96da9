import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { decodeCreateSessionFast } from "../../../src/worker/http/createSessionFastPath.js"
import { CreateSessionBody } from "../../../src/protocol/session.js"

const schemaDecode = Schema.decodeUnknownEither(CreateSessionBody)

/** Values of every JSON type, the edges of each field's range among them. */
const anyJson = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1, 1_000_000, 1_000_000.5, 604_800, 604_801, 2 ** 53, -(2 ** 53), 1e308, "1", "", " ", "100"),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 })
)
const orAny = <A>(valid: fc.Arbitrary<A>) => fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: anyJson })

const authData = fc.record(
  {
    url: orAny(fc.string()),
    signature: orAny(fc.string()),
    reqnum: orAny(fc.oneof(fc.integer(), fc.constantFrom(2 ** 53 - 1, 2 ** 53, 1.5, -0))),
    request_idx: orAny(fc.oneof(fc.integer(), fc.constantFrom(2 ** 53 - 1, 2 ** 53, 1.5, -0))),
    endpoint: orAny(fc.string()),
    cost: orAny(
      fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.double({ min: 0, max: 1_000_000, noNaN: true }), fc.constantFrom(0, -0, -1, 1_000_000, 1_000_000.0001, "7"))
    ),
    __request_id: fc.string(),
    ["__proto__"]: fc.integer()
  },
  { requiredKeys: [] }
)
const payload = fc.record(
  {
    lifetime: orAny(fc.oneof(fc.constant(null), fc.double({ min: 0, max: 700_000, noNaN: true }), fc.constantFrom(0, -0, -1, 1e-9, 604_800, 604_800.5))),
    on_close_route: orAny(fc.constantFrom(null, "http://127.0.0.1:9/closed", "not a url", "ftp://x/")),
    on_close_payload: anyJson,
    extra: fc.integer()
  },
  { requiredKeys: [] }
)
const body = fc.record(
  { auth_data: orAny(authData), payload: orAny(fc.oneof(fc.constant(null), payload)), session_id: orAny(fc.oneof(fc.constant(null), fc.string())), other: anyJson },
  { requiredKeys: [] }
)

describe("decodeCreateSessionFast", () => {
  it("whatever it accepts, the Schema accepts, with the same result", () => {
    fc.assert(
      fc.property(fc.oneof(body, anyJson, fc.jsonValue()), (input) => {
        const fast = decodeCreateSessionFast(input)
        if (fast === undefined) return
        const decoded = schemaDecode(input)
        assert.isTrue(Either.isRight(decoded))
        if (Either.isRight(decoded)) assert.deepStrictEqual(fast, decoded.right)
      }),
      { numRuns: 20_000 }
    )
  })

  it("it takes every body the Schema accepts with a numeric cost and no on_close_route: the common shape never falls back", () => {
    fc.assert(
      fc.property(body, (input) => {
        const decoded = schemaDecode(input)
        if (Either.isLeft(decoded)) return
        const route = decoded.right.payload?.on_close_route
        if (typeof decoded.right.auth_data.cost !== "number" || (route !== undefined && route !== null)) return
        assert.isDefined(decodeCreateSessionFast(input))
      }),
      { numRuns: 20_000 }
    )
  })

  it("the SDK's body (null keys included) and a prototype key named like a field", () => {
    const sdk = {
      auth_data: { url: "u", signature: "s", reqnum: 1, request_idx: 2, endpoint: "e", cost: 100, __request_id: "r" },
      payload: { lifetime: 60, on_close_route: null, on_close_payload: null },
      session_id: null
    }
    assert.deepStrictEqual(decodeCreateSessionFast(sdk), {
      auth_data: { url: "u", signature: "s", reqnum: 1, request_idx: 2, endpoint: "e", cost: 100 },
      payload: { lifetime: 60, on_close_route: null, on_close_payload: null },
      session_id: null
    })
    const inherited = Object.create({ auth_data: sdk.auth_data })
    assert.isUndefined(decodeCreateSessionFast(inherited))
    assert.isUndefined(decodeCreateSessionFast(JSON.parse('{"__proto__": {"auth_data": 1}}')))
  })
})
