import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  callbackBody,
  callbackText,
  type CloseFacts,
  CloseReason,
  ExpiryLimit,
  keepPayload,
  keptCallbackBytes,
  keptCallbackLength,
  keptCallbackText,
  LONGEST_CLOSE,
  NO_PAYLOAD
} from "../../src/protocol/callback.js"
import { SESSION_ID_LENGTH } from "../../src/protocol/SessionId.js"
import { jsonText, parseJson } from "../../src/shared/exactJson.js"

const facts: fc.Arbitrary<CloseFacts> = fc.record({
  sessionId: fc.stringMatching(new RegExp(`^[A-Za-z0-9]{${SESSION_ID_LENGTH}}$`)),
  reason: fc.constantFrom(...CloseReason.literals),
  generation: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  expiredBy: fc.constantFrom(null, ...ExpiryLimit.literals)
})

describe("the callback's text against what a session reserves for it", () => {
  it("keptCallbackLength is the length of the text, whatever the payload and the close, without making it", () => {
    fc.assert(
      fc.property(fc.jsonValue(), facts, (payload, close) => {
        const kept = keepPayload(payload)
        expect(keptCallbackLength(kept, close)).toBe(keptCallbackText(kept, close).length)
      }),
      { numRuns: 2000 }
    )
  })

  it("keptCallbackBytes is the text's size in UTF-8, non-ASCII payloads included, without making it (review 57 I12)", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.string({ unit: "grapheme" }), fc.dictionary(fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }))), facts, (payload, close) => {
        const kept = keepPayload(payload)
        expect(keptCallbackBytes(kept, close)).toBe(Buffer.byteLength(keptCallbackText(kept, close)))
      }),
      { numRuns: 2000 }
    )
  })

  it("no close makes a longer callback than LONGEST_CLOSE, which a session reserves for (review 35 L2)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), facts, (payload, close) => {
        const kept = keepPayload(payload)
        expect(callbackText(payload, close).length).toBeLessThanOrEqual(keptCallbackLength(kept, LONGEST_CLOSE))
      }),
      { numRuns: 2000 }
    )
  })

  it("is exact for each shape: an object's keys and ours in one object, a value under `payload`, none at all (review 56 L2: a flat 121 reserved 12 too many for an object)", () => {
    for (const payload of [{ job: 1 }, {}, { session_id: "mine", close_reason: "x", generation: 1, expired_by: "y" }, 7, "text", [1, 2], null]) {
      const kept = keepPayload(payload)
      expect(keptCallbackLength(kept, LONGEST_CLOSE)).toBe(keptCallbackText(kept, LONGEST_CLOSE).length)
    }
    // The keys the framework's callback carries besides the payload are more than a few characters.
    expect(keptCallbackLength(keepPayload(7), LONGEST_CLOSE) - 1).toBeGreaterThan(100)
  })
})

/** JSON text as a client could send it: our keys, integer-like keys, `__proto__`, repeated keys and integers past 2^53 included. */
const valueText: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 90n }).map(String),
  fc.constantFrom("1e400", "-1e400", "-0", "[]", "{}", '""')
)
const payloadText: fc.Arbitrary<string> = fc.oneof(
  valueText,
  fc
    .array(fc.tuple(fc.oneof(fc.constantFrom("session_id", "close_reason", "generation", "expired_by", "__proto__", "0", "17", "payload"), fc.string()), valueText), { maxLength: 8 })
    .map((entries) => `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(",")}}`)
)

describe("a payload kept as text for its callback", () => {
  it("makes the text the framework's shape writes, byte for byte, from any payload a client can send", () => {
    fc.assert(
      fc.property(payloadText, facts, (text, close) => {
        const payload = parseJson(text)
        expect(keptCallbackText(keepPayload(payload), close)).toBe(jsonText(callbackBody(payload, close)))
      }),
      { numRuns: 3000 }
    )
  })

  it("keeps the payload's own keys as the user wrote them and adds ours after them", () => {
    const kept = keepPayload(parseJson('{"7":1,"generation":"mine","job":2}'))
    expect(kept.ownKeys).toEqual(["generation"])
    expect(keptCallbackText(kept, { sessionId: "s", reason: "ended", generation: 3, expiredBy: null })).toBe(
      '{"7":1,"generation":"mine","job":2,"session_id":"s","close_reason":"ended"}'
    )
  })

  it("sends a top-level integer past 2^53 as a payload value, digits exact, not as an object's fields", () => {
    const text = callbackText(parseJson("123456789012345678901234"), { sessionId: "s", reason: "expired", generation: 1, expiredBy: "cap" })
    expect(text).toBe('{"payload":123456789012345678901234,"session_id":"s","close_reason":"expired","generation":1,"expired_by":"cap"}')
  })

  it("keeps no text for a missing payload: the callback is our keys alone", () => {
    expect(keepPayload(undefined)).toBe(NO_PAYLOAD)
    expect(keepPayload(null)).toBe(NO_PAYLOAD)
    expect(keptCallbackText(NO_PAYLOAD, { sessionId: "s", reason: "released", generation: 2, expiredBy: null })).toBe(
      '{"session_id":"s","close_reason":"released","generation":2}'
    )
  })
})
