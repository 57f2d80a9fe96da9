import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  CALLBACK_ADDED_MAX_LENGTH,
  callbackBody,
  callbackText,
  type CloseFacts,
  CloseReason,
  ExpiryLimit,
  keepPayload,
  keptCallbackText,
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
  it("never passes its payload's text plus CALLBACK_ADDED_MAX_LENGTH, whatever the payload and the close (review 35 L2)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), facts, (payload, close) => {
        expect(callbackText(payload, close).length).toBeLessThanOrEqual((jsonText(payload) ?? "null").length + CALLBACK_ADDED_MAX_LENGTH)
      }),
      { numRuns: 2000 }
    )
  })

  it("is reached: a payload that is not an object, closed by the longest reason with the longest limit, at the last generation", () => {
    const longest = callbackText(7, { sessionId: "a".repeat(SESSION_ID_LENGTH), reason: "released", generation: Number.MAX_SAFE_INTEGER, expiredBy: "lifetime" })
    expect(longest.length).toBe(1 + CALLBACK_ADDED_MAX_LENGTH)
    // The keys the framework's callback carries besides the payload are more than a few characters.
    expect(CALLBACK_ADDED_MAX_LENGTH).toBeGreaterThan(100)
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
