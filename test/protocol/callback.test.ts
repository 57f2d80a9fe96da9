import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { CALLBACK_ADDED_MAX_LENGTH, callbackText, type CloseFacts, CloseReason, ExpiryLimit } from "../../src/protocol/callback.js"
import { SESSION_ID_LENGTH } from "../../src/protocol/SessionId.js"
import { jsonText } from "../../src/shared/exactJson.js"

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
